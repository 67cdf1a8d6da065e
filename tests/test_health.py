"""/healthz, /readyz and robots.txt in the embedded mode and against a real Redis."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.services import isolated_celery_app, require_redis


def test_healthz_answers_without_touching_the_database():
    # No django_db mark: pytest-django raises on any database access here.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_in_the_embedded_mode_and_says_why_it_skips():
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["broker"]["status"] == "skipped"
    assert "in-process" in body["components"]["workers"]["detail"]
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker_and_answers_503_fast(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker", "workers"]
    assert "ConnectionError" in body["components"]["broker"]["detail"]
    assert body["components"]["broker"]["target"] == "redis://127.0.0.1:1/0"
    assert body["components"]["broker"]["ms"] < 2000


@pytest.mark.django_db
def test_readyz_reports_a_reachable_broker_with_no_worker(settings):
    from celery import current_app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = require_redis()
    # An app with a control exchange of its own: no worker anywhere listens on it.
    app = isolated_celery_app(settings.CELERY_BROKER_URL)
    previous = current_app._get_current_object()
    app.set_current()
    try:
        response = Client().get("/readyz")
    finally:
        previous.set_current()
        app.close()
    body = response.json()
    assert body["components"]["broker"]["status"] == "ok"
    assert body["components"]["workers"]["status"] == "error"
    assert body["failing"] == ["workers"]
    assert response.status_code == 503


@pytest.mark.django_db
def test_readyz_reports_a_broken_database(settings, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["failing"] == ["database"]


def test_robots_txt_disallows_everything_by_default():
    response = Client().get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode().splitlines() == ["User-agent: *", "Disallow: /"]


def test_robots_txt_can_allow_indexing_of_public_pages(settings):
    settings.ROBOTS_ALLOW_INDEXING = True
    lines = Client().get("/robots.txt").content.decode().splitlines()
    assert "Disallow: /" not in lines
    assert "Disallow: /admin/" in lines


def test_health_endpoints_refuse_other_methods():
    assert Client().post("/healthz").status_code == 405
