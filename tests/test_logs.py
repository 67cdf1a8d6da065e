"""Structured logs: one JSON line per request with a UTC timestamp, request id and user id."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from portal.logs import JsonFormatter, RequestContextFilter, request_id_var, user_id_var


def request_records(caplog):
    return [r for r in caplog.records if r.name == "preflight.request"]


@pytest.mark.django_db
def test_every_request_writes_one_line_with_request_and_user_ids(lead, caplog):
    client = Client()
    client.force_login(lead)
    with caplog.at_level(logging.INFO, logger="preflight.request"):
        response = client.get("/portfolio/")
    (record,) = request_records(caplog)
    assert record.user_id == lead.pk
    assert record.request_id == response["X-Request-ID"]
    assert record.status == 200
    assert record.path == "/portfolio/"


@pytest.mark.django_db
def test_a_well_formed_request_id_from_the_proxy_is_kept(caplog):
    with caplog.at_level(logging.INFO, logger="preflight.request"):
        response = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-1234567890abcdef")
    assert response["X-Request-ID"] == "lb-1234567890abcdef"
    assert request_records(caplog)[0].user_id is None


@pytest.mark.django_db
def test_a_hostile_request_id_is_replaced(caplog):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID='"><script>alert(1)</script>')
    assert response["X-Request-ID"].isalnum()


def test_the_formatter_writes_json_with_a_utc_timestamp():
    record = logging.LogRecord(
        "preflight.test", logging.WARNING, __file__, 1, "hello %s", ("you",), None
    )
    token = request_id_var.set("req-abcdef123")
    user_token = user_id_var.set(42)
    try:
        RequestContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
        user_id_var.reset(user_token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["level"] == "WARNING"
    assert line["logger"] == "preflight.test"
    assert line["request_id"] == "req-abcdef123"
    assert line["user_id"] == 42
    assert line["timestamp"].endswith("+00:00")


def test_records_outside_a_request_carry_empty_ids():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    RequestContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] is None and line["user_id"] is None


@pytest.mark.django_db
def test_audit_events_are_logged_too(lead, caplog):
    with caplog.at_level(logging.INFO, logger="preflight.audit"):
        Client().post("/accounts/login/", {"login": lead.email, "password": "nope"})
    (record,) = [r for r in caplog.records if r.name == "preflight.audit"]
    assert record.audit_kind == "login_failed"
    assert record.subject == "lead@example.com"
