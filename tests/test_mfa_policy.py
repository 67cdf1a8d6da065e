"""The admin setting that requires two-factor authentication of reviewers and admins."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from portal.accounts.models import SecurityPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def mfa_required(db):
    policy = SecurityPolicy.current()
    policy.require_mfa_for_privileged = True
    policy.save()
    return policy


def test_reviewers_are_not_forced_to_enrol_while_the_policy_is_off(reviewer, client_for):
    assert client_for(reviewer).get(reverse("reviews:queue")).status_code == 200


@pytest.mark.parametrize("who", ["reviewer", "admin"])
def test_reviewers_and_admins_without_mfa_are_sent_to_enrol(mfa_required, cast, client_for, who):
    client = client_for(cast[who])
    response = client.get(reverse("accounts:home"), follow=True)
    assert response.redirect_chain[0][0] == reverse("mfa_activate_totp")
    # allauth asks for the password again before enrolment; that page is reachable.
    assert response.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
    assert response.status_code == 200
    assert b"requires two-factor authentication" in response.content
    # Role pages stay closed until they enrol; signing out still works.
    assert client.get(reverse("reviews:queue"))["Location"] == reverse("mfa_activate_totp")
    assert client.post(reverse("account_logout")).status_code == 302


@pytest.mark.parametrize("who", ["lead", "manager", "auditor"])
def test_other_roles_are_not_forced(mfa_required, cast, client_for, who):
    response = client_for(cast[who]).get(reverse("accounts:home"), follow=True)
    assert response.redirect_chain[-1][0] != reverse("mfa_activate_totp")
    assert response.status_code == 200


def test_an_enrolled_reviewer_goes_through(mfa_required, reviewer, client_for):
    Authenticator.objects.create(user=reviewer, type=Authenticator.Type.TOTP, data={"secret": "x"})
    assert client_for(reviewer).get(reverse("reviews:queue")).status_code == 200


def test_the_policy_is_one_row_edited_in_the_admin(admin_user, client_for):
    admin_user.is_superuser = True
    admin_user.save()
    client = client_for(admin_user)
    policy = SecurityPolicy.current()
    assert client.get("/admin/accounts/securitypolicy/add/").status_code == 403
    response = client.post(
        f"/admin/accounts/securitypolicy/{policy.pk}/change/",
        {"require_mfa_for_privileged": "on"},
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.require_mfa_for_privileged
    assert policy.history.count() >= 1


def test_an_enrolled_user_must_give_a_current_code_to_sign_in(reviewer):
    from allauth.mfa.totp.internal.auth import (
        TOTP,
        format_hotp_value,
        generate_totp_secret,
        hotp_value,
        yield_hotp_counters_from_time,
    )
    from django.test import Client

    from portal.audit.models import AuditEvent, AuditKind
    from tests.conftest import PASSWORD

    secret = generate_totp_secret()
    TOTP.activate(reviewer, secret)
    client = Client()
    response = client.post("/accounts/login/", {"login": reviewer.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session

    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(kind=AuditKind.MFA_FAILED, subject_user=reviewer).exists()

    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    right = client.post(reverse("mfa_authenticate"), {"code": code})
    assert right.status_code == 302
    assert client.get(reverse("reviews:queue")).status_code == 200
    assert AuditEvent.objects.filter(kind=AuditKind.LOGIN_SUCCEEDED, subject_user=reviewer).exists()
