"""The audit pack: a review as it stood at a moment, carried out of the portal in one ZIP.

It holds the as-of view as a page that reads offline (review.html) and as data
(review.json), the evidence files current then, the sign-off ledger, the exceptions, the
shared record's lines for the review up to the moment (changes.csv), and a manifest of
every file's SHA-256 and size (``reviews.record.manifest``), with the record's chain
hash at the moment so the pack can be tied back to the record.

Built in a temporary file (evidence files can be large), never in memory.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.utils import timezone

from portal.accounts.models import User
from portal.audit import registry
from portal.audit.models import ChainHead, Entry
from reviews.models import Review, SignOff, Waiver
from reviews.record.asof import ReviewAsOf, as_data, review_as_of
from reviews.record.manifest import PackWriter

CSV_COLUMNS = [
    "When (UTC)",
    "Kind of record",
    "Record id",
    "Record",
    "Change",
    "Fields changed",
    "Reason",
    "Who",
    "Request id",
    "IP address",
    "Line",
    "Line hash",
]
# A spreadsheet would run a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).encode()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def pack_name(review: Review, moment: datetime) -> str:
    return f"audit-pack-review-{review.pk}-{timezone.localtime(moment):%Y%m%dT%H%M%S}.zip"


def audit_pack(review: Review, moment: datetime, *, by: User) -> IO[bytes]:
    """The pack of ``review`` as of ``moment``, exported by ``by``: a temporary file,
    positioned at its start. Raises NotInRecord when the review did not exist then."""
    then = review_as_of(review, moment)
    exported_at = timezone.now()
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer = PackWriter(archive)
        writer.add(
            "review.html",
            render_to_string(
                "reviews/record/pack_review.html",
                {"as_of": then, "pack": True, "exported_at": exported_at, "by": by},
            ).encode(),
        )
        writer.add("review.json", _json({"as_of": moment.isoformat(), **as_data(then)}))
        evidence = _add_evidence(writer, then)
        writer.add("signoffs.json", _json(_signoff_ledger(review, moment)))
        writer.add("exceptions.json", _json(_exceptions(then, moment)))
        writer.add_chunks("changes.csv", _change_log(review, moment))
        writer.finish(
            {
                "review": {
                    "id": review.pk,
                    "service": then.review.service_name,
                    "label": f"{then.review.service_name}: {then.review.kind_label} review",
                    "checklist": then.checklist,
                },
                "moment": moment.isoformat(),
                "exported_at": exported_at.isoformat(),
                "exported_by": {"id": by.pk, "email": by.email, "name": str(by)},
                "record": _record_facts(moment),
                "evidence_files": evidence,
            }
        )
    out.seek(0)
    return out


def _add_evidence(writer: PackWriter, then: ReviewAsOf) -> list[dict[str, Any]]:
    """Each evidence file current then, as stored; whether it still matches the SHA-256
    recorded at upload, and which are missing from storage (said, not hidden)."""
    found = []
    for evidence in then.evidence:
        if not evidence.is_file:
            continue
        fact: dict[str, Any] = {
            "evidence_id": evidence.id,
            "answer_id": evidence.answer_id,
            "original_name": evidence.original_name,
            "recorded_sha256": evidence.sha256,
        }
        try:
            stored = default_storage.open(evidence.file, "rb")
        except (FileNotFoundError, OSError, ValueError):
            found.append({**fact, "path": None, "missing": True})
            continue
        with stored:
            writer.add_chunks(evidence.pack_path, stored.chunks())
        written = writer.entries[-1]
        found.append(
            {
                **fact,
                "path": evidence.pack_path,
                "missing": False,
                "matches_recorded_sha256": written["sha256"] == evidence.sha256,
            }
        )
    return found


def _people(ids: set[int]) -> dict[int, str]:
    return {u.pk: str(u) for u in User.objects.filter(pk__in=ids)} if ids else {}


CHANGES = {"+": "created", "~": "changed", "-": "deleted"}


def _history_rows(rows: list[Any], fields: list[str]) -> list[dict[str, Any]]:
    people = _people({r.history_user_id for r in rows if r.history_user_id})
    return [
        {
            "history_id": r.history_id,
            "at": _iso(r.history_date),
            "change": CHANGES.get(r.history_type, r.history_type),
            "reason": r.history_change_reason or "",
            "by": people.get(r.history_user_id, "") if r.history_user_id else "",
            "request_id": r.history_request_id,
            **{name: getattr(r, name) for name in fields},
        }
        for r in rows
    ]


def _signoff_ledger(review: Review, moment: datetime) -> dict[str, Any]:
    """Every sign-off history row of the review up to the moment, oldest first."""
    rows = list(
        SignOff.history.filter(review_id=review.pk, history_date__lte=moment).order_by(
            "history_date", "history_id"
        )
    )
    fields = ["id", "role", "reviewer_id", "decision", "comment", "content_digest", "created_at"]
    return {
        "review_id": review.pk,
        "up_to": moment.isoformat(),
        "rows": _history_rows(rows, fields),
    }


def _exceptions(then: ReviewAsOf, moment: datetime) -> dict[str, Any]:
    """The exceptions as they stood, and each one's history up to the moment."""
    items = {a.id: a.item.text for a in then.answers}
    rows = list(
        Waiver.history.filter(answer_id__in=list(items), history_date__lte=moment).order_by(
            "history_date", "history_id"
        )
    )
    fields = [
        "id",
        "answer_id",
        "state",
        "expires_on",
        "rationale",
        "compensating_controls",
        "requested_by_id",
        "decided_by_id",
        "decided_at",
        "decision_comment",
    ]
    return {
        "as_of": moment.isoformat(),
        "exceptions": [{"item": items[x.answer_id], **as_data(x)} for x in then.exceptions],
        "history": _history_rows(rows, fields),
    }


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _change_log(review: Review, moment: datetime) -> Iterator[bytes]:
    """The shared record's lines for the review (its answers, evidence, exceptions and
    sign-offs too) from its start to the moment, oldest first, as CSV."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(CSV_COLUMNS)
    lines = Entry.objects.filter(
        branch=registry.key("reviews.review", review.pk), at__lte=moment
    ).order_by("at", "id")
    for line in lines.iterator(chunk_size=500):
        out.writerow(
            [
                _cell(v)
                for v in (
                    f"{line.at:%Y-%m-%d %H:%M:%S.%f}",
                    registry.noun(line.record_type),
                    line.record_id,
                    line.record_label,
                    line.change,
                    json.dumps(line.changes, ensure_ascii=False, sort_keys=True, default=str),
                    line.reason,
                    line.actor_label,
                    line.request_id,
                    line.ip_address or "",
                    line.pk,
                    line.chain_hash,
                )
            ]
        )
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _record_facts(moment: datetime) -> dict[str, Any]:
    """Where the pack sits in the shared record: the newest line at the moment (its
    chain hash ties the pack to the record) and the chain's head at export."""
    line = Entry.objects.filter(at__lte=moment).order_by("-at", "-id").first()
    head = ChainHead.objects.filter(pk=1).first()
    return {
        "line_at_moment": {"id": line.pk, "at": _iso(line.at), "chain_hash": line.chain_hash}
        if line
        else None,
        "head_at_export": {
            "count": head.count,
            "last_id": head.last_id,
            "last_hash": head.last_hash,
        }
        if head
        else None,
    }
