"""Structured logging: JSON lines with a UTC timestamp, the request id and the user id.

``RequestContextMiddleware`` gives every request an id (kept from a well-formed
``X-Request-ID`` sent by the proxy, else new), puts it and the user id in context
variables that ``RequestContextFilter`` copies onto every log record made while the
request runs, and writes one line per request when it ends.

``LOG_FORMAT`` picks the formatter: ``JsonFormatter`` (the default, for log platforms)
or ``TextFormatter`` (plain lines with the same facts, for a person watching a console,
as in ``make demo``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
request_logger = logging.getLogger("preflight.request")


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat()


# Control characters (a percent-decoded path can hold a line break) are escaped, so one
# record stays one line and nobody can forge a line of their own.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STANDARD_FIELDS = {
    *vars(logging.LogRecord("", 0, "", 0, "", (), None)),
    "message",
    "asctime",
    "taskName",
}
# Extras a text line does not repeat: the ids and duration have their own place, the
# request line's message already says method, path and status (and an audit line's its
# kind), and the rest are objects or duplicates that Django's runserver and Celery attach.
_NOT_REPEATED = {
    "request_id",
    "user_id",
    "duration_ms",
    "method",
    "path",
    "status",
    "remote_addr",
    "audit_kind",
    "request",
    "server_time",
    "status_code",
    "data",
}


def _escaped(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class TextFormatter(logging.Formatter):
    """One plain line per record, for people reading a console (``LOG_FORMAT=text``):
    ``2025-05-01T09:30:12Z INFO preflight.request GET /services/ 200 12.5ms request=… user=3``.

    The same facts as the JSON lines: UTC timestamp, level, logger, message, a request's
    duration, other extras as ``name=value`` (an audit event's actor, subject and IP),
    and the request and user ids when there are any. A traceback follows on the lines
    after.
    """

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [when, record.levelname, record.name, _escaped(record.getMessage())]
        duration = getattr(record, "duration_ms", None)
        if duration is not None:
            parts.append(f"{duration}ms")
        for name, value in vars(record).items():
            if name in _STANDARD_FIELDS or name in _NOT_REPEATED or value in (None, "", {}, []):
                continue
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            parts.append(f"{name}={_escaped(shown)}")
        request_id = getattr(record, "request_id", None)
        if request_id:
            parts.append(f"request={request_id}")
        user_id = getattr(record, "user_id", None)
        if user_id is not None:
            parts.append(f"user={user_id}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class OncePerInterval(logging.Filter):
    """Lets one record through per ``seconds``, noting how many were held back since: for
    errors that repeat on every request while something is down (the cache)."""

    def __init__(self, seconds: float = 60.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._last = float("-inf")
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            self._held += 1
            return False
        if self._held:
            record.msg = f"{record.msg} (and {self._held} more like it since the last)"
        self._last, self._held = now, 0
        return True


class RequestContextFilter(logging.Filter):
    """Stamps request_id and user_id on records made inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs 4xx/5xx after the middleware has left; its records carry
        # the request itself, so the ids come from there.
        request = getattr(record, "request", None)
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or getattr(request, "request_id", None)
        if not hasattr(record, "user_id"):
            record.user_id = user_id_var.get() or (_user_id(request) if request else None)
        return True


def current_request_id() -> str | None:
    return request_id_var.get()


def _user_id(request: HttpRequest) -> int | None:
    try:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return int(user.pk)
    except DatabaseError:  # the database is away: the line goes out without the id
        return None
    return None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token = request_id_var.set(request_id)
        user_token = user_id_var.set(_user_id(request))
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            # Sign-in and sign-out change the user mid-request; log who it ended as.
            user_id = _user_id(request)
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "request_id": request_id,
                    "user_id": user_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "remote_addr": request.META.get("REMOTE_ADDR"),
                },
            )
            return response
        finally:
            request_id_var.reset(id_token)
            user_id_var.reset(user_token)
