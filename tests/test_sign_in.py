"""Signing in and out: the events recorded, the rate limits, closed signup, password reset."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.audit.models import AuditEvent, AuditKind
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client: Client, email: str, password: str, ip: str = "203.0.113.9"):
    return client.post(LOGIN, {"login": email, "password": password}, REMOTE_ADDR=ip)


def test_a_good_password_signs_in_and_lands_on_the_role_page(lead):
    client = Client()
    response = sign_in(client, "lead@example.com", PASSWORD)
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"] == reverse("reviews:portfolio")
    event = AuditEvent.objects.get(kind=AuditKind.LOGIN_SUCCEEDED)
    assert event.subject_user == lead
    assert event.actor == lead
    assert event.ip_address == "203.0.113.9"
    assert event.request_id


def test_email_is_matched_without_regard_to_case(lead):
    response = sign_in(Client(), "Lead@Example.COM", PASSWORD)
    assert response.status_code == 302


def test_a_failed_sign_in_is_recorded_with_the_attempted_username_and_ip(lead):
    response = sign_in(Client(), "lead@example.com", "wrong password", ip="198.51.100.7")
    assert response.status_code == 200
    assert b"not correct" in response.content  # allauth's message, shown in the form
    event = AuditEvent.objects.get(kind=AuditKind.LOGIN_FAILED)
    assert event.subject_label == "lead@example.com"
    assert event.details["attempted_username"] == "lead@example.com"
    assert event.ip_address == "198.51.100.7"
    assert event.subject_user == lead
    assert event.actor is None


def test_a_failed_sign_in_for_an_unknown_address_is_recorded_too(db):
    sign_in(Client(), "ghost@example.com", "whatever")
    event = AuditEvent.objects.get(kind=AuditKind.LOGIN_FAILED)
    assert event.subject_label == "ghost@example.com"
    assert event.subject_user is None


def test_failed_sign_ins_are_rate_limited_per_account(lead):
    client = Client()
    for _ in range(5):
        assert sign_in(client, "lead@example.com", "wrong").status_code == 200
    # The sixth attempt is refused even with the right password.
    response = sign_in(client, "lead@example.com", PASSWORD)
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(kind=AuditKind.LOGIN_THROTTLED).count() == 1
    assert AuditEvent.objects.filter(kind=AuditKind.LOGIN_FAILED).count() == 5


def test_failed_sign_ins_are_rate_limited_per_client_address(db):
    client = Client()
    statuses = [
        sign_in(client, f"guess{n}@example.com", "wrong", ip="192.0.2.1").status_code
        for n in range(11)
    ]
    assert statuses[:10] == [200] * 10
    last = sign_in(client, "guess99@example.com", "wrong", ip="192.0.2.1")
    assert b"Too many failed login attempts" in last.content
    # Another address is not affected.
    other = sign_in(client, "guess100@example.com", "wrong", ip="192.0.2.2")
    assert b"Too many failed login attempts" not in other.content


def test_signing_out_is_recorded_and_needs_a_post(lead):
    client = Client()
    sign_in(client, "lead@example.com", PASSWORD)
    assert client.post(reverse("account_logout")).status_code == 302
    assert AuditEvent.objects.filter(kind=AuditKind.LOGOUT, subject_user=lead).exists()
    assert client.get(reverse("reviews:portfolio")).status_code == 302


def test_signup_is_closed_by_default(db):
    response = Client().get("/accounts/signup/")
    assert response.status_code == 200
    assert b"Sign Up Closed" in response.content or b"closed" in response.content.lower()
    Client().post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a long passphrase 1",
            "password2": "a long passphrase 1",
        },
    )
    from portal.accounts.models import User

    assert not User.objects.filter(email="new@example.com").exists()


def test_password_reset_sends_an_email_with_a_working_link(
    lead, django_capture_on_commit_callbacks
):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/password/reset/", {"email": "lead@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["lead@example.com"]
    assert message.subject.startswith("[Preflight]")
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+)", message.body)
    assert link, message.body
    page = client.get(link.group(1), follow=True)
    assert page.status_code == 200
    assert b"password1" in page.content


def test_password_reset_does_not_reveal_whether_an_account_exists(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/accounts/password/reset/", {"email": "ghost@example.com"})
    assert response.status_code == 302
    # allauth sends an "unknown account" notice to the address instead of a reset link.
    assert all("/password/reset/key/" not in m.body for m in mail.outbox)


def test_sign_in_form_rejects_malformed_input_with_a_message(db):
    response = Client().post(LOGIN, {"login": "not an email", "password": ""})
    assert response.status_code == 200
    assert b"usa-error-message" in response.content
