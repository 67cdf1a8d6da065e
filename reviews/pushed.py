"""Evidence pushed by a service's CI pipeline: tokens and the payloads they carry.

Pushed checks use keys under ``ci.`` (``ci.load_test``, ``ci.vulnerability_scan``…);
items bind them like any other check, and sweeps never try to run them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Annotated, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from portal.accounts.models import User
from reviews.checks.base import Result
from reviews.models import CheckResult, CheckRun, CheckRunTrigger, Service, ServiceCheck

PUSHED_PREFIX = "ci."
TOKEN_PREFIX = "pft_"  # noqa: S105 (a marker, not a secret)
MAX_PAYLOAD_BYTES = 64 * 1024


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, service: Service, name: str, by: User) -> tuple[Any, str]:
    """A new token; the plain token is returned once and never stored."""
    from reviews.models import ServiceToken

    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("Name the token (at most 100 characters), e.g. “GitHub Actions”.")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ServiceToken(
        service=service, name=name, prefix=plain[:12], token_hash=_hash(plain), created_by=by
    )
    token._change_reason = "CI token created"  # type: ignore[attr-defined]
    token.save()
    return token, plain


def token_revoke(*, token: Any, by: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = by
        token._change_reason = "CI token revoked"
        token.save()


def token_service(plain: str) -> Any:
    """The live token a plain token names, or None (unknown or revoked)."""
    from reviews.models import ServiceToken

    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    return (
        ServiceToken.objects.select_related("service")
        .filter(token_hash=_hash(plain), revoked_at__isnull=True)
        .first()
    )


CheckKey = Annotated[
    str, StringConstraints(pattern=r"^ci\.[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=100)
]


class PushedEvidence(BaseModel):
    """What a pipeline may send."""

    model_config = ConfigDict(extra="forbid")

    check: CheckKey
    result: str
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    observed: dict[str, Any] = Field(default_factory=dict)
    link: Annotated[str, StringConstraints(max_length=2000)] = ""
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    fresh_for_days: int = Field(default=30, ge=1, le=365)

    @field_validator("result")
    @classmethod
    def _known_result(cls, value: str) -> str:
        if value not in Result.values:
            raise ValueError(f"must be one of {', '.join(Result.values)}")
        return value

    @field_validator("link")
    @classmethod
    def _https_link(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


def evidence_push(*, service: Service, payload: PushedEvidence) -> tuple[CheckResult, bool]:
    """Record a pushed result. Returns (result, created); a repeated idempotency key
    returns the first result and records nothing."""
    if payload.idempotency_key:
        earlier = CheckResult.objects.filter(
            service=service, idempotency_key=payload.idempotency_key
        ).first()
        if earlier is not None:
            return earlier, False
    now = timezone.now()
    try:
        with transaction.atomic():
            run = CheckRun.objects.create(
                trigger=CheckRunTrigger.PUSH, service=service, job_count=1, finished_at=now
            )
            result = CheckResult.objects.create(
                run=run,
                service=service,
                check_key=payload.check,
                binding=payload.check,
                result=payload.result,
                explanation=payload.summary,
                observed=payload.observed,
                checked_at=now,
                fresh_until=now + timedelta(days=payload.fresh_for_days),
                link=payload.link,
                idempotency_key=payload.idempotency_key,
            )
            setattr(
                run,
                {"pass": "passed", "fail": "failed", "error": "errored"}.get(
                    payload.result, "not_applicable"
                ),
                1,
            )
            run.save()
            status, _ = ServiceCheck.objects.select_for_update().get_or_create(
                service=service,
                binding=payload.check,
                defaults={"check_key": payload.check, "latest": result},
            )
            regressed = status.standing_result == Result.PASS and payload.result == Result.FAIL
            status.latest = result
            if payload.result != Result.ERROR:
                status.standing = result
                status.standing_result = payload.result
            status.save()
            if regressed:
                from reviews.notifications import checks_regressed

                checks_regressed(service.pk, run)
    except IntegrityError:  # the same key pushed twice at once: the other push won
        return CheckResult.objects.get(
            service=service, idempotency_key=payload.idempotency_key
        ), False
    from reviews.checks.sweep import refresh_reviews

    refresh_reviews([service.pk])
    return result, True
