"""Recording audit events: the database row and the matching structured log line."""

from __future__ import annotations

import logging
from typing import Any

from allauth.core.internal.httpkit import get_client_ip
from django.http import HttpRequest

from portal.audit.models import AuditEvent, AuditKind
from portal.logs import current_request_id
from portal.validators import without_control_characters

logger = logging.getLogger("preflight.audit")

__all__ = ["AuditKind", "record"]


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
    ip = None
    user_agent = ""
    if request is not None:
        try:
            ip = get_client_ip(request)
        except Exception:  # a malformed X-Forwarded-For must not lose the event
            ip = None
        user_agent = without_control_characters(request.headers.get("User-Agent", ""))[:300]
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
