"""Shared test set-up: PostgreSQL, a fast password hasher, and one person per role.

The cast (Healthchecks-style): each user exists for a reason.
- ``lead``: a product lead in the Benefits team, who owns services.
- ``other_lead``: a product lead in the Permits team, for "outside the team" denials.
- ``reviewer``: a security reviewer; signs off.
- ``manager``: reads the whole portfolio.
- ``auditor``: reads the audited record.
- ``admin``: staff (the admin role), not a superuser, so role rules really apply.
- ``nobody``: signed in with no role at all.
"""

from __future__ import annotations

import logging
import os
import ssl
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from portal.accounts import services
from portal.accounts.roles import Role
from tests.factories import ReviewFactory, ServiceFactory, TeamFactory, UserFactory
from tests.services import IN_CI, isolated_celery_app, reachable, require_redis

# The private Redis and throwaway database of the tests that run real processes.
pytest_plugins = ["tests.stacks"]

PASSWORD = "correct horse battery staple"


def pytest_configure(config: pytest.Config) -> None:
    url = os.environ.get("DATABASE_URL", "")
    # pytest-django loads the settings before this file: what counts is the engine they
    # ended up with.
    engine = settings.DATABASES["default"]["ENGINE"]
    if not url.startswith("postgres") or "postgresql" not in engine:
        raise pytest.UsageError(
            f"Tests run against PostgreSQL; the database engine is {engine} "
            f"(DATABASE_URL={os.environ.get('DATABASE_URL')!r}). Run them with `make test`, "
            "or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/preflight."
        )
    if not reachable(url, 5432):
        hint = " (CI=true)" if IN_CI else ""
        raise pytest.UsageError(
            f"PostgreSQL is not reachable at {url}{hint}. Start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )


@pytest.fixture(autouse=True)
def _fast_and_quiet(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Rate-limit counters live in the cache; one test's failures must not throttle the next.
    from django.core.cache import cache

    cache.clear()


def _person(email: str, *roles: Role, team: object = None, **fields: object):
    user = UserFactory(email=email, password=PASSWORD, **fields)
    services.user_set_roles(user=user, roles=roles, reason="test cast")
    if team is not None:
        services.team_add_members(team=team, users=[user])
    return user


@pytest.fixture
def benefits_team(db):
    return TeamFactory(name="Benefits Team", slug="benefits")


@pytest.fixture
def permits_team(db):
    return TeamFactory(name="Permits Team", slug="permits")


@pytest.fixture
def lead(benefits_team):
    return _person("lead@example.com", Role.PRODUCT_LEAD, team=benefits_team)


@pytest.fixture
def other_lead(permits_team):
    return _person("other-lead@example.com", Role.PRODUCT_LEAD, team=permits_team)


@pytest.fixture
def reviewer(db):
    return _person("security@example.com", Role.SECURITY_REVIEWER)


@pytest.fixture
def manager(db):
    return _person("manager@example.com", Role.MANAGER)


@pytest.fixture
def auditor(db):
    return _person("auditor@example.com", Role.AUDITOR)


@pytest.fixture
def admin_user(db):
    return _person("admin@example.com", Role.ADMIN)


@pytest.fixture
def nobody(db):
    return _person("nobody@example.com")


@pytest.fixture
def cast(lead, other_lead, reviewer, manager, auditor, admin_user, nobody):
    return {
        "lead": lead,
        "other_lead": other_lead,
        "reviewer": reviewer,
        "manager": manager,
        "auditor": auditor,
        "admin": admin_user,
        "nobody": nobody,
    }


# --- the record most tests work on -------------------------------------------------------
# A module that needs something else (a checklist with checks bound, six items...) keeps a
# fixture of its own, built from tests.factories.


@pytest.fixture
def service(benefits_team, lead):
    """The Benefits portal, added by ``lead``: a service of the Benefits team, so ``lead``
    owns it and ``other_lead`` is outside it."""
    return ServiceFactory(
        name="Benefits portal", slug="benefits-portal", team=benefits_team, created_by=lead
    )


@pytest.fixture
def review(service, lead):
    """A draft review of ``service`` started by ``lead``, on a small published checklist:
    section "Ops" with "Backups run" (a must-have) and "Dashboards exist" (a plain item)."""
    return ReviewFactory(service=service, by=lead)


@pytest.fixture
def answer(review):
    """The review's must-have answer, "Backups run" (not started)."""
    return review.answers.select_related("item").get(item__text="Backups run")


@pytest.fixture
def loopback_allowed(settings) -> None:
    """Checks may reach the tests' local servers: loopback opened, as an operator would
    with CHECK_ALLOWED_NETWORKS (by default checks reach only the public internet)."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def client_for():
    """A test client signed in as the given user."""

    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def redis_worker(settings) -> Iterator[Any]:
    """A real Celery worker (a thread, solo pool) consuming from the test Redis, with the
    project's Celery configuration on a queue of its own; tasks really cross the broker
    and the JSON serializer. Skips (fails under CI) when Redis is down."""
    from celery import current_app as celery_current_app
    from celery.contrib.testing.worker import start_worker

    url = require_redis()
    app = isolated_celery_app(url)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    previous = celery_current_app._get_current_object()
    try:
        # start_worker makes the app current, so shared tasks and /readyz use it.
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app
    finally:
        previous.set_current()
        app.close()


@pytest.fixture(scope="session", autouse=True)
def _close_connections_at_exit():
    yield
    connections.close_all()


__all__ = ["PASSWORD", "settings"]


# --- moto's standalone server, for the AWS checks ------------------------------------------


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # heavy: only for the AWS tests

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh moto, dummy credentials and no stray AWS configuration from the machine."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    return moto_url


# --- TLS: a test certificate authority, for the HTTPS servers the checks reach -------------


@pytest.fixture(scope="session")
def ca() -> Any:
    """An in-memory trustme CA that issues the local HTTPS servers' certificates."""
    import trustme

    return trustme.CA()


@pytest.fixture(scope="session")
def trusting(ca: Any) -> ssl.SSLContext:
    """The client side: the system defaults plus the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
