"""Recording audit events: the database row and the matching structured log line.

``record`` stores any event; the helpers below are the ones views call: ``exported``
when someone takes data away (a CSV, an audit pack, the record), ``file_downloaded``
for an evidence file, ``access_denied`` for every refused request (portal.errors).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from portal.audit import ledger
from portal.audit.models import AuditEvent, AuditKind
from portal.logs import current_request_id
from portal.validators import without_control_characters

logger = logging.getLogger("preflight.audit")

__all__ = ["AuditKind", "access_denied", "exported", "file_downloaded", "record"]

# Cut long values: a refused request must not write a large row (flooding).
PATH_LIMIT = 300


DETAIL_LIMIT = 500  # characters of one value kept in an event's details


def _cleaned(value: Any) -> Any:
    """Details as they may be stored and shown: what a visitor typed (a filter, an
    address) without control characters, which PostgreSQL's JSON refuses, and cut."""
    if isinstance(value, str):
        return without_control_characters(value)[:DETAIL_LIMIT]
    if isinstance(value, dict):
        return {_cleaned(str(k))[:100]: _cleaned(v) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in list(value)[:50]]
    return value


def _label(user: Any) -> str:
    return str(getattr(user, "email", "") or "") if user is not None else ""


def record(
    kind: AuditKind,
    *,
    request: HttpRequest | None = None,
    actor: Any = None,
    subject: Any = None,
    subject_label: str = "",
    **details: Any,
) -> AuditEvent:
    """Store one audit event. ``actor`` defaults to the request's signed-in user."""
    if actor is None and request is not None:
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            actor = request_user
    details = _cleaned(details)
    ip = ledger.client_ip(request)
    user_agent = ""
    if request is not None:
        user_agent = without_control_characters(request.headers.get("User-Agent", ""))[:300]
    with transaction.atomic():  # the event and its line of the record, together
        event = AuditEvent.objects.create(
            kind=kind,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=without_control_characters(_label(actor)),
            subject_user=subject if getattr(subject, "pk", None) else None,
            subject_label=without_control_characters(subject_label or _label(subject)),
            ip_address=ip,
            user_agent=user_agent,
            request_id=current_request_id() or "",
            details=details,
        )
        ledger.from_event(event)
    logger.info(
        "audit %s",
        kind.value,
        extra={
            "audit_kind": kind.value,
            "actor": event.actor_label or None,
            "subject": event.subject_label or None,
            "ip": ip,
            "details": details,
        },
    )
    return event


def _path(request: HttpRequest) -> str:
    return without_control_characters(request.get_full_path())[:PATH_LIMIT]


def exported(request: HttpRequest, *, what: str, **details: Any) -> AuditEvent:
    """Someone took data out of Preflight (18F: data access): ``what`` says which, in
    words ("portfolio CSV", "audit pack of review 7"); the details carry the filters."""
    return record(
        AuditKind.EXPORTED,
        request=request,
        what=what,
        path=_path(request),
        **details,
    )


def file_downloaded(request: HttpRequest, *, what: str, **details: Any) -> AuditEvent:
    """Someone opened a stored file (18F: object access, files on disk)."""
    return record(AuditKind.FILE_DOWNLOADED, request=request, what=what, **details)


def access_denied(request: HttpRequest, *, reason: str) -> AuditEvent:
    """A refused request (18F: authorization checks): who, what, how, and the refusal
    in words. One event per refused request; anonymous visitors are sent to sign in
    instead and never get here."""
    return record(
        AuditKind.ACCESS_DENIED,
        request=request,
        path=_path(request),
        method=str(request.method or "")[:10],
        reason=without_control_characters(reason)[:PATH_LIMIT],
    )


def hidden_refusal(*, reason: str) -> AuditEvent | None:
    """A refusal answered as "not found" (so other teams' ids cannot be probed) is still
    a refusal in the record: recorded for the signed-in person of the request at hand."""
    request = ledger.current_request()
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_authenticated", False):
        return None
    return access_denied(request, reason=f"{reason} (answered as not found)")
