"""Role, team and MFA changes become audit events, however they are made."""

from __future__ import annotations

import html
import re

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from portal.accounts import services
from portal.accounts.roles import Role
from portal.audit.models import AuditEvent, AuditKind, Entry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def kinds(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list("kind", flat=True))


def test_granting_and_revoking_a_role_is_recorded(db):
    user = UserFactory(email="pat@example.com")
    services.user_set_roles(user=user, roles={Role.MANAGER}, reason="test")
    services.user_set_roles(user=user, roles={Role.AUDITOR}, reason="test")
    events = list(AuditEvent.objects.filter(subject_user=user).order_by("id"))
    assert [(e.kind, e.details["role"]) for e in events] == [
        (AuditKind.ROLE_GRANTED, "manager"),
        (AuditKind.ROLE_GRANTED, "auditor"),
        (AuditKind.ROLE_REVOKED, "manager"),
    ]


def test_role_changes_from_the_group_side_and_clear_are_recorded(db):
    user = UserFactory(email="pat@example.com")
    group = services.role_group(Role.AUDITOR)
    group.user_set.add(user)
    user.groups.clear()
    assert kinds(subject_user=user) == [AuditKind.ROLE_GRANTED, AuditKind.ROLE_REVOKED]


def test_the_admin_role_is_the_staff_flag_and_is_recorded(db):
    user = UserFactory(email="pat@example.com")
    services.user_set_roles(user=user, roles={Role.ADMIN}, reason="test")
    user.refresh_from_db()
    assert user.is_staff
    user.is_staff = False
    user.save()
    events = AuditEvent.objects.filter(subject_user=user).order_by("id")
    assert [(e.kind, e.details["role"]) for e in events] == [
        (AuditKind.ROLE_GRANTED, "admin"),
        (AuditKind.ROLE_REVOKED, "admin"),
    ]


def test_saving_a_user_without_touching_roles_records_nothing(db):
    user = UserFactory(email="pat@example.com")
    AuditEvent.objects.all().delete()
    user.first_name = "Patricia"
    user.save()
    user.save(update_fields=["last_login"])
    assert AuditEvent.objects.count() == 0


def test_team_membership_changes_are_recorded_from_either_side(benefits_team):
    user = UserFactory(email="pat@example.com")
    benefits_team.members.add(user)
    user.teams.remove(benefits_team)
    events = AuditEvent.objects.filter(subject_user=user).order_by("id")
    assert [(e.kind, e.details["team"]) for e in events] == [
        (AuditKind.TEAM_MEMBER_ADDED, "benefits"),
        (AuditKind.TEAM_MEMBER_REMOVED, "benefits"),
    ]


def test_changes_made_in_the_admin_name_the_admin_who_made_them(admin_user, lead):
    admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    manager_group = services.role_group(Role.MANAGER)
    product_lead_group = services.role_group(Role.PRODUCT_LEAD)
    response = client.post(
        f"/admin/accounts/user/{lead.pk}/change/",
        {
            "email": lead.email,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "is_active": "on",
            "groups": [manager_group.pk, product_lead_group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(
        kind=AuditKind.ROLE_GRANTED, subject_user=lead, details__role="manager"
    )
    assert event.actor == admin_user
    assert event.actor_label == "admin@example.com"


def test_mfa_enrolment_is_recorded(lead):
    from allauth.mfa import signals

    authenticator = Authenticator.objects.create(user=lead, type=Authenticator.Type.TOTP, data={})
    signals.authenticator_added.send(
        sender=Authenticator, request=None, user=lead, authenticator=authenticator
    )
    event = AuditEvent.objects.get(kind=AuditKind.MFA_ENROLLED)
    assert event.subject_user == lead
    assert event.details["authenticator"] == "totp"


def test_the_record_survives_the_user_being_deleted(db):
    user = UserFactory(email="gone@example.com")
    services.user_set_roles(user=user, roles={Role.MANAGER}, reason="test")
    user_id = user.pk
    user.delete()
    # The event stays exactly as written (it is hashed into the record): the person's
    # email as it was, and their id, which no longer leads anywhere.
    event = AuditEvent.objects.get(kind=AuditKind.ROLE_GRANTED, subject_label="gone@example.com")
    assert event.subject_user_id == user_id
    assert Entry.objects.get(source_table="audit_auditevent", source_id=event.pk).branch == (
        f"accounts.user:{user_id}"
    )


def test_auditors_see_the_events_and_can_filter_them(auditor, lead, client_for):
    client = client_for(auditor)
    page = client.get("/activity/").content.decode()
    assert "Role granted" in page and "lead@example.com" in page
    filtered = client.get("/activity/", {"kind": "team_member_added"}).content.decode()
    assert "Added to team" in filtered
    assert "Role granted (" not in filtered
    # An unknown filter value is ignored rather than an error.
    assert client.get("/activity/", {"kind": "<script>", "page": "x"}).status_code == 200


def test_the_activity_page_costs_the_same_at_any_size(
    auditor, client_for, django_assert_max_num_queries
):
    client = client_for(auditor)
    for n in range(60):
        UserFactory(email=f"bulk{n}@example.com").groups.add(services.role_group(Role.MANAGER))
    # session, user, roles (groups), rules' ModelBackend perms (user + group), the page
    # of lines (keyset: no count)
    with django_assert_max_num_queries(8):
        first = client.get("/activity/")
    older = re.search(r'href="([^"]*)" rel="next"', first.content.decode())
    assert older is not None
    with django_assert_max_num_queries(8):
        second = client.get("/activity/" + html.unescape(older.group(1)))
    assert first.status_code == second.status_code == 200
    # The budget holds with the rows on the page: the newest grants first, then older ones.
    first_page, second_page = first.content.decode(), second.content.decode()
    assert "bulk59@example.com" in first_page and "bulk59@example.com" not in second_page
    assert second_page.count("Role granted") >= 10


def test_audit_events_cannot_be_changed_in_the_admin(admin_user, client_for):
    admin_user.is_superuser = True
    admin_user.save()
    event = AuditEvent.objects.first()
    assert event is not None
    client = client_for(admin_user)
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
