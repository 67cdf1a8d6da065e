"""The reviewer queue (reviews.queue): what waits on my roles, filtered, counted and paged
in SQL from the reviews' stored summaries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.accounts import services as accounts
from portal.accounts.roles import Role
from reviews import queue, services, signoffs, waivers
from reviews.models import AnswerStatus, Review, ReviewState
from reviews.portfolio.seed import seed_portfolio, seed_reviewer
from tests.factories import AnswerFactory, ChecklistVersionFactory, ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("reviews:queue")
ROW = '<th scope="row">'

TWO_MUST_HAVES = b"""---
title: Two must-haves
slug: two-must-haves
---
## Ops
- **Backups are taken**
- **Alerts reach a human**
- Dashboards exist
"""
FOR_MANAGERS = b"""---
title: Signed by managers
slug: signed-by-managers
signoff_roles: [manager]
---
## Ops
- **Backups are taken**
"""
FOR_BOTH = b"""---
title: Signed by both
slug: signed-by-both
signoff_roles: [manager, security_reviewer]
---
## Ops
- **Backups are taken**
"""


def submitted(team, lead, name, *, checklist=None, at=None, answered=True) -> Review:
    """A review of a new service of ``team``, one must-have met, submitted by ``lead``
    at ``at`` (now by default)."""
    service = ServiceFactory(name=name, team=team)
    review = ReviewFactory(
        service=service, checklist_version=checklist or ChecklistVersionFactory(), by=lead
    )
    if answered:
        AnswerFactory(review=review, status=AnswerStatus.MET, by=lead)
    with time_machine.travel(at or timezone.now(), tick=False):
        services.review_transition(review=review, action="submit", by=lead)
    return Review.objects.get(pk=review.pk)


def set_status(review, text, status, by, justification=""):
    answer = review.answers.select_related("item").get(item__text=text)
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(status, justification, "", None),
        based_on_revision=answer.revision,
        by=by,
    )


def names(response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', response.content.decode())


def heading(response) -> str:
    found = re.search(r'<h2 class="margin-top-3">([^<]+)</h2>', response.content.decode())
    return found.group(1) if found else ""


# --- who may use it --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in():
    response = Client().get(QUEUE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("who", ["lead", "manager", "auditor", "admin", "nobody"])
def test_everyone_without_a_reviewer_role_is_refused(cast, client_for, who):
    response = client_for(cast[who]).get(QUEUE)
    assert response.status_code == 403
    assert b"The review queue is for reviewers." in response.content


def test_it_only_reads(reviewer, client_for):
    assert client_for(reviewer).post(QUEUE).status_code == 405


# --- what it lists -----------------------------------------------------------------------------


def test_it_lists_only_submitted_reviews_waiting_on_my_roles_oldest_first(
    benefits_team, lead, reviewer, client_for
):
    now = timezone.now()
    newer = submitted(benefits_team, lead, "Newer", at=now - timedelta(hours=5))
    older = submitted(benefits_team, lead, "Older", at=now - timedelta(days=3, hours=2))
    ReviewFactory(service=ServiceFactory(name="Draft", team=benefits_team), by=lead)
    managers_only = submitted(
        benefits_team,
        lead,
        "Managers only",
        checklist=ChecklistVersionFactory(markdown=FOR_MANAGERS),
    )
    approved = submitted(benefits_team, lead, "Approved")
    signoffs.signoff_record(
        review=approved, by=reviewer, role="security_reviewer", decision="approve"
    )
    assert Review.objects.get(pk=approved.pk).state == ReviewState.APPROVED
    assert managers_only.awaiting_roles == ",manager,"

    response = client_for(reviewer).get(QUEUE)
    assert response.status_code == 200
    assert names(response) == ["Older", "Newer"]
    assert heading(response) == "2 reviews waiting"
    assert [older.pk, newer.pk] == [
        int(pk) for pk in re.findall(r'<a href="/reviews/(\d+)/">', response.content.decode())
    ]


def test_each_row_shows_the_team_checklist_role_names_figures_and_how_long_it_waited(
    benefits_team, lead, reviewer, client_for
):
    checklist = ChecklistVersionFactory(markdown=TWO_MUST_HAVES)
    review = submitted(
        benefits_team, lead, "Claims", checklist=checklist, at=timezone.now() - timedelta(days=3)
    )
    html = client_for(reviewer).get(QUEUE).content.decode()
    row = html[html.index(ROW) : html.index("</tr>", html.index(ROW))]
    assert "Claims" in row and "Benefits Team" in row
    assert f"Two must-haves v{checklist.number}" in row
    assert "<td>Security reviewer</td>" in row
    assert f"<td>{review.readiness_percent}%</td>" in row
    assert "<td>1</td>" in row  # open must-haves: "Alerts reach a human"
    assert "<td>0</td>" in row  # pending exceptions, not emphasised
    assert ">3 days</time>" in row


def test_pending_exceptions_are_counted_and_stand_out(benefits_team, lead, reviewer, client_for):
    review = ReviewFactory(
        service=ServiceFactory(name="Waived", team=benefits_team),
        checklist_version=ChecklistVersionFactory(markdown=TWO_MUST_HAVES),
        by=lead,
    )
    answer = set_status(review, "Backups are taken", AnswerStatus.NOT_MET, lead, "Not yet")
    waivers.waiver_request(
        answer=answer,
        by=lead,
        rationale="Backups start next sprint",
        compensating_controls="Nightly export",
        expires_on=timezone.localdate() + timedelta(days=30),
    )
    services.review_transition(review=review, action="submit", by=lead)
    submitted(benefits_team, lead, "Plain")
    html = client_for(reviewer).get(QUEUE).content.decode()
    assert html.count('<strong class="text-secondary-dark">1 to decide</strong>') == 1


def test_a_reader_with_two_signing_roles_sees_which_of_theirs_each_review_waits_on(
    benefits_team, lead, reviewer, client_for
):
    accounts.user_set_roles(
        user=reviewer, roles={Role.SECURITY_REVIEWER, Role.MANAGER}, reason="test"
    )
    submitted(benefits_team, lead, "A both", checklist=ChecklistVersionFactory(markdown=FOR_BOTH))
    submitted(
        benefits_team, lead, "B managers", checklist=ChecklistVersionFactory(markdown=FOR_MANAGERS)
    )
    submitted(benefits_team, lead, "C security")
    html = client_for(reviewer).get(QUEUE).content.decode()
    cells = re.findall(r"</td>\s*<td>([^<]*)</td>\s*<td>\d+%</td>", html)
    assert cells == ["Security reviewer, Manager", "Manager", "Security reviewer"]


@pytest.mark.parametrize(
    ("elapsed", "said"),
    [
        (timedelta(seconds=20), "under a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=59, seconds=59), "59 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=23, minutes=59), "23 hours"),
        (timedelta(days=1), "1 day"),
        (timedelta(days=12, hours=23), "12 days"),
    ],
)
def test_how_long_a_review_waited_is_said_in_its_largest_whole_unit(elapsed, said):
    assert queue.waited_for(elapsed) == said


# --- the queue follows the stored summary, which follows every change ----------------------


def test_a_review_leaves_the_queue_once_signed_and_comes_back_when_the_sign_off_goes_stale(
    benefits_team, lead, reviewer, client_for
):
    """The sign-off of a review that is not ready yet (a must-have still open) keeps it
    submitted but takes it off the reviewer's queue; when what it vouched for changes (here
    an exception expires) the sign-off is stale and the review waits on them again."""
    review = ReviewFactory(
        service=ServiceFactory(name="Claims", team=benefits_team),
        checklist_version=ChecklistVersionFactory(markdown=TWO_MUST_HAVES),
        by=lead,
    )
    backups = set_status(review, "Backups are taken", AnswerStatus.NOT_MET, lead, "Not yet")
    set_status(review, "Alerts reach a human", AnswerStatus.NOT_MET, lead, "Pager not bought")
    today = timezone.localdate()
    waiver = waivers.waiver_request(
        answer=backups,
        by=lead,
        rationale="Backups start next sprint",
        compensating_controls="Nightly export",
        expires_on=today + timedelta(days=10),
    )
    services.review_transition(review=review, action="submit", by=lead)
    waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    client = client_for(reviewer)
    assert names(client.get(QUEUE)) == ["Claims"]

    signoffs.signoff_record(
        review=Review.objects.get(pk=review.pk),
        by=reviewer,
        role="security_reviewer",
        decision="approve",
    )
    assert Review.objects.get(pk=review.pk).state == ReviewState.SUBMITTED  # alerts still open
    assert names(client.get(QUEUE)) == []

    waivers.waivers_expire(today=today + timedelta(days=11))
    review.refresh_from_db()
    assert review.state == ReviewState.SUBMITTED
    assert review.awaiting_roles == ",security_reviewer,"
    assert names(client.get(QUEUE)) == ["Claims"]


# --- filters, counts and pages -----------------------------------------------------------------


@pytest.fixture
def mixed_queue(benefits_team, lead, reviewer):
    """Reviews waiting on the reviewer (who is also a manager): one on security alone,
    one on managers alone, one on security with a pending exception."""
    accounts.user_set_roles(
        user=reviewer, roles={Role.SECURITY_REVIEWER, Role.MANAGER}, reason="test"
    )
    now = timezone.now()
    submitted(benefits_team, lead, "Security", at=now - timedelta(days=3))
    submitted(
        benefits_team,
        lead,
        "Managers",
        checklist=ChecklistVersionFactory(markdown=FOR_MANAGERS),
        at=now - timedelta(days=2),
    )
    review = ReviewFactory(
        service=ServiceFactory(name="Excepted", team=benefits_team),
        checklist_version=ChecklistVersionFactory(markdown=TWO_MUST_HAVES),
        by=lead,
    )
    answer = set_status(review, "Backups are taken", AnswerStatus.NOT_MET, lead, "Not yet")
    waivers.waiver_request(
        answer=answer,
        by=lead,
        rationale="Backups start next sprint",
        compensating_controls="Nightly export",
        expires_on=timezone.localdate() + timedelta(days=30),
    )
    services.review_transition(review=review, action="submit", by=lead)
    return reviewer


@pytest.mark.parametrize(
    ("query", "expected", "said"),
    [
        ("", ["Security", "Managers", "Excepted"], "3 reviews waiting"),
        ("?role=security_reviewer", ["Security", "Excepted"], "2 of 3 reviews waiting"),
        ("?role=manager", ["Managers"], "1 of 3 reviews waiting"),
        ("?pending=on", ["Excepted"], "1 of 3 reviews waiting"),
        ("?role=manager&pending=on", [], "0 of 3 reviews waiting"),
    ],
)
def test_the_filters_narrow_the_queue_and_the_count_says_of_how_many(
    mixed_queue, client_for, query, expected, said
):
    response = client_for(mixed_queue).get(QUEUE + query)
    assert response.status_code == 200
    assert names(response) == expected
    assert heading(response) == said


def test_the_filters_are_kept_in_the_form(mixed_queue, client_for):
    html = client_for(mixed_queue).get(QUEUE + "?role=manager&pending=on").content.decode()
    assert '<option value="manager" selected>Manager</option>' in html
    assert re.search(r'name="pending" id="id_pending" value="on" checked', html)
    # Only the reader's own signing roles are offered.
    assert re.findall(r'<option value="([^"]*)"', html) == ["", "security_reviewer", "manager"]


def test_a_filter_that_matches_nothing_says_so_not_that_the_queue_is_empty(mixed_queue, client_for):
    html = client_for(mixed_queue).get(QUEUE + "?role=manager&pending=on").content.decode()
    assert "No waiting review matches these filters." in html
    assert "No reviews are waiting on you." not in html


def test_an_empty_queue_says_nothing_waits(reviewer, client_for):
    response = client_for(reviewer).get(QUEUE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No reviews are waiting on you." in html
    assert "matches these filters" not in html
    assert ROW not in html


@pytest.mark.parametrize(
    "query",
    ["?role=bogus", "?role=auditor", "?role=" + "x" * 5000, "?role=%00", "?role=admin"],
)
def test_a_role_the_reader_does_not_sign_as_is_refused_with_the_error_never_500(
    mixed_queue, client_for, query
):
    response = client_for(mixed_queue).get(QUEUE + query)
    assert response.status_code == 400
    said = " ".join(response.content.decode().split())
    assert "Some filters were not understood and are left out: role: Select a valid choice." in said
    assert names(response) == ["Security", "Managers", "Excepted"]  # the filter is left out


def test_a_bad_filter_on_an_empty_queue_still_shows_the_error(reviewer, client_for):
    response = client_for(reviewer).get(QUEUE + "?role=bogus")
    assert response.status_code == 400
    assert b"Some filters were not understood" in response.content


def test_the_queue_is_paged_by_25_keeping_the_filters_in_the_links(reviewer, client_for):
    seed_portfolio(services=150, items=4, days=0)  # every fifth is submitted: 30 waiting
    client = client_for(reviewer)
    first = client.get(QUEUE + "?role=security_reviewer")
    assert len(names(first)) == 25
    assert heading(first) == "30 of 30 reviews waiting"
    html = first.content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?role=security_reviewer&amp;page=2"' in html
    second = client.get(QUEUE + "?role=security_reviewer&page=2")
    assert len(names(second)) == 5
    assert set(names(first)).isdisjoint(names(second))
    for junk in ("0", "-1", "abc", "9" * 30):  # a page that is not one: a page, never 500
        assert client.get(QUEUE + f"?page={junk}").status_code == 200


def test_the_seeded_queue_is_oldest_first(reviewer, client_for):
    seed_portfolio(services=150, items=4, days=0)
    submitted_at = list(
        Review.objects.filter(state=ReviewState.SUBMITTED)
        .order_by("submitted_at", "id")
        .values_list("service__name", flat=True)[:25]
    )
    assert names(client_for(reviewer).get(QUEUE)) == submitted_at


# --- query budget --------------------------------------------------------------------------------

# 1 the session, 2 the user, 3 their roles, 4 the security policy (reviewers may have to use
# MFA), 5 the waiting reviews counted, 6 a page of them, 7 their services with teams, 8 their
# checklist versions with checklists. A filter adds 9: the whole queue counted, for "3 of 12".
QUEUE_QUERIES = 8
FILTERED_QUERIES = 9


@pytest.mark.parametrize("services", [10, 500])
def test_the_queue_costs_the_same_queries_at_any_size(
    client_for, django_assert_num_queries, services
):
    seed_portfolio(services=services, items=4, days=0)
    client = client_for(seed_reviewer())
    client.get(reverse("checklists:library"))  # settle the session (the first request's work)
    waiting = services // 5
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(QUEUE)
    assert len(names(response)) == min(waiting, queue.PAGE_SIZE)
    assert heading(response) == f"{waiting} reviews waiting"
    with django_assert_num_queries(FILTERED_QUERIES):
        response = client.get(QUEUE + "?role=security_reviewer&pending=on")
    assert response.status_code == 200


def test_a_page_is_four_queries_and_its_rows_read_the_stored_summary(reviewer):
    seed_portfolio(services=200, items=4, days=0)
    assert reviewer.roles  # loaded once per request, before the page
    with CaptureQueriesContext(connection) as captured:
        waiting = queue.queue_page(reviewer, queue.QueueFilters(), "1")
        for row in waiting.rows:
            assert row.review.service.team.name
            assert row.review.checklist_version.checklist.title
            assert row.waiting_role_labels == ["Security reviewer"]
    assert len(captured.captured_queries) == 4
    assert len(waiting.rows) == 25 and waiting.total == 40
