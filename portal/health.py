"""Liveness (/healthz), readiness (/readyz) and robots.txt.

/readyz answers within about two seconds whatever is down: every probe has its own
short timeout, and a probe that fails names the component and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

PROBE_TIMEOUT_SECONDS = 1.0


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def _broker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "skipped", "detail": "no broker configured: tasks run in-process"}
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()
    return {"status": "ok"}


def _workers() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "skipped", "detail": "no broker configured: tasks run in-process"}
    # limit=1: return as soon as one worker answers instead of waiting out the timeout.
    replies = current_app.control.ping(timeout=PROBE_TIMEOUT_SECONDS, limit=1)
    if not replies:
        return {"status": "error", "detail": "no Celery worker answered a ping"}
    return {"status": "ok", "answered": sorted(name for reply in replies for name in reply)}


def _broker_target() -> str:
    """The broker's address without credentials, so a failure names what is down."""
    url = urlsplit(settings.CELERY_BROKER_URL)
    return f"{url.scheme}://{url.hostname}:{url.port or 6379}{url.path}"


def _probe(check: Callable[[], dict[str, Any]], **about: str) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:
        result = {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return {**about, **result}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    about_broker = {} if settings.CELERY_TASK_ALWAYS_EAGER else {"target": _broker_target()}
    components = {"database": _probe(_database), "broker": _probe(_broker, **about_broker)}
    if components["broker"]["status"] == "error":
        components["workers"] = {"status": "error", "detail": "broker unreachable", "ms": 0.0}
    else:
        components["workers"] = _probe(_workers)
    failing = sorted(name for name, c in components.items() if c["status"] == "error")
    body = {
        "status": "unavailable" if failing else "ok",
        "failing": failing,
        "components": components,
    }
    return JsonResponse(body, status=503 if failing else 200)


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    if settings.ROBOTS_ALLOW_INDEXING:
        lines = ["User-agent: *", "Disallow: /accounts/", "Disallow: /admin/"]
    else:
        lines = ["User-agent: *", "Disallow: /"]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")
