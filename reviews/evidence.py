"""Checking uploaded evidence files: size, type (by name and by content) and hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.audit.history import attributed
from reviews.models import Evidence, EvidenceKind, Review
from reviews.services import review_content_changed
from reviews.workflow import ensure_allowed

# Extension -> (content type, check of the first bytes). Text types must be UTF-8.
_SIGNATURES: dict[str, tuple[str, bytes | None]] = {
    "pdf": ("application/pdf", b"%PDF-"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    "gif": ("image/gif", b"GIF8"),
    "txt": ("text/plain", None),
    "md": ("text/markdown", None),
    "csv": ("text/csv", None),
    "json": ("application/json", None),
    "log": ("text/plain", None),
}


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    size: int
    sha256: str


def check_upload(upload: Any) -> CheckedFile:
    """Validate an uploaded file; raises ValidationError with a clear message."""
    limit = settings.EVIDENCE_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ValidationError(
            f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
            f"{limit / 1024 / 1024:.0f} MB."
        )
    name = str(upload.name or "").rsplit("/", 1)[-1][:255]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = settings.EVIDENCE_ALLOWED_EXTENSIONS
    if extension not in allowed or extension not in _SIGNATURES:
        raise ValidationError(
            f"Files of type “.{extension or '?'}” are not accepted; use "
            f"{', '.join('.' + ext for ext in allowed)}."
        )
    content_type, signature = _SIGNATURES[extension]
    digest = hashlib.sha256()
    head = b""
    for chunk in upload.chunks():
        if len(head) < 4096:
            head += chunk[: 4096 - len(head)]
        digest.update(chunk)
    upload.seek(0)
    if signature is not None and not head.startswith(signature):
        raise ValidationError(f"The file's content is not {extension.upper()}, whatever its name.")
    if signature is None:
        if b"\x00" in head:
            raise ValidationError("The file is binary, not text.")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a character cut at the 4 KB mark is fine
                raise ValidationError("The file is not UTF-8 text.") from None
    return CheckedFile(
        name=name, content_type=content_type, size=upload.size, sha256=digest.hexdigest()
    )


# --- writes -----------------------------------------------------------------------------

# Evidence cannot predate the portal's oldest plausible record, and promises freshness for
# about three years at most.
EVIDENCE_EARLIEST_DATE = date(1990, 1, 1)
EVIDENCE_MAX_FRESH_DAYS = 3 * 365 + 1


def evidence_date_errors(
    effective_date: date, fresh_until: date | None, *, today: date | None = None
) -> dict[str, str]:
    """What is wrong with evidence's dates, by field (empty when they are fine)."""
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    # A day's grace: the person's today can be ahead of the server's (UTC).
    if effective_date > today + timedelta(days=1):
        errors["effective_date"] = "The date the evidence was true cannot be in the future."
    elif effective_date < EVIDENCE_EARLIEST_DATE:
        errors["effective_date"] = f"Use a date from {EVIDENCE_EARLIEST_DATE:%Y} on."
    latest = today + timedelta(days=EVIDENCE_MAX_FRESH_DAYS)
    if fresh_until is not None and fresh_until > latest:
        errors["fresh_until"] = f"Fresh-until can be at most three years away (until {latest})."
    return errors


def evidence_add(
    *,
    answer: Any,
    by: Any,
    kind: str,
    effective_date: Any,
    fresh_until: Any = None,
    url: str = "",
    note: str = "",
    upload: Any = None,
    supersedes: Any = None,
    settle_review: bool = True,
) -> Any:
    """Attach evidence to an answer (or correct earlier evidence with a new revision).

    ``settle_review``: as for ``reviews.services.answer_update``."""
    if kind not in EvidenceKind.values:
        raise ValidationError({"kind": "Choose link, file or note."})
    if kind == EvidenceKind.LINK and not url:
        raise ValidationError({"url": "Give the link."})
    if kind == EvidenceKind.NOTE and not note.strip():
        raise ValidationError({"note": "Write the note."})
    if kind == EvidenceKind.FILE and upload is None:
        raise ValidationError({"file": "Choose a file."})
    if fresh_until is not None and fresh_until < effective_date:
        raise ValidationError({"fresh_until": "Fresh-until cannot be before the effective date."})
    if date_errors := evidence_date_errors(effective_date, fresh_until):
        raise ValidationError(date_errors)
    checked = check_upload(upload) if kind == EvidenceKind.FILE else None
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=answer.review_id)
        ensure_allowed(review, "evidence")
        if supersedes is not None:
            supersedes = Evidence.objects.select_for_update().get(pk=supersedes.pk)
            if supersedes.answer_id != answer.pk:
                raise ValidationError("That evidence belongs to another answer.")
            if supersedes.withdrawn_at or hasattr(supersedes, "superseded_by"):
                raise ValidationError("Only current evidence can be corrected.")
        evidence = Evidence(
            answer=answer,
            kind=kind,
            url=url if kind == EvidenceKind.LINK else "",
            note=note,
            effective_date=effective_date,
            fresh_until=fresh_until,
            supersedes=supersedes,
            created_by=by,
        )
        if checked is not None:
            evidence.original_name = checked.name
            evidence.content_type = checked.content_type
            evidence.size = checked.size
            evidence.sha256 = checked.sha256
            evidence.file.save(checked.name, upload, save=False)
        evidence.full_clean(exclude=["file", "answer", "supersedes", "created_by"])
        attributed(
            evidence,
            by=by,
            reason=f"Correction of evidence #{supersedes.pk}" if supersedes else "Evidence added",
        )
        evidence.save()
        if settle_review:
            review_content_changed(review=review, by=by, reason="Evidence added")
    return evidence


def evidence_withdraw(*, evidence: Any, by: Any, reason: str) -> Any:
    """Withdraw evidence: recorded with who, when and why; never deleted."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why the evidence is withdrawn."})
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=evidence.answer.review_id)
        ensure_allowed(review, "evidence")
        current = Evidence.objects.select_for_update().get(pk=evidence.pk)
        if current.withdrawn_at is not None:
            raise ValidationError("This evidence was already withdrawn.")
        current.withdrawn_at = timezone.now()
        current.withdrawn_by = by
        current.withdrawal_reason = reason.strip()
        # Only what withdrawing writes: the rest was validated when it was added.
        current.full_clean(
            exclude=[f.name for f in Evidence._meta.fields if f.name != "withdrawal_reason"],
            validate_unique=False,
            validate_constraints=False,
        )
        attributed(current, by=by, reason="Evidence withdrawn")
        current.save()
        review_content_changed(review=review, by=by, reason="Evidence withdrawn")
    return current
