"""Ids and numbers too big for the database: 404 or 400, never a 500.

Every id in a project URL goes through ``<id:...>`` (portal.converters), which matches at
most 18 digits; form numbers have bounds that fit their columns.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from checklists.parsers import parse_file
from checklists.services import checklist_import
from portal.converters import IdConverter
from reviews import evidence as evidence_services
from reviews import services, waivers
from reviews.audits import services as audit_services
from reviews.checks.services import token_create
from reviews.models import AnswerStatus, CheckRun, CheckRunTrigger, EvidenceKind, Review

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # 20 digits: more than any 64-bit integer
PROJECT_PACKAGES = ("portal", "reviews", "checklists")
MD = b"# Records\n## Ops\n- **Backups run**\n- Dashboards exist\n"


def _routes(patterns=None, prefix=""):
    """(route, pattern) for every URL pattern, with the prefixes of its includes."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _project_routes():
    return [
        (route, pattern)
        for route, pattern in _routes()
        if pattern.callback.__module__.split(".")[0] in PROJECT_PACKAGES
    ]


ID_ROUTES = [
    (route, name)
    for route, pattern in _project_routes()
    for name, converter in pattern.pattern.converters.items()
    if isinstance(converter, IdConverter)
]


def _fill(route, values, huge=None):
    return "/" + re.sub(
        r"<\w+:(\w+)>", lambda m: HUGE if m.group(1) == huge else str(values(m.group(1))), route
    )


@pytest.fixture
def world(lead, reviewer, benefits_team, settings, tmp_path):
    """One of everything an address can name, all readable by ``lead``."""
    settings.MEDIA_ROOT = tmp_path
    version = checklist_import(
        parsed=parse_file("r.md", MD).checklist, by=None, publish=True
    ).version
    service = services.service_create(
        by=lead, name="Benefits portal", slug="benefits-portal", team=benefits_team
    )
    review = services.review_start(service=service, checklist_version=version, by=lead)
    answer = review.answers.get(item__text="Backups run")
    answer = services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.NOT_MET, "Not yet.", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )
    evidence = evidence_services.evidence_add(
        answer=answer,
        by=lead,
        kind=EvidenceKind.FILE,
        upload=SimpleUploadedFile("report.txt", b"all good\n"),
        effective_date=date.today(),
    )
    waiver = waivers.waiver_request(
        answer=answer,
        by=lead,
        rationale="Low risk",
        compensating_controls="Manual checks",
        expires_on=date.today() + timedelta(days=30),
    )
    run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=service)
    token, _ = token_create(service=service, name="CI", by=lead)
    session = audit_services.audit_session_record(
        review=review,
        by=reviewer,
        details=audit_services.SessionDetails(
            "Launch audit", timezone.now(), timezone.now(), (), "", ""
        ),
        decisions=[],
    )
    note = audit_services.journal_note_add(service=service, by=lead, body="A note.")
    return {
        "slug": service.slug,
        "review": review.pk,
        "answer_pk": answer.pk,
        "evidence_pk": evidence.pk,
        "waiver_pk": waiver.pk,
        "number": version.number,
        "run": run.pk,
        "token": token.pk,
        "action": "submit",
        "checklist": version.checklist.slug,
        "session": session.pk,
        "note": note.pk,
    }


def _values_for(route, world):
    def value(name):
        if name == "slug":
            return world["checklist"] if route.startswith("checklists/") else world["slug"]
        if name == "pk":
            if route.startswith("checks/runs/"):
                return world["run"]
            if route.startswith("launch-audits/"):
                return world["session"]
            if route.startswith("journal/"):
                return world["note"]
            return world["token"] if "/tokens/" in route else world["review"]
        return world[name]

    return value


def test_no_project_address_uses_djangos_unbounded_int_converter():
    assert [route for route, _ in _project_routes() if "<int:" in route] == []
    assert len(ID_ROUTES) >= 15


def test_the_id_converter_matches_up_to_18_digits_and_reverses_ids():
    assert re.fullmatch(IdConverter.regex, "9" * 18)
    assert not re.fullmatch(IdConverter.regex, "9" * 19)
    assert IdConverter().to_url(42) == "42"
    assert IdConverter().to_python("000042") == 42


@pytest.mark.parametrize(("route", "name"), ID_ROUTES, ids=[f"{r}:{n}" for r, n in ID_ROUTES])
def test_every_address_with_an_id_answers_404_to_a_20_digit_number(
    client_for, lead, reviewer, world, route, name
):
    who = reviewer if route.endswith("sign-off/") else lead
    client = client_for(who)
    values = _values_for(route, world)
    # With real ids the address is there for this person (405 for forms that only post).
    assert client.get(_fill(route, values)).status_code != 404
    address = _fill(route, values, huge=name)
    assert client.get(address).status_code == 404
    assert client.post(address).status_code == 404


@pytest.mark.parametrize(
    "query",
    [f"old=1&new={HUGE}", f"old={HUGE}&new=1", "old=1&new=2147483648", "old=-1&new=1"],
)
def test_the_compare_page_answers_400_to_version_numbers_out_of_range(
    client_for, lead, world, query
):
    response = client_for(lead).get(f"/checklists/{world['checklist']}/compare/?{query}")
    assert response.status_code == 400
    assert "Ensure this value is" in response.content.decode()


def test_the_compare_page_answers_404_to_a_version_that_fits_but_does_not_exist(
    client_for, lead, world
):
    response = client_for(lead).get(
        f"/checklists/{world['checklist']}/compare/?old=1&new=2147483647"
    )
    assert response.status_code == 404


def test_a_huge_revision_in_an_answer_save_is_a_422_and_nothing_is_saved(client_for, lead, world):
    answer_pk = world["answer_pk"]
    response = client_for(lead).post(
        f"/reviews/{world['review']}/answers/{answer_pk}/",
        {
            f"a{answer_pk}-status": AnswerStatus.MET,
            f"a{answer_pk}-justification": "",
            f"a{answer_pk}-notes": "",
            f"a{answer_pk}-owner": "",
            f"a{answer_pk}-revision": HUGE,
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "This form is out of date or damaged" in response.content.decode()
    assert Review.objects.get().answers.get(pk=answer_pk).status == AnswerStatus.NOT_MET


def test_a_huge_checklist_version_id_when_starting_a_review_is_a_400(client_for, lead, world):
    response = client_for(lead).post(
        f"/services/{world['slug']}/reviews/new/",
        {"checklist_version": HUGE, "kind": "launch"},
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert Review.objects.count() == 1


@pytest.mark.parametrize("page", [HUGE, "-1", "1e9", "abc", "%00"])
def test_the_activity_page_copes_with_any_page_number(client_for, auditor, page):
    assert client_for(auditor).get(f"/activity/?page={page}").status_code == 200


@pytest.mark.parametrize("page", [HUGE, "-1", "1e9", "abc", "%00"])
def test_the_check_runs_page_copes_with_any_page_number(client_for, reviewer, world, page):
    assert client_for(reviewer).get(f"/checks/runs/?page={page}").status_code == 200
