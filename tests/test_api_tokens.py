"""Personal read-only API tokens: made and revoked on *Your account*, shown once, stored
hashed, acting as their person with that person's current roles, for reads only."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client

from portal.accounts import services as account_services
from portal.accounts.models import ApiToken, SecurityPolicy
from portal.accounts.roles import Role
from portal.accounts.services import api_token_create
from reviews.checks.services import token_create
from reviews.models import CheckResult
from tests.test_pushed_evidence import GOOD

pytestmark = pytest.mark.django_db

PROFILE = "/me/"


def read(plain, path="/api/v1/services"):
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {plain}")


def error(response) -> str:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    return body["error"]


def test_a_token_is_made_on_your_account_shown_once_and_stored_hashed(lead, client_for, service):
    client = client_for(lead)
    response = client.post("/me/api-tokens/", {"name": "Weekly report"})
    assert response.status_code == 201
    # Shown in this response, which no cache keeps, never in a cookie or a message.
    assert "no-store" in response["Cache-Control"]
    plain = re.search(r"pfu_[A-Za-z0-9_-]+", response.content.decode()).group(0)
    assert all(plain not in morsel.value for morsel in response.cookies.values())
    assert all(plain not in morsel.value for morsel in client.cookies.values())
    stored = ApiToken.objects.get()
    assert stored.user == lead and stored.name == "Weekly report"
    assert stored.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in (stored.token_hash, stored.prefix) and plain.startswith(stored.prefix)
    page = client.get(PROFILE).content.decode()
    assert "Weekly report" in page and stored.prefix in page and plain not in page
    # The token's history is kept, without the hash.
    (created,) = stored.history.all()
    assert created.history_change_reason == "API token created"
    assert not hasattr(created, "token_hash")
    assert read(plain).status_code == 200


def test_a_token_reads_as_its_person_with_the_roles_they_hold_now(lead, service):
    plain = api_token_create(user=lead, name="script")[1]
    body = read(plain).json()
    assert [item["slug"] for item in body["items"]] == ["benefits-portal"]
    account_services.user_set_roles(user=lead, roles=[], reason="left the role")
    assert read(plain).status_code == 403
    assert read(plain, "/api/v1/services/benefits-portal").status_code == 404
    account_services.user_set_roles(user=lead, roles=[Role.MANAGER], reason="new role")
    assert read(plain, "/api/v1/services/benefits-portal").status_code == 200


def test_a_revoked_token_is_refused_with_a_401(lead, client_for):
    plain = api_token_create(user=lead, name="script")[1]
    token = ApiToken.objects.get()
    client = client_for(lead)
    response = client.post(f"/me/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/me/#api-tokens"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert [h.history_change_reason for h in token.history.order_by("history_id")] == [
        "API token created",
        "API token revoked",
    ]
    refused = read(plain)
    assert refused.status_code == 401
    assert "unknown or revoked" in error(refused)
    assert refused["WWW-Authenticate"] == 'Bearer realm="preflight"'
    assert "Revoked" in client.get(PROFILE).content.decode()


def test_nobody_revokes_another_persons_token(lead, other_lead, client_for):
    plain = api_token_create(user=lead, name="script")[1]
    token = ApiToken.objects.get()
    assert client_for(other_lead).post(f"/me/api-tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None and read(plain).status_code == 200


def test_an_unknown_token_is_refused_with_a_401(lead):
    assert "unknown or revoked" in error(read("pfu_" + "x" * 43))
    assert read("pfu_" + "x" * 500).status_code == 401


def test_a_deactivated_persons_tokens_stop_working(lead):
    plain = api_token_create(user=lead, name="script")[1]
    lead.is_active = False
    lead.save()
    response = read(plain)
    assert response.status_code == 401 and "unknown or revoked" in error(response)


def test_a_personal_token_never_pushes_evidence(lead, service):
    plain = api_token_create(user=lead, name="script")[1]
    response = Client().post(
        "/api/v1/evidence",
        data=json.dumps(GOOD),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 401
    assert "only reads" in error(response)
    assert CheckResult.objects.count() == 0


def test_a_signed_in_session_never_pushes_evidence(lead, service, client_for):
    response = client_for(lead).post(
        "/api/v1/evidence", data=json.dumps(GOOD), content_type="application/json"
    )
    assert response.status_code == 401
    assert "Authorization: Bearer" in error(response)
    assert CheckResult.objects.count() == 0


def test_a_ci_token_never_reads(lead, service):
    plain = token_create(service=service, name="CI", by=lead)[1]
    response = read(plain, "/api/v1/services/benefits-portal")
    assert response.status_code == 401
    assert "only pushes evidence" in error(response)


def test_a_bad_authorization_header_is_refused_even_beside_a_valid_session(lead, client_for):
    client = client_for(lead)
    assert client.get("/api/v1/services").status_code == 200
    for header in ("Bearer pfu_wrong", "Basic bGVhZDpwYXNz", "Bearer "):
        response = client.get("/api/v1/services", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == 'Bearer realm="preflight"'
        error(response)


def test_using_a_token_notes_when_without_writing_history(lead):
    plain = api_token_create(user=lead, name="script")[1]
    assert read(plain).status_code == 200
    assert read(plain).status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    assert token.history.count() == 1  # only its creation


@pytest.mark.parametrize("name", ["CI\u0000", "Report\u001b[2J", "Weekly\nreport", "R\u0085s", " "])
def test_a_token_name_with_control_characters_or_none_at_all_is_refused(lead, client_for, name):
    with pytest.raises(ValueError, match=r"Remove the|Name the token"):
        api_token_create(user=lead, name=name)
    response = client_for(lead).post("/me/api-tokens/", {"name": name}, follow=True)
    assert response.status_code == 200
    assert "usa-alert--error" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_only_signed_in_people_make_or_revoke_tokens(lead):
    assert Client().post("/me/api-tokens/", {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()
    assert Client().get("/me/api-tokens/").status_code in (302, 405)


def test_a_reviewer_who_must_enrol_in_mfa_cannot_read_until_they_do(reviewer, client_for):
    plain = api_token_create(user=reviewer, name="script")[1]
    assert read(plain).status_code == 200
    policy = SecurityPolicy.current()
    policy.require_mfa_for_privileged = True
    policy.save()
    for response in (read(plain), client_for(reviewer).get("/api/v1/services")):
        assert response.status_code == 403
        assert "two-factor authentication" in error(response)
