"""Reaching the machine's PostgreSQL and Redis for tests.

Under CI (``CI=true``) a service that cannot be reached fails the run; on a developer's
machine the tests that need Redis are skipped with the reason, and PostgreSQL is always
required.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/preflight"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)


def require_redis() -> str:
    """The test Redis URL; fails under CI, skips elsewhere, when Redis is down."""
    url = redis_url()
    if not reachable(url, 6379):
        message = f"Redis is not reachable at {url}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing service fails the run)", pytrace=False)
        pytest.skip(message)
    return url


def isolated_celery_app(broker_url: str):
    """The project's Celery configuration on ``broker_url``, isolated from other runs.

    Its own task queue and control exchange mean concurrent test runs on one Redis
    neither take each other's tasks nor answer each other's pings. Celery's Django
    fixup is left out: in a worker *thread* it would close the test's own database
    connection.
    """
    import uuid

    from celery import Celery

    app = Celery("portal-test", fixups=[], set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    tag = uuid.uuid4().hex
    app.conf.update(
        broker_url=broker_url,
        result_backend=broker_url,
        task_always_eager=False,
        task_default_queue=f"preflight-test-{tag}",
        control_exchange=f"preflight-test-{tag}",
    )
    return app
