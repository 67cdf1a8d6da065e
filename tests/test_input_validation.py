"""Hostile text and nonsense values: refused with a field error, never a 500, never stored.

The rules live in portal.validators (control characters), on the models (every string
field carries one of them; identifiers have their own shapes), in portal.forms (every
project form applies them) and in the services (dates, and full_clean on every write).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import date, timedelta

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client
from django.utils import timezone

from checklists.models import Checklist
from portal.audit.models import AuditEvent
from portal.forms import CleanTextMixin
from portal.validators import multi_line_text, single_line_text
from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.checks.admin import PlatformConnectionForm
from reviews.models import (
    AnswerStatus,
    Comment,
    Evidence,
    EvidenceKind,
    Review,
    ReviewState,
    Service,
    ServiceToken,
    SignOff,
    Waiver,
)
from tests.factories import ChecklistVersionFactory

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("accounts", "audit", "checklists", "reviews")
PROJECT_PACKAGES = ("portal", "checklists", "reviews")
NUL = "\x00"


# ``service``, ``review`` and ``answer`` (its must-have, "Backups run") are conftest's.


@pytest.fixture
def version(db):
    """A published checklist to start new reviews on."""
    return ChecklistVersionFactory()


@pytest.fixture
def unmet_answer(answer, lead):
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.NOT_MET, "Not yet.", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )


def record_url(review, answer, tail):
    return f"/reviews/{review.pk}/answers/{answer.pk}/{tail}"


def service_data(team, **overrides):
    data = {
        "name": "Claims portal",
        "slug": "claims-portal",
        "team": team.pk,
        "hosting": "cloud_gov",
        "impact_level": "moderate",
    }
    return data | overrides


def evidence_data(**overrides):
    return {
        "kind": "link",
        "url": "https://example.com/report",
        "effective_date": timezone.localdate().isoformat(),
    } | overrides


# --- the rules themselves ------------------------------------------------------------------

CONTROL_CHARACTERS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]]


def test_the_one_line_rule_refuses_every_control_character_and_names_it():
    for char in CONTROL_CHARACTERS:
        with pytest.raises(ValidationError) as refused:
            single_line_text(f"name{char}")
        assert f"(U+{ord(char):04X})" in refused.value.messages[0]


def test_the_multi_line_rule_keeps_line_breaks_and_tabs_and_refuses_the_rest():
    multi_line_text("first line\r\nsecond\tline\n")
    for char in set(CONTROL_CHARACTERS) - {"\n", "\r", "\t"}:
        with pytest.raises(ValidationError):
            multi_line_text(f"note{char}")


def test_the_rules_let_ordinary_unicode_through():
    single_line_text("Café ☕ — “quoted” — 日本語 — non\u00a0breaking")
    multi_line_text("Café ☕\n— 日本語")


# --- every model and every form carries them -----------------------------------------------


def test_every_string_field_of_every_model_carries_a_text_rule():
    missing = []
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS or model.__name__.startswith("Historical"):
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, models.CharField | models.TextField):
                continue
            wanted = multi_line_text if isinstance(field, models.TextField) else single_line_text
            if wanted not in field.validators:
                missing.append(f"{model.__name__}.{field.name} needs {wanted.__name__}")
    assert missing == []


def _project_form_classes() -> list[type[forms.BaseForm]]:
    for package_name in PROJECT_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    found, pending = [], [forms.BaseForm]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if (
                sub.__module__.split(".")[0] in PROJECT_PACKAGES
                and sub.__module__ != "portal.forms"
            ):
                found.append(sub)
    return found


def test_every_form_the_project_defines_derives_from_the_text_rules_base():
    found = _project_form_classes()
    names = {cls.__name__ for cls in found}
    assert {"ServiceForm", "CommentForm", "CompareForm", "PlatformConnectionForm"} <= names
    assert [cls.__qualname__ for cls in found if not issubclass(cls, CleanTextMixin)] == []


def test_every_number_field_of_the_project_forms_has_bounds_that_fit_the_database():
    unbounded = [
        f"{cls.__name__}.{name}"
        for cls in _project_form_classes()
        for name, field in cls.base_fields.items()
        if isinstance(field, forms.IntegerField)
        and (field.min_value is None or field.max_value is None or field.max_value >= 2**63)
    ]
    assert unbounded == []


def test_a_textarea_field_keeps_line_breaks_and_a_one_line_field_does_not():
    from reviews.forms import CommentForm, WithdrawEvidenceForm

    assert CommentForm({"body": "line one\nline two"}).is_valid()
    one_line = WithdrawEvidenceForm({"reason": "line one\nline two"})
    assert not one_line.is_valid()
    assert one_line.errors["reason"] == ["Remove the line break (U+000A) from this field."]


# --- control characters through the pages --------------------------------------------------


def test_a_nul_in_a_comment_is_a_field_error_and_nothing_is_stored(
    client_for, lead, review, answer
):
    response = client_for(lead).post(
        record_url(review, answer, "comments/"), {"body": f"Looks fine{NUL}"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Remove the control character (U+0000) from this field." in page
    assert "Null characters are not allowed" not in page  # one message, not two
    assert Comment.objects.count() == 0


def test_line_breaks_and_tabs_in_a_comment_are_kept(client_for, lead, review, answer):
    response = client_for(lead).post(
        record_url(review, answer, "comments/"), {"body": "First\r\n\tthen"}
    )
    assert response.status_code == 302
    assert Comment.objects.get().body == "First\r\n\tthen"


def test_a_control_character_in_a_service_name_is_a_field_error_and_nothing_is_stored(
    client_for, lead, benefits_team
):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, name="Claims\x1bportal")
    )
    assert response.status_code == 400
    assert "Remove the control character (U+001B) from this field." in response.content.decode()
    assert not Service.objects.filter(slug="claims-portal").exists()


def test_a_line_break_in_a_one_line_field_is_a_field_error_and_nothing_is_stored(
    client_for, lead, benefits_team
):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, name="Claims\nportal")
    )
    assert response.status_code == 400
    assert "Remove the line break (U+000A) from this field." in response.content.decode()
    assert not Service.objects.filter(slug="claims-portal").exists()


def test_a_c1_control_in_an_answer_justification_is_a_422_and_nothing_is_saved(
    client_for, lead, review, answer
):
    response = client_for(lead).post(
        f"/reviews/{review.pk}/answers/{answer.pk}/",
        {
            f"a{answer.pk}-status": AnswerStatus.MET,
            f"a{answer.pk}-justification": "Night\x85ly",
            f"a{answer.pk}-notes": "",
            f"a{answer.pk}-owner": "",
            f"a{answer.pk}-revision": str(answer.revision),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Remove the control character (U+0085) from this field." in response.content.decode()
    answer.refresh_from_db()
    assert (answer.status, answer.justification) == (AnswerStatus.NOT_STARTED, "")


def test_a_nul_in_an_evidence_note_is_a_field_error_and_nothing_is_stored(
    client_for, lead, review, answer
):
    response = client_for(lead).post(
        record_url(review, answer, "evidence/"), evidence_data(kind="note", note=f"ok{NUL}")
    )
    assert response.status_code == 400
    assert "Remove the control character (U+0000) from this field." in response.content.decode()
    assert Evidence.objects.count() == 0


def test_a_nul_in_an_exception_rationale_is_a_field_error_and_nothing_is_stored(
    client_for, lead, review, unmet_answer
):
    response = client_for(lead).post(
        record_url(review, unmet_answer, "exceptions/"),
        {
            "rationale": f"Low risk{NUL}",
            "compensating_controls": "Manual checks.",
            "expires_on": (date.today() + timedelta(days=30)).isoformat(),
        },
    )
    assert response.status_code == 400
    assert "Remove the control character (U+0000) from this field." in response.content.decode()
    assert Waiver.objects.count() == 0


def test_a_nul_in_a_ci_token_name_is_refused_and_no_token_is_stored(client_for, lead, service):
    response = client_for(lead).post(
        f"/services/{service.slug}/tokens/", {"name": f"GitHub{NUL}Actions"}, follow=True
    )
    assert response.status_code == 200
    assert "Remove the control character (U+0000) from this field." in response.content.decode()
    assert ServiceToken.objects.count() == 0


def test_a_control_character_in_an_imported_checklist_is_refused_naming_where_it_is(
    client_for, admin_user
):
    content = {"title": "Ops", "sections": [{"title": "A", "items": [{"text": f"Bad{NUL}"}]}]}
    response = client_for(admin_user).post(
        "/checklists/import/",
        {"file": SimpleUploadedFile("ops.json", json.dumps(content).encode())},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "sections.0.items.0.text" in page
    assert "Remove the control character (U+0000) from this field." in page
    assert Checklist.objects.count() == 0


def test_a_nul_in_a_platform_connection_name_is_a_field_error():
    form = PlatformConnectionForm(
        {"kind": "pagerduty", "name": f"Org{NUL}", "secret": "key", "enabled": "on"}
    )
    assert not form.is_valid()
    assert form.errors["name"] == ["Remove the control character (U+0000) from this field."]


def test_control_characters_in_the_user_agent_are_replaced_in_the_audit_record(lead):
    client = Client(HTTP_USER_AGENT="probe\x00\x1b[31m")
    client.post("/accounts/login/", {"login": lead.email, "password": "wrong"})
    event = AuditEvent.objects.filter(kind="login_failed").get()
    assert event.user_agent == "probe\ufffd\ufffd[31m"


# --- control characters through the services, without a form ------------------------------


def test_comment_add_refuses_a_control_character_without_a_form(lead, answer):
    with pytest.raises(ValidationError) as refused:
        services.comment_add(answer=answer, by=lead, body=f"hi{NUL}")
    assert "body" in refused.value.message_dict
    assert Comment.objects.count() == 0


def test_answer_update_refuses_a_control_character_without_a_form(lead, answer):
    with pytest.raises(ValidationError) as refused:
        services.answer_update(
            answer=answer,
            change=services.AnswerChange(AnswerStatus.MET, "", f"note{NUL}", None),
            based_on_revision=answer.revision,
            by=lead,
        )
    assert "notes" in refused.value.message_dict
    answer.refresh_from_db()
    assert answer.status == AnswerStatus.NOT_STARTED


def test_waiver_request_refuses_a_control_character_without_a_form(lead, unmet_answer):
    with pytest.raises(ValidationError) as refused:
        waivers.waiver_request(
            answer=unmet_answer,
            by=lead,
            rationale="Low risk",
            compensating_controls=f"Manual{NUL}",
            expires_on=date.today() + timedelta(days=30),
        )
    assert "compensating_controls" in refused.value.message_dict
    assert Waiver.objects.count() == 0


def test_waiver_decide_refuses_a_control_character_without_a_form(lead, reviewer, unmet_answer):
    waiver = waivers.waiver_request(
        answer=unmet_answer,
        by=lead,
        rationale="Low risk",
        compensating_controls="Manual checks",
        expires_on=date.today() + timedelta(days=30),
    )
    with pytest.raises(ValidationError) as refused:
        waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True, comment=f"ok{NUL}")
    assert "decision_comment" in refused.value.message_dict
    waiver.refresh_from_db()
    assert waiver.state == "requested"


def test_evidence_withdraw_refuses_a_control_character_without_a_form(lead, answer):
    evidence = evidence_services.evidence_add(
        answer=answer, by=lead, kind=EvidenceKind.NOTE, note="n", effective_date=date.today()
    )
    with pytest.raises(ValidationError) as refused:
        evidence_services.evidence_withdraw(evidence=evidence, by=lead, reason=f"gone{NUL}")
    assert "withdrawal_reason" in refused.value.message_dict
    evidence.refresh_from_db()
    assert evidence.withdrawn_at is None


def test_signoff_record_refuses_a_control_character_without_a_form(reviewer, review):
    Review.objects.filter(pk=review.pk).update(state=ReviewState.SUBMITTED)
    review.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        signoffs.signoff_record(
            review=review,
            by=reviewer,
            role="security_reviewer",
            decision="request_changes",
            comment=f"Fix it{NUL}",
        )
    assert "comment" in refused.value.message_dict
    assert SignOff.objects.count() == 0


# --- evidence dates ------------------------------------------------------------------------


def test_evidence_dated_9999_12_31_is_refused_and_nothing_is_stored(
    client_for, lead, review, answer
):
    response = client_for(lead).post(
        record_url(review, answer, "evidence/"), evidence_data(effective_date="9999-12-31")
    )
    assert response.status_code == 400
    assert "The date the evidence was true cannot be in the future." in response.content.decode()
    assert Evidence.objects.count() == 0


def test_evidence_dated_before_1990_is_refused_and_nothing_is_stored(
    client_for, lead, review, answer
):
    response = client_for(lead).post(
        record_url(review, answer, "evidence/"), evidence_data(effective_date="1989-12-31")
    )
    assert response.status_code == 400
    assert "Use a date from 1990 on." in response.content.decode()
    assert Evidence.objects.count() == 0


def test_evidence_fresh_for_more_than_three_years_is_refused_and_nothing_is_stored(
    client_for, lead, review, answer
):
    too_far = timezone.localdate() + timedelta(days=3 * 366 + 1)
    response = client_for(lead).post(
        record_url(review, answer, "evidence/"), evidence_data(fresh_until=too_far.isoformat())
    )
    assert response.status_code == 400
    assert "Fresh-until can be at most three years away" in response.content.decode()
    assert Evidence.objects.count() == 0


def test_evidence_dated_tomorrow_is_refused_by_the_service_the_day_after(lead, answer):
    today = timezone.localdate()
    assert evidence_services.evidence_date_errors(today + timedelta(days=1), None) == {}
    with pytest.raises(ValidationError) as refused:
        evidence_services.evidence_add(
            answer=answer,
            by=lead,
            kind=EvidenceKind.NOTE,
            note="n",
            effective_date=today + timedelta(days=2),
        )
    assert "effective_date" in refused.value.message_dict
    assert Evidence.objects.count() == 0


def test_evidence_dated_last_year_and_fresh_for_a_year_is_accepted(
    client_for, lead, review, answer
):
    today = timezone.localdate()
    response = client_for(lead).post(
        record_url(review, answer, "evidence/"),
        evidence_data(
            effective_date=(today - timedelta(days=365)).isoformat(),
            fresh_until=(today + timedelta(days=365)).isoformat(),
        ),
    )
    assert response.status_code == 302
    assert Evidence.objects.count() == 1


# --- identifiers and links of a service -----------------------------------------------------


@pytest.mark.parametrize(
    "space",
    [
        "<script>alert(1)</script>/production",
        "gsa-benefits/<script>alert(1)</script>",
        "gsa benefits/production",
        "gsa-benefits/" + "s" * 65,
        "gsa-benefits",
        "gsa-benefits/prod/extra",
    ],
)
def test_a_cloud_foundry_space_that_is_not_org_slash_space_names_is_refused(
    client_for, lead, benefits_team, space
):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, cloud_foundry_space=space)
    )
    assert response.status_code == 400
    assert "Give the organisation and space as org/space" in response.content.decode()
    assert not Service.objects.filter(slug="claims-portal").exists()


def test_cloud_foundry_names_of_letters_digits_dashes_underscores_and_dots_are_accepted(
    client_for, lead, benefits_team
):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, cloud_foundry_space="GSA_tts.2/prod-1.a")
    )
    assert response.status_code == 302
    assert Service.objects.get(slug="claims-portal").cloud_foundry_space == "GSA_tts.2/prod-1.a"


def test_a_project_tag_with_markup_is_refused_and_nothing_is_stored(
    client_for, lead, benefits_team
):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, project_tag="<b>claims</b>")
    )
    assert response.status_code == 400
    assert "A tag value uses letters, digits, spaces and" in response.content.decode()
    assert not Service.objects.filter(slug="claims-portal").exists()


def test_a_project_tag_with_the_characters_aws_allows_is_accepted(client_for, lead, benefits_team):
    tag = "claims team_1.0:a/b=c+d-e@f"
    response = client_for(lead).post("/services/new/", service_data(benefits_team, project_tag=tag))
    assert response.status_code == 302
    assert Service.objects.get(slug="claims-portal").project_tag == tag


@pytest.mark.parametrize(
    "environments", ["<img src=x>", "dev;prod", "dev,,prod", "staging, production, "]
)
def test_environments_that_are_not_comma_separated_names_are_refused(
    client_for, lead, benefits_team, environments
):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, environments=environments)
    )
    assert response.status_code == 400
    assert "Separate environment names with commas" in response.content.decode()
    assert not Service.objects.filter(slug="claims-portal").exists()


def test_environments_as_comma_separated_names_are_accepted(client_for, lead, benefits_team):
    response = client_for(lead).post(
        "/services/new/",
        service_data(benefits_team, environments="dev, staging_2,pre-prod , us east"),
    )
    assert response.status_code == 302
    assert Service.objects.get(slug="claims-portal").environment_list == [
        "dev",
        "staging_2",
        "pre-prod",
        "us east",
    ]


@pytest.mark.parametrize(
    "field",
    [
        "repository_url",
        "runbook_url",
        "dashboard_url",
        "status_page_url",
        "health_check_url",
        "public_url",
        "prometheus_url",
        "alertmanager_url",
    ],
)
def test_an_ftp_address_is_refused_for_every_service_link(client_for, lead, benefits_team, field):
    response = client_for(lead).post(
        "/services/new/", service_data(benefits_team, **{field: "ftp://files.example.com/x"})
    )
    assert response.status_code == 400
    # The repository says which protocols git may use; the other links are http(s).
    expected = (
        "Use an address git can read over https"
        if field == "repository_url"
        else "Use an http:// or https:// address."
    )
    assert expected in response.content.decode()
    assert not Service.objects.filter(slug="claims-portal").exists()


def test_an_ftp_evidence_link_is_refused_and_nothing_is_stored(client_for, lead, review, answer):
    response = client_for(lead).post(
        record_url(review, answer, "evidence/"), evidence_data(url="ftp://files.example.com/r")
    )
    assert response.status_code == 400
    assert "Use an http:// or https:// address." in response.content.decode()
    assert Evidence.objects.count() == 0


# --- a review's target date ----------------------------------------------------------------


def test_a_target_date_in_the_past_is_refused_and_no_review_is_started(
    client_for, lead, service, version
):
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client_for(lead).post(
        f"/services/{service.slug}/reviews/new/",
        {"checklist_version": version.pk, "kind": "launch", "target_date": yesterday.isoformat()},
    )
    assert response.status_code == 400
    assert "The target date cannot be in the past." in response.content.decode()
    assert Review.objects.count() == 0


def test_a_target_date_more_than_five_years_away_is_refused_and_no_review_is_started(
    client_for, lead, service, version
):
    response = client_for(lead).post(
        f"/services/{service.slug}/reviews/new/",
        {"checklist_version": version.pk, "kind": "launch", "target_date": "9999-12-31"},
    )
    assert response.status_code == 400
    assert "The target date can be at most five years away" in response.content.decode()
    assert Review.objects.count() == 0


def test_review_start_refuses_a_past_target_date_without_a_form(lead, service, version):
    with pytest.raises(ValidationError) as refused:
        services.review_start(
            service=service,
            checklist_version=version,
            target_date=timezone.localdate() - timedelta(days=1),
            by=lead,
        )
    assert "target_date" in refused.value.message_dict
    assert Review.objects.count() == 0


def test_a_target_date_of_today_is_accepted(client_for, lead, service, version):
    response = client_for(lead).post(
        f"/services/{service.slug}/reviews/new/",
        {
            "checklist_version": version.pk,
            "kind": "launch",
            "target_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    assert Review.objects.get().target_date == timezone.localdate()
