"""The activity feed (issue 12): one feed of every change and security event, each filter,
keyset pages that neither skip nor repeat a line (equal times included) and cost the same
however deep, who may read it, the exports (the whole record for auditors only, a
portfolio's record for managers and product leads), and hostile query strings.

Changes are made through the real services and pages; lines in bulk go through the
ledger's own writer (``ledger.append_many``), the one way lines are stored.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlencode, urljoin

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.audit import ledger
from portal.audit.feed import Cursor
from portal.audit.models import AuditEvent, AuditKind, Entry
from reviews.services import SERVICE_FIELDS
from tests.factories import AnswerFactory, ServiceFactory

pytestmark = pytest.mark.django_db

FEED = reverse("audit:activity")
EXPORT_CSV = reverse("audit:export_csv")
EXPORT_JSON = reverse("audit:export_json")
PORTFOLIO_CSV = reverse("audit:portfolio_csv")
PORTFOLIO_JSON = reverse("audit:portfolio_json")
LINE = re.compile(r'<tr id="line-(\d+)">')
OLDER = re.compile(r'href="([^"]*)" rel="next"')


def line_ids(page: str) -> list[int]:
    return [int(found) for found in LINE.findall(page)]


def older_link(page: str, base: str = FEED) -> str | None:
    found = OLDER.search(page)
    return urljoin(base, unescape(found.group(1))) if found else None


_SOURCE_IDS = itertools.count(1)


def bulk_lines(count: int, *, at: datetime, step: timedelta, **fields: object) -> list[Entry]:
    """``count`` lines about one made-up record, through the ledger's writer."""
    fields.setdefault("reason", "bulk")
    lines = [
        Entry(
            at=at - step * n,
            record_type="reviews.service",
            record_id="999999",
            record_label="Bulk service",
            change="changed",
            changes={"Name": [f"old {n}", f"new {n}"]},
            root="reviews.service:999999",
            source_table="bulk",
            source_id=next(_SOURCE_IDS),
            content_hash="0" * 64,
            **fields,
        )
        for n in range(count)
    ]
    return ledger.append_many(lines)


@pytest.fixture
def permits_service(other_lead, permits_team):
    return ServiceFactory(
        name="Permits desk", slug="permits-desk", team=permits_team, created_by=other_lead
    )


@pytest.fixture
def edited(service, lead, client_for):
    """``service`` renamed through its edit page in request ``edit-request-1``."""
    form = {k: "" if v is None else v for k, v in model_to_dict(service, SERVICE_FIELDS).items()}
    response = client_for(lead).post(
        reverse("reviews:service_edit", args=[service.slug]),
        form | {"name": "Benefits portal 2"},
        HTTP_X_REQUEST_ID="edit-request-1",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    service.refresh_from_db()
    return service


# --- what the feed shows -------------------------------------------------------------------


def test_the_feed_merges_every_models_history_with_the_security_events(
    auditor, client_for, edited, answer
):
    AnswerFactory(review=answer.review, item_text="Backups run", notes="Nightly")
    page = client_for(auditor).get(FEED).content.decode()
    assert "Role granted (Product lead)" in page  # a security event
    assert "Benefits portal 2" in page and "Changed" in page  # a service's history
    assert "<del>Benefits portal</del> → <ins>Benefits portal 2</ins>" in page
    assert "Answer" in page and "Nightly" in page  # an answer's, field by field
    assert "Service edited" in page  # the reason
    assert 'href="/activity/?request=edit-request-1"' in page  # the request filters the feed
    # Kinds of record read as words, never as labels.
    assert not re.search(r"\b(reviews|audit|accounts)\.[a-z]", re.sub(r"<[^>]*>", "", page))


def test_each_line_links_to_its_records_timeline(auditor, client_for, edited):
    page = client_for(auditor).get(FEED).content.decode()
    assert f'href="/activity/records/reviews.service/{edited.pk}/"' in page


# --- filters ---------------------------------------------------------------------------------


def test_the_service_filter_keeps_that_services_lines_and_what_belongs_to_it(
    auditor, client_for, answer, permits_service
):
    AnswerFactory(review=answer.review, item_text="Backups run", notes="Nightly")
    client = client_for(auditor)
    page = client.get(FEED, {"service": "Benefits portal"}).content.decode()
    ids = line_ids(page)
    lines = Entry.objects.filter(pk__in=ids)
    assert ids and {line.root for line in lines} == {f"reviews.service:{answer.review.service_id}"}
    assert {"reviews.service", "reviews.review", "reviews.answer"} <= {
        line.record_type for line in lines
    }
    # By its slug too; an unknown name is an error in words, the rest of the feed shown.
    assert line_ids(client.get(FEED, {"service": "benefits-portal"}).content.decode()) == ids
    response = client.get(FEED, {"service": "Nowhere"})
    assert response.status_code == 200
    assert "No service you may read is called “Nowhere”." in response.content.decode()


def test_two_services_of_one_name_are_told_apart_by_their_slug(
    auditor, client_for, service, benefits_team, lead
):
    ServiceFactory(name="Benefits portal", slug="benefits-two", team=benefits_team, created_by=lead)
    page = client_for(auditor).get(FEED, {"service": "benefits portal"}).content.decode()
    assert "Several services are called “benefits portal”" in page


def test_the_person_filter_keeps_the_lines_they_wrote(auditor, client_for, edited, lead):
    page = client_for(auditor).get(FEED, {"person": "LEAD@example.com"}).content.decode()
    lines = Entry.objects.filter(pk__in=line_ids(page))
    assert lines and {line.actor_id for line in lines} == {lead.pk}
    page = client_for(auditor).get(FEED, {"person": "ghost@example.com"}).content.decode()
    assert "Nobody has the email address “ghost@example.com”." in page


def test_the_kind_of_record_filter_reads_as_nouns(auditor, client_for, edited):
    client = client_for(auditor)
    page = client.get(FEED).content.decode()
    assert '<option value="reviews.service">Service</option>' in page
    assert '<option value="audit.event">Security event</option>' in page
    filtered = client.get(FEED, {"record": "reviews.service"}).content.decode()
    lines = Entry.objects.filter(pk__in=line_ids(filtered))
    assert lines and {line.record_type for line in lines} == {"reviews.service"}
    events = client.get(FEED, {"record": "audit.event"}).content.decode()
    assert {e.record_type for e in Entry.objects.filter(pk__in=line_ids(events))} == {"audit.event"}


def test_the_kind_of_change_filter(auditor, client_for, edited):
    client = client_for(auditor)
    changed = client.get(FEED, {"kind": "changed"}).content.decode()
    assert {e.change for e in Entry.objects.filter(pk__in=line_ids(changed))} == {"changed"}
    granted = client.get(FEED, {"kind": "role_granted"}).content.decode()
    assert {e.change for e in Entry.objects.filter(pk__in=line_ids(granted))} == {"role_granted"}
    assert '<option value="role_granted" selected>Role granted</option>' in granted


def test_the_request_filter_shows_everything_one_request_did(auditor, client_for, edited):
    page = client_for(auditor).get(FEED, {"request": "edit-request-1"}).content.decode()
    lines = Entry.objects.filter(pk__in=line_ids(page))
    assert lines and {line.request_id for line in lines} == {"edit-request-1"}
    assert Entry.objects.filter(request_id="edit-request-1").count() == len(lines)


def test_the_date_range_filter_is_inclusive_of_both_days(auditor, client_for, db):
    day = datetime(2024, 3, 10, tzinfo=UTC)
    bulk_lines(3, at=day + timedelta(hours=23, minutes=59), step=timedelta(days=1))
    # Lines on 10 March 23:59, 9 March 23:59 and 8 March 23:59.
    client = client_for(auditor)
    page = client.get(FEED, {"since": "2024-03-09", "until": "2024-03-10"}).content.decode()
    shown = Entry.objects.filter(pk__in=line_ids(page))
    assert sorted(line.at.day for line in shown) == [9, 10]
    wrong_way = client.get(FEED, {"since": "2024-03-10", "until": "2024-03-09"})
    assert "The end date comes before the start date." in wrong_way.content.decode()


# --- keyset pages ------------------------------------------------------------------------------


def walk(client, params: dict[str, str] | None = None) -> list[list[int]]:
    """Every page of the feed, following its Older links."""
    pages: list[list[int]] = []
    url: str | None = FEED + ("?" + urlencode(params) if params else "")
    while url:
        page = client.get(url).content.decode()
        pages.append(line_ids(page))
        url = older_link(page)
        assert len(pages) < 50
    return pages


def test_pages_neither_skip_nor_repeat_a_line_when_many_share_a_moment(auditor, client_for):
    moment = datetime(2024, 6, 1, 12, tzinfo=UTC)
    # 130 lines: runs of 7 lines at one same moment, the runs a second apart.
    lines = [
        line
        for run in range(19)
        for line in bulk_lines(
            7, at=moment - timedelta(seconds=run), step=timedelta(0), reason=f"run {run}"
        )
    ][:130]
    pages = walk(client_for(auditor), {"record": "reviews.service"})
    assert [len(p) for p in pages] == [50, 50, 33]
    shown = [pk for page in pages for pk in page]
    expected = list(
        Entry.objects.filter(record_type="reviews.service")
        .order_by("-at", "-id")
        .values_list("pk", flat=True)
    )
    assert shown == expected and len(set(shown)) == len(shown)
    assert set(line.pk for line in lines) <= set(shown)


def test_the_newest_link_goes_back_to_the_first_page(auditor, client_for):
    bulk_lines(60, at=datetime(2024, 6, 1, tzinfo=UTC), step=timedelta(minutes=1))
    client = client_for(auditor)
    first = client.get(FEED, {"record": "reviews.service"}).content.decode()
    assert "Newest" not in first
    older = older_link(first)
    assert older is not None and "record=reviews.service" in older
    second = client.get(older).content.decode()
    newest = re.search(r'href="([^"]*)"><span class="usa-pagination__link-text">Newest', second)
    assert newest is not None and "before" not in newest.group(1)
    again = client.get(urljoin(FEED, unescape(newest.group(1)))).content.decode()
    assert line_ids(again) == line_ids(first)


def test_a_deep_page_costs_the_same_queries_as_the_first(auditor, client_for):
    lines = bulk_lines(400, at=datetime(2024, 6, 1, tzinfo=UTC), step=timedelta(seconds=1))
    client = client_for(auditor)
    client.get(FEED)  # the session's first use
    deep = Cursor(lines[300].at, lines[300].pk)
    # session, user, roles (groups), the page of lines (51 rows): no count, no offset.
    with CaptureQueriesContext(connection) as first:
        assert client.get(FEED).status_code == 200
    with CaptureQueriesContext(connection) as later:
        response = client.get(FEED, {"before": str(deep)})
    assert response.status_code == 200
    assert len(first.captured_queries) == len(later.captured_queries) <= 5
    sql = " ".join(q["sql"] for q in later.captured_queries).upper()
    assert "OFFSET" not in sql and "COUNT(" not in sql
    assert line_ids(response.content.decode())[0] == lines[301].pk


def test_a_cursor_survives_its_round_trip_through_the_address(db):
    cursor = Cursor(datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC), 42)
    assert str(cursor) == "2024-06-01T12:00:00.123456Z|42"
    assert Cursor.parse(str(cursor)) == cursor


# --- who may read it --------------------------------------------------------------------------

NEW_URLS = [FEED, EXPORT_CSV, EXPORT_JSON]


@pytest.mark.parametrize("url", NEW_URLS)
def test_anonymous_readers_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", ["lead", "other_lead", "reviewer", "manager", "admin", "nobody"])
@pytest.mark.parametrize("url", NEW_URLS)
def test_the_feed_and_the_whole_record_are_for_auditors_only(cast, client_for, role, url):
    response = client_for(cast[role]).get(url)
    assert response.status_code == 403
    if url == FEED:
        assert "The activity record is for auditors." in response.content.decode()


@pytest.mark.parametrize("url", [PORTFOLIO_CSV, PORTFOLIO_JSON])
def test_the_portfolio_export_needs_sign_in(client, url):
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("role", ["reviewer", "admin", "nobody"])
def test_reviewers_admins_and_people_without_a_role_export_no_record(cast, client_for, role):
    for url in (PORTFOLIO_CSV, PORTFOLIO_JSON):
        response = client_for(cast[role]).get(url)
        assert response.status_code == 403


def test_the_feed_changes_nothing(auditor, client_for):
    client = client_for(auditor)
    for url in (FEED, EXPORT_CSV, reverse("audit:portfolio_csv")):
        assert client.post(url).status_code == 405


# --- exports --------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def read_json(response) -> list[dict[str, object]]:
    return json.loads(b"".join(response.streaming_content))


def test_the_exports_hold_exactly_the_filtered_feeds_lines(auditor, client_for, edited):
    client = client_for(auditor)
    filters = {"service": "benefits-portal", "kind": "changed"}
    page = client.get(FEED, filters).content.decode()
    shown = line_ids(page)
    assert shown
    as_csv = client.get(EXPORT_CSV, filters)
    assert as_csv["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv["Content-Disposition"]
    rows = read_csv(as_csv)
    assert [int(row["Line"]) for row in rows] == shown
    assert {row["Change"] for row in rows} == {"Changed"}
    assert rows[0]["Kind of record"] in {"service", "review", "answer"}
    as_json = read_json(client.get(EXPORT_JSON, filters))
    assert [line["id"] for line in as_json] == shown
    newest = Entry.objects.get(pk=shown[0])
    assert as_json[0]["chain_hash"] == newest.chain_hash
    assert as_json[0]["changes"] == newest.changes


def test_the_export_streams_every_line_not_one_page(auditor, client_for):
    bulk_lines(1234, at=datetime(2024, 6, 1, tzinfo=UTC), step=timedelta(0))
    response = client_for(auditor).get(EXPORT_JSON, {"record": "reviews.service"})
    assert response.streaming
    lines = read_json(response)
    assert len(lines) == 1234 and len({line["id"] for line in lines}) == 1234


def test_a_spreadsheet_does_not_run_typed_text_as_a_formula(auditor, client_for):
    bulk_lines(1, at=datetime(2024, 6, 1, tzinfo=UTC), step=timedelta(0), reason="=HYPERLINK(1)")
    rows = read_csv(client_for(auditor).get(EXPORT_CSV, {"record": "reviews.service"}))
    assert rows[0]["Reason"] == "'=HYPERLINK(1)"


def test_invalid_export_filters_are_a_clear_400(auditor, client_for):
    response = client_for(auditor).get(EXPORT_CSV, {"since": "yesterday"})
    assert response.status_code == 400
    assert "The filters are not valid: From: Enter a valid date." in response.content.decode()


def test_a_manager_exports_the_record_of_every_service_and_nothing_else(
    manager, client_for, edited, permits_service
):
    rows = read_csv(client_for(manager).get(PORTFOLIO_CSV))
    roots = {row["Belongs to"] for row in rows}
    assert roots == {f"reviews.service:{edited.pk}", f"reviews.service:{permits_service.pk}"}
    # No security events, people or teams: those are the auditors' to export.
    assert "security event" not in {row["Kind of record"] for row in rows}


def test_a_product_lead_exports_their_teams_services_record_only(
    lead, client_for, edited, permits_service
):
    client = client_for(lead)
    lines = read_json(client.get(PORTFOLIO_JSON))
    assert lines and {line["root"] for line in lines} == {f"reviews.service:{edited.pk}"}
    one = read_json(client.get(PORTFOLIO_JSON, {"service": "benefits-portal"}))
    assert [line["id"] for line in one] == [line["id"] for line in lines]
    # Another team's service is not one they may read: a 400 in words, no lines.
    refused = client.get(PORTFOLIO_CSV, {"service": "permits-desk"})
    assert refused.status_code == 400
    assert "No service you may read is called “permits-desk”." in refused.content.decode()


# --- hostile query strings ---------------------------------------------------------------------

HOSTILE = [
    "x" * 5000,
    "\x00",
    "a\x00b",
    "<script>alert(1)</script>",
    "2024-13-45",
    "99999-01-01",
    "0000-00-00",
    "-1",
    "%00",
    "' OR 1=1 --",
    "\u202e\ufeff",
    "2024-06-01T12:00:00Z|1",
    "2024-06-01T12:00:00|1",
    "2024-06-01T12:00:00Z|99999999999999999999",
    "9999-12-31T23:59:59.999999Z|1",
    "0001-01-01T00:00:00Z|1",
    "|",
    "2024-06-01T12:00:00+25:00|1",
]
PARAMS = ["service", "person", "record", "kind", "request", "since", "until", "before", "page"]


@pytest.mark.parametrize("param", PARAMS)
def test_no_value_of_any_filter_breaks_the_feed(auditor, client_for, edited, param):
    client = client_for(auditor)
    for value in HOSTILE:
        response = client.get(FEED, {param: value})
        assert response.status_code == 200, (param, value)
        assert b"<script>alert" not in response.content
        export = client.get(EXPORT_CSV, {param: value})
        assert export.status_code in (200, 400), (param, value)
        if export.status_code == 200:
            b"".join(export.streaming_content)


def test_the_last_day_of_the_calendar_is_a_date_like_any_other(auditor, client_for, edited):
    response = client_for(auditor).get(FEED, {"since": "9999-12-31", "until": "9999-12-31"})
    assert response.status_code == 200
    assert line_ids(response.content.decode()) == []


def test_a_bad_cursor_says_so_and_starts_from_the_newest(auditor, client_for, edited):
    response = client_for(auditor).get(FEED, {"before": "yesterday|1"})
    page = unescape(response.content.decode())
    assert response.status_code == 200
    assert "This page's place in the record is not valid" in page
    assert line_ids(page)[0] == Entry.objects.order_by("-at", "-id").first().pk


def test_every_export_is_itself_in_the_record(auditor, manager, client_for, edited):
    """18F data access: who took which part of the record out, with which filters."""
    client_for(auditor).get(EXPORT_CSV, {"kind": "changed"})
    client_for(manager).get(reverse("audit:portfolio_json"))
    taken = AuditEvent.objects.filter(kind=AuditKind.EXPORTED).order_by("id")
    assert [(e.actor, e.details["what"]) for e in taken] == [
        (auditor, "The record (CSV)"),
        (manager, "The portfolio's record (JSON)"),
    ]
    assert taken[0].details["filters"] == {"kind": "changed"}
    assert Entry.objects.filter(source_table="audit_auditevent", change="exported").count() == 2
