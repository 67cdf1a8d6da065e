"""Evidence pushed by CI pipelines: tokens, validation, idempotency, consequences."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from checklists.parsers import parse_file
from checklists.services import checklist_import
from reviews import services
from reviews.checks.services import token_create
from reviews.models import CheckResult, CheckStanding, Review, Service, ServiceToken

pytestmark = pytest.mark.django_db

CHECKLIST = b"""---
title: Pushed
slug: pushed
checks:
  load-tested: [ci.load_test]
---
## Ops
- **Load tested** {#load-tested}
"""


@pytest.fixture
def service(lead, benefits_team):
    version = checklist_import(
        parsed=parse_file("p.md", CHECKLIST).checklist, by=None, publish=True
    ).version
    service = Service.objects.create(
        name="Benefits portal", slug="benefits-portal", team=benefits_team
    )
    services.review_start(service=service, checklist_version=version, by=lead)
    return service


@pytest.fixture
def token(service, lead):
    return token_create(service=service, name="GitHub Actions", by=lead)[1]


def push(token, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return Client().post("/api/v1/evidence", data=data, content_type=content_type, **headers)


GOOD = {
    "check": "ci.load_test",
    "result": "pass",
    "summary": "p95 180 ms at 500 rps",
    "link": "https://ci.example.com/1",
}


def test_a_pipeline_pushes_a_result_that_lands_beside_the_answer(service, token, lead, client_for):
    response = push(token, GOOD)
    assert response.status_code == 201
    body = response.json()
    assert body["check"] == "ci.load_test" and body["result"] == "pass" and not body["duplicate"]
    status = CheckStanding.objects.get(service=service, binding="ci.load_test")
    assert status.standing_result == "pass"
    review = Review.objects.get(service=service)
    answer = review.answers.get()
    client = client_for(lead)
    row = client.get(review.get_absolute_url()).content.decode()
    assert "1 check passes" in row
    page = client.get(reverse("reviews:item", args=[review.pk, answer.pk])).content.decode()
    assert "p95 180 ms at 500 rps" in page
    assert ServiceToken.objects.get().last_used_at is not None


def test_the_token_is_stored_hashed_and_shown_once_in_the_response_that_creates_it(
    service, lead, client_for
):
    client = client_for(lead)
    response = client.post(f"/services/{service.slug}/tokens/", {"name": "CI"})
    # Shown in this response, which no cache keeps, and never put in a cookie (the
    # messages cookie is signed, not encrypted: anyone holding it could read it).
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    plain = re.search(r"pft_[A-Za-z0-9_-]+", response.content.decode()).group(0)
    assert all(plain not in morsel.value for morsel in response.cookies.values())
    assert all(plain not in morsel.value for morsel in client.cookies.values())
    stored = ServiceToken.objects.get()
    assert plain not in (stored.token_hash, stored.prefix)
    assert plain.startswith(stored.prefix)
    assert plain not in client.get(f"/services/{service.slug}/").content.decode()
    assert push(plain, GOOD).status_code == 201


def test_a_revoked_token_is_refused(service, token, lead, client_for):
    stored = ServiceToken.objects.get()
    client_for(lead).post(f"/services/{service.slug}/tokens/{stored.pk}/revoke/")
    response = push(token, GOOD)
    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["error"]


@pytest.mark.parametrize("who", ["other_lead", "reviewer", "manager", "auditor", "admin", "nobody"])
def test_only_the_owning_team_manages_tokens(cast, client_for, service, token, who):
    client = client_for(cast[who])
    # 404 where the service is not even visible to them, 403 where it is.
    refused = 404 if who in {"other_lead", "nobody"} else 403
    assert client.post(f"/services/{service.slug}/tokens/", {"name": "x"}).status_code == refused
    stored = ServiceToken.objects.get()
    revoke = client.post(f"/services/{service.slug}/tokens/{stored.pk}/revoke/")
    if who == "admin":  # a leaked token must be stoppable without its team
        assert revoke.status_code == 302
        stored.refresh_from_db()
        assert stored.revoked_at is not None and stored.revoked_by == cast["admin"]
        return
    assert revoke.status_code == refused
    stored.refresh_from_db()
    assert ServiceToken.objects.count() == 1 and stored.revoked_at is None


def test_an_idempotency_key_records_a_push_once(service, token):
    first = push(token, {**GOOD, "idempotency_key": "build-42"})
    again = push(token, {**GOOD, "idempotency_key": "build-42"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"]
    assert CheckResult.objects.count() == 1
    assert CheckStanding.objects.get().standing_result == "pass"


def test_an_idempotency_key_reused_with_a_different_body_is_a_conflict(service, token):
    first = push(token, {**GOOD, "idempotency_key": "build-42"})
    again = push(token, {**GOOD, "result": "fail", "idempotency_key": "build-42"})
    assert first.status_code == 201 and again.status_code == 409
    assert "already used with a different body" in again.json()["error"]
    assert CheckResult.objects.count() == 1
    assert CheckStanding.objects.get().standing_result == "pass"


def test_a_failing_push_on_a_must_have_blocks_readiness_and_notifies_once(
    service, token, django_capture_on_commit_callbacks
):
    from django.core import mail

    push(token, GOOD)
    with django_capture_on_commit_callbacks(execute=True):
        push(token, {**GOOD, "result": "fail", "summary": "p95 2.4 s"})
        push(token, {**GOOD, "result": "fail", "summary": "p95 2.6 s"})
    assert Review.objects.get(service=service).failing_must_haves == 1
    assert sum("Check failing" in m.subject for m in mail.outbox) == 1


@pytest.mark.parametrize(
    ("auth", "body", "content_type", "status", "message"),
    [
        (None, GOOD, "application/json", 401, "Authorization: Bearer"),
        ("pft_wrong", GOOD, "application/json", 401, "unknown or revoked"),
        ("TOKEN", "not json", "application/json", 400, "not valid JSON"),
        ("TOKEN", "[1, 2]", "application/json", 400, "must be a JSON object"),
        ("TOKEN", "check=ci.x", "application/x-www-form-urlencoded", 415, "Send JSON"),
        (
            "TOKEN",
            {**GOOD, "result": "great"},
            "application/json",
            422,
            "result: Value error, must be one of",
        ),
        (
            "TOKEN",
            {**GOOD, "check": "http.health"},
            "application/json",
            422,
            "check: String should match",
        ),
        ("TOKEN", {**GOOD, "summary": ""}, "application/json", 422, "summary"),
        (
            "TOKEN",
            {**GOOD, "link": "javascript:alert(1)"},
            "application/json",
            422,
            "must be an http(s) URL",
        ),
        (
            "TOKEN",
            {**GOOD, "extra": 1},
            "application/json",
            422,
            "extra: Extra inputs are not permitted",
        ),
        (
            "TOKEN",
            {**GOOD, "observed": {"x": "y" * 70000}},
            "application/json",
            413,
            "larger than 64 KB",
        ),
    ],
)
def test_bad_pushes_get_a_clear_4xx_and_nothing_is_recorded(
    service, token, auth, body, content_type, status, message
):
    response = push(token if auth == "TOKEN" else auth, body, content_type)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert CheckResult.objects.count() == 0


def test_the_api_takes_only_posts(token):
    response = Client().get("/api/v1/evidence", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "use POST" in response.json()["error"]


def test_sweeps_never_try_to_run_pushed_checks(service):
    from reviews.checks.selectors import plan

    assert plan([service.pk]) == []
