"""A timeline per record (issue 12): a record's own changes field by field, everything that
belongs to it rolled up (an answer's change shows on its review and its service), keyset
pages at a flat cost, who may read which timeline, the "History" links on the record
pages, and hostile addresses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urljoin

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checklists.models import Checklist
from portal.audit import ledger
from portal.audit.models import Entry
from reviews.checks import services as check_services
from tests.factories import AnswerFactory, ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

LINE = re.compile(r'<tr id="line-(\d+)">')
OLDER = re.compile(r'href="([^"]*)" rel="next"')


def timeline(record) -> str:
    return reverse("audit:timeline", args=[record._meta.label_lower, record.pk])


def line_ids(page: str) -> list[int]:
    return [int(found) for found in LINE.findall(page)]


def lines_of(page: str) -> list[Entry]:
    found = {e.pk: e for e in Entry.objects.filter(pk__in=line_ids(page))}
    return [found[pk] for pk in line_ids(page)]


@pytest.fixture
def answered(answer, lead):
    """``answer`` met, then given notes: two changes of one answer."""
    AnswerFactory(review=answer.review, item_text="Backups run")
    AnswerFactory(review=answer.review, item_text="Backups run", notes="Nightly to S3")
    answer.refresh_from_db()
    return answer


@pytest.fixture
def permits_service(other_lead, permits_team):
    return ServiceFactory(
        name="Permits desk", slug="permits-desk", team=permits_team, created_by=other_lead
    )


# --- what a timeline shows ---------------------------------------------------------------


def test_an_answers_timeline_shows_each_change_field_by_field(lead, client_for, answered):
    page = client_for(lead).get(timeline(answered)).content.decode()
    shown = lines_of(page)
    assert shown and {e.record_type for e in shown} == {"reviews.answer"}
    assert {e.record_id for e in shown} == {str(answered.pk)}
    # Choices in words, links to other records by their kind, never raw keys.
    assert "<dt>Status</dt><dd><del>Not started</del> → <ins>Met</ins></dd>" in page
    assert "<dt>Notes</dt><dd><ins>Nightly to S3</ins></dd>" in page
    assert f"<dt>Updated by</dt><dd><ins>user #{lead.pk}</ins></dd>" in page
    assert "not_started" not in page
    assert re.search(r"<dt>Updated at</dt><dd><ins>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</ins>", page)
    assert "History of answer Backups run" in unescape(page)


def test_a_reviews_timeline_rolls_up_its_answers_and_nothing_of_other_reviews(
    lead, client_for, answered, service
):
    other = ReviewFactory(service=service, by=lead, kind="periodic")
    page = client_for(lead).get(timeline(answered.review)).content.decode()
    shown = lines_of(page)
    kinds = {e.record_type for e in shown}
    assert {"reviews.review", "reviews.answer"} <= kinds
    assert {e.branch for e in shown if e.record_type != "reviews.review"} == {
        f"reviews.review:{answered.review_id}"
    }
    assert str(other.pk) not in {e.record_id for e in shown if e.record_type == "reviews.review"}


def test_a_services_timeline_rolls_up_its_reviews_answers_and_tokens(
    lead, client_for, answered, service
):
    check_services.token_create(service=service, name="CI", by=lead)
    page = client_for(lead).get(timeline(service)).content.decode()
    shown = lines_of(page)
    assert {"reviews.service", "reviews.review", "reviews.answer", "reviews.servicetoken"} <= {
        e.record_type for e in shown
    }
    assert {e.root for e in shown} == {f"reviews.service:{service.pk}"}


def test_the_own_filter_shows_only_the_records_own_changes(lead, client_for, answered, service):
    client = client_for(lead)
    page = client.get(timeline(service), {"own": "on"}).content.decode()
    shown = lines_of(page)
    assert shown and {(e.record_type, e.record_id) for e in shown} == {
        ("reviews.service", str(service.pk))
    }
    assert "Show what belongs to it too" in page


def test_a_timeline_links_back_to_the_records_page(lead, client_for, answered):
    client = client_for(lead)
    review_page = client.get(timeline(answered.review)).content.decode()
    assert f'href="{answered.review.get_absolute_url()}"' in review_page
    answer_page = client.get(timeline(answered)).content.decode()
    assert f'href="{answered.review.get_absolute_url()}#answer-{answered.pk}"' in answer_page


def test_a_deleted_records_timeline_stays_readable_by_auditors(auditor, client_for, lead):
    token, _ = check_services.token_create(
        service=ServiceFactory(slug="gone", created_by=lead), name="CI", by=lead
    )
    url = timeline(token)
    token.delete()  # the history keeps a "deleted" line
    page = client_for(auditor).get(url).content.decode()
    assert "Deleted" in page and "CI" in page


def test_timeline_pages_follow_the_cursor_at_a_flat_cost(auditor, client_for, service):
    key = f"reviews.service:{service.pk}"
    moment = datetime(2024, 6, 1, tzinfo=UTC)
    ledger.append_many(
        [
            Entry(
                at=moment - timedelta(seconds=n // 3),  # three lines to a moment
                record_type="reviews.answer",
                record_id=str(10_000 + n),
                record_label=f"Answer {n}",
                change="changed",
                changes={"Notes": ["", f"note {n}"]},
                root=key,
                branch="reviews.review:424242",
                source_table="bulk_timeline",
                source_id=n,
                content_hash="0" * 64,
            )
            for n in range(240)
        ]
    )
    client = client_for(auditor)
    url, pages, costs = timeline(service), [], []
    client.get(url)
    while url:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url).content.decode()
        costs.append(len(queries.captured_queries))
        pages.append(line_ids(page))
        found = OLDER.search(page)
        url = urljoin(timeline(service), unescape(found.group(1))) if found else None
    shown = [pk for page in pages for pk in page]
    expected = list(
        Entry.objects.filter(root=key).order_by("-at", "-id").values_list("pk", flat=True)
    )
    assert shown == expected and len(set(shown)) == len(shown)
    assert len(pages) == 5
    # session, user, roles, the record's newest line, the record itself, the page (one
    # union of three index scans), whether the reader may browse the feed: the same on
    # every page.
    assert len(set(costs)) == 1, costs
    assert costs[0] <= 8


# --- who may read a timeline -------------------------------------------------------------------


def test_anonymous_readers_are_sent_to_sign_in(client, service):
    response = client.get(timeline(service))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", ["lead", "reviewer", "manager", "auditor", "admin"])
def test_whoever_reads_a_service_reads_its_timeline(cast, client_for, answered, role):
    client = client_for(cast[role])
    for record in (answered.review.service, answered.review, answered):
        assert client.get(timeline(record)).status_code == 200, (role, record)


@pytest.mark.parametrize("role", ["other_lead", "nobody"])
def test_the_timeline_of_a_service_one_may_not_read_is_not_found(cast, client_for, answered, role):
    client = client_for(cast[role])
    for record in (answered.review.service, answered.review, answered):
        assert client.get(timeline(record)).status_code == 404, (role, record)


def test_product_leads_read_their_own_teams_timelines_only(
    lead, other_lead, client_for, service, permits_service
):
    assert client_for(lead).get(timeline(service)).status_code == 200
    assert client_for(lead).get(timeline(permits_service)).status_code == 404
    assert client_for(other_lead).get(timeline(permits_service)).status_code == 200


@pytest.mark.parametrize("role", ["lead", "other_lead", "reviewer", "manager", "admin", "nobody"])
def test_people_teams_and_security_events_are_for_auditors(cast, client_for, benefits_team, role):
    event = Entry.objects.filter(record_type="audit.event").first()
    urls = [
        timeline(cast["lead"]),
        timeline(benefits_team),
        reverse("audit:timeline", args=["audit.event", event.record_id]),
    ]
    for url in urls:
        response = client_for(cast[role]).get(url)
        assert response.status_code == 403, (role, url)
        assert "is for auditors" in unescape(response.content.decode())
    auditor = client_for(cast["auditor"])
    assert all(auditor.get(url).status_code == 200 for url in urls)


def test_a_user_timeline_shows_the_events_about_them(auditor, client_for, lead):
    page = client_for(auditor).get(timeline(lead)).content.decode()
    assert "Role granted (Product lead)" in page and "Added to team (Benefits Team)" in page


def test_a_checklists_timeline_is_for_everyone_signed_in(nobody, client_for, review):
    checklist = Checklist.objects.get(pk=review.checklist_version.checklist_id)
    client = client_for(nobody)
    assert client.get(timeline(checklist)).status_code == 200
    assert client.get(timeline(review.checklist_version)).status_code == 200


def test_a_timeline_changes_nothing(auditor, client_for, service):
    assert client_for(auditor).post(timeline(service)).status_code == 405


@pytest.mark.parametrize(
    ("record_type", "record_id"),
    [
        ("reviews.nothing", "1"),
        ("auth.group", "1"),
        ("reviews.service", "999999999"),
        ("reviews.service", "abc"),
        ("reviews.service", "x" * 65),
        ("reviews.service", "%00"),
        ("reviews.service", "1%00"),
        ("reviews.service", "99999999999999999999999"),
        ("audit.event", "-1"),
        ("reviews.service", "%E2%80%AE"),
    ],
)
def test_unknown_records_are_not_found(auditor, client_for, service, record_type, record_id):
    response = client_for(auditor).get(f"/activity/records/{record_type}/{record_id}/")
    assert response.status_code == 404


@pytest.mark.parametrize("value", ["x" * 5000, "\x00", "garbage|1", "2024-06-01T12:00:00|1", "|"])
@pytest.mark.parametrize("param", ["before", "own"])
def test_no_query_string_breaks_a_timeline(lead, client_for, service, param, value):
    assert client_for(lead).get(timeline(service), {param: value}).status_code == 200


# --- the service timeline's export -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "offered"), [("lead", True), ("manager", True), ("reviewer", False)]
)
def test_the_service_timeline_offers_its_export_to_who_may_take_it(
    cast, client_for, service, role, offered
):
    page = client_for(cast[role]).get(timeline(service)).content.decode()
    assert ("Export this service" in page) is offered


# --- History links on the record pages ---------------------------------------------------------


@pytest.mark.parametrize("role", ["lead", "reviewer", "manager", "auditor", "admin"])
def test_the_service_and_review_pages_link_to_their_history(cast, client_for, answered, role):
    client = client_for(cast[role])
    review = answered.review
    service_page = client.get(review.service.get_absolute_url()).content.decode()
    assert f'href="{timeline(review.service)}"' in service_page
    review_page = client.get(review.get_absolute_url()).content.decode()
    assert f'href="{timeline(review)}"' in review_page
    # Each answer has its own, in its editor: two clicks from "who changed this answer".
    item = reverse("reviews:item", args=[review.pk, answered.pk])
    assert f'href="{item}"' in review_page
    assert f'href="{timeline(answered)}"' in client.get(item).content.decode()


def test_each_ci_token_links_to_its_history(lead, client_for, service):
    token, _ = check_services.token_create(service=service, name="CI", by=lead)
    page = client_for(lead).get(service.get_absolute_url()).content.decode()
    assert f'href="{timeline(token)}"' in page


@pytest.mark.parametrize("role", ["lead", "nobody", "auditor"])
def test_the_checklist_pages_link_to_their_history(cast, client_for, review, role):
    version = review.checklist_version
    client = client_for(cast[role])
    assert (
        f'href="{timeline(version.checklist)}"'
        in client.get(version.checklist.get_absolute_url()).content.decode()
    )
    assert f'href="{timeline(version)}"' in client.get(version.get_absolute_url()).content.decode()


def test_the_history_link_is_shown_only_to_who_may_follow_it(answered):
    from django.template import Context, Template
    from django.test import RequestFactory

    from portal.accounts.models import User

    template = Template("{% load history %}{% history_link record %}")
    request = RequestFactory().get("/")
    request.user = User.objects.get(email="lead@example.com")
    lead_sees = template.render(Context({"request": request, "record": request.user}))
    assert lead_sees == ""  # a person's timeline is for auditors
    service = answered.review.service
    assert "History" in template.render(Context({"request": request, "record": service}))


def test_a_database_that_cannot_cut_union_arms_gets_the_same_page(
    auditor, client_for, answered, service, monkeypatch
):
    """The demo's SQLite refuses LIMIT inside a UNION: the arms are merged in Python, to
    the same lines in the same order."""
    url = timeline(service)
    with_union = line_ids(client_for(auditor).get(url).content.decode())
    monkeypatch.setattr(connection.features, "supports_slicing_ordering_in_compound", False)
    merged = line_ids(client_for(auditor).get(url).content.decode())
    assert merged == with_union
    assert len(merged) > 3
