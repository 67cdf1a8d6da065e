"""The push: a service's CI pipeline sends evidence, as the router the API mounts.

``POST /api/v1/evidence`` with ``Authorization: Bearer <CI token>`` and a JSON body (see
reviews.checks.pushed.PushedEvidence). Every refusal is a 4xx with ``{"error": "..."}``.

The operation reads the raw body itself rather than letting ninja parse it: the size is
judged from ``Content-Length`` before a byte is read (413), the JSON decoder refuses
nesting too deep for it (400) and integers too long to parse, and NaN and Infinity reach
``PushedEvidence``, which names them (422). The body's schema is still the document's
(``openapi_extra``). The CI token is the only way in (``ServiceTokenAuth``): no cookie is
read, so CSRF does not apply.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema
from pydantic import ValidationError

from portal.api.auth import ServiceTokenAuth
from portal.api.errors import error_responses, problems
from portal.errors import api_error
from reviews.checks.pushed import (
    MAX_INT_DIGITS,
    MAX_OBSERVED_DEPTH,
    MAX_PAYLOAD_BYTES,
    IdempotencyKeyReused,
    PushedEvidence,
)
from reviews.checks.services import evidence_push, token_used
from reviews.models import ServiceToken

logger = logging.getLogger(__name__)

router = Router(tags=["evidence"])

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Refusal(Exception):
    """A request the API answers with a 4xx; raised by the steps of reading a push."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PushedOut(Schema):
    """What a push recorded (201), or the earlier push its idempotency key names (200)."""

    id: int
    service: str
    check: str
    result: str
    recorded_at: datetime
    duplicate: bool


@router.post(
    "/evidence",
    auth=ServiceTokenAuth(),
    response={201: PushedOut, 200: PushedOut, **error_responses(400, 401, 409, 413, 415, 422, 429)},
    summary="Push a result of a ci.* check",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"At most {MAX_PAYLOAD_BYTES // 1024} KB of JSON.",
            "content": {"application/json": {"schema": PushedEvidence.model_json_schema()}},
        }
    },
)
def push_evidence(request: HttpRequest) -> JsonResponse:
    """Record a result of one of the service's pushed checks (`ci.…`), as a sweep
    records a collected one. A repeated `idempotency_key` with the same body answers the
    first result (200, `"duplicate": true`); with another body, 409. At most
    `PUSH_RATE_LIMIT` pushes per token (429 with `Retry-After`; refused pushes count)."""
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, ServiceToken)
    retry_after = _retry_after(token.pk)
    if retry_after is not None:
        response = api_error(
            429,
            f"Too many pushes with this token (at most {settings.PUSH_RATE_LIMIT}); "
            f"retry after {retry_after} s.",
        )
        response["Retry-After"] = str(retry_after)
        return response
    if request.content_type != "application/json":
        return api_error(415, "Send JSON (Content-Type: application/json).")
    try:
        payload = _payload(_body(request))
        result, created = evidence_push(service=token.service, payload=payload)
    except _Refusal as refusal:
        return api_error(refusal.status, refusal.message)
    except IdempotencyKeyReused as exc:
        return api_error(409, str(exc))
    token_used(token)
    return JsonResponse(
        {
            "id": result.pk,
            "service": token.service.slug,
            "check": result.check_key,
            "result": result.result,
            "recorded_at": result.checked_at.isoformat(),
            "duplicate": not created,
        },
        status=201 if created else 200,
    )


def _retry_after(token_id: int) -> int | None:
    """Seconds until this token may push again, or None while it is within the limit.

    A fixed window counted in Django's cache (Redis in production, shared by every web
    process): add the window's key at 0, then increment it; both are atomic in Redis.
    Hand-written rather than django-ratelimit: that is the same add-then-incr in a few
    lines, and the library (last released before Django 5) would add a dependency, an
    untyped import for mypy and a system-check warning about the demo's LocMemCache.
    """
    limit, period = _rate(settings.PUSH_RATE_LIMIT)
    now = time.time()
    window = int(now // period)
    key = f"push-rate:{token_id}:{period}:{window}"
    try:
        cache.add(key, 0, timeout=period + 1)
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr: the window has just ended
        return None
    except Exception:
        # The cache failed: let the push through rather than lose CI evidence; the token
        # still authenticates every push and the body is still bounded.
        logger.exception("The push rate limit could not be counted; letting the push through")
        return None
    if count is None:  # the cache reads an unreachable Redis as empty: as above
        logger.warning("The push rate limit could not be counted; letting the push through")
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


def _rate(value: str) -> tuple[int, int]:
    """``120/m`` -> (120, 60). portal.settings refuses a bad PUSH_RATE_LIMIT at start-up."""
    count, _, unit = value.partition("/")
    if not (count.isascii() and count.isdigit() and int(count) > 0 and unit in _PERIODS):
        raise ImproperlyConfigured(f"PUSH_RATE_LIMIT={value!r} is not a rate such as 120/m")
    return int(count), _PERIODS[unit]


def _body(request: HttpRequest) -> bytes:
    """The raw body, refused as 413 beyond MAX_PAYLOAD_BYTES before any of it is read."""
    too_big = _Refusal(413, f"The body is larger than {MAX_PAYLOAD_BYTES // 1024} KB.")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not (declared.isascii() and declared.isdigit()):
        raise _Refusal(400, "The Content-Length header is not a number of bytes.")
    if int(declared) > MAX_PAYLOAD_BYTES:
        raise too_big
    try:
        body = request.body
    except RequestDataTooBig:  # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE)
        raise too_big from None
    if len(body) > MAX_PAYLOAD_BYTES:
        raise too_big
    return body


def _bounded_int(text: str) -> int:
    # Python refuses to parse integers of more than 4,300 digits with a ValueError; refuse
    # long ones here first, with a message. PushedEvidence checks the exact 64-bit range.
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refusal(
            422, f"The body has an integer of {len(text)} digits; integers must fit in 64 bits."
        )
    return int(text)


def _payload(body: bytes) -> PushedEvidence:
    """The validated push, or a _Refusal naming what is wrong."""
    try:
        # NaN, Infinity and 1e999 decode to floats here; PushedEvidence refuses them by name.
        data: Any = json.loads(body, parse_int=_bounded_int)
    except RecursionError:
        raise _Refusal(
            400, f"The body is nested too deeply (observed allows {MAX_OBSERVED_DEPTH} levels)."
        ) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _Refusal(400, f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise _Refusal(400, "The body must be a JSON object.")
    try:
        return PushedEvidence.model_validate(data)
    except ValidationError as exc:
        raise _Refusal(422, problems(exc.errors(), source=False)) from None
