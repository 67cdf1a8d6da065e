"""The review workspace (issue 13): the overview's rows, sections, filters and pages, its
cost at any size, the item's editor, saving with htmx, "Checks pass: mark as met",
changing an approved review, submitting, and signing off while exceptions wait."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from checklists.parsers import parse_file
from checklists.services import checklist_import
from reviews import services, signoffs, waivers
from reviews.checks.collectors.base import Outcome, Target
from reviews.checks.collectors.runner import Job
from reviews.checks.services import outcomes_store
from reviews.evidence import evidence_add
from reviews.models import (
    Answer,
    AnswerStatus,
    CheckRun,
    CheckRunTrigger,
    Comment,
    Evidence,
    EvidenceKind,
    Review,
    ReviewState,
    ReviewVisit,
    SignOff,
    Waiver,
    WaiverState,
)
from reviews.proposals import CHECKS_DISAGREE
from reviews.workspace import EMPTY, FILTERS, PAGE_SIZE
from tests.factories import AnswerFactory, ServiceFactory

pytestmark = pytest.mark.django_db

A = AnswerStatus
HTMX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = '<script>alert("pwned")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"
READERS = ["reviewer", "manager", "auditor", "admin"]  # read a Benefits review, never answer

# Six items in two sections, four bound to automated checks (see ``workspace``).
WORKSPACE_MD = b"""---
title: Workspace
slug: workspace
checks:
  health-answers: [http.health]
  redirects-to-https: [http.https_redirect, http.hsts]
  robots-file: [http.robots]
  security-contact: [http.status_page]
---
## Operations
- Runbook exists {#runbook}
- **Health answers** {#health-answers}
- **Backups run nightly** {#backups}

## Security
- **Redirects to HTTPS** {#redirects-to-https}
- Robots file {#robots-file}
- Security contact listed {#security-contact}
"""


def import_checklist(markdown: bytes, name: str = "w.md"):
    return checklist_import(parsed=parse_file(name, markdown).checklist, by=None, publish=True)


def store_results(service, results: dict[str, Outcome]) -> CheckRun:
    """Results stored the way a sweep stores them: one run, the standings moved."""
    run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=service)
    jobs = [Job(key, Target(service_id=service.pk), {}) for key in results]
    outcomes_store(run, jobs, list(results.values()))
    return run


def answer_for(review: Review, text: str) -> Answer:
    return Answer.objects.select_related("item").get(review=review, item__text=text)


def answer(review: Review, text: str, status: str, by, **fields) -> Answer:
    return AnswerFactory(review=review, item_text=text, status=status, by=by, **fields)


@pytest.fixture
def run(service):
    """The checks' results for the Benefits portal: health fails, both HTTPS checks pass,
    robots fails; the status page never ran."""
    return store_results(
        service,
        {
            "http.health": Outcome.failed("The health check answered 500."),
            "http.https_redirect": Outcome.passed("http:// redirects to https://."),
            "http.hsts": Outcome.passed("HSTS is set for a year."),
            "http.robots": Outcome.failed("No robots.txt."),
        },
    )


@pytest.fixture
def workspace(service, lead, reviewer, run):
    """The Benefits portal reviewed on the workspace checklist:
    - Runbook: met, owned by the lead, with a note of evidence and a reviewer's comment;
    - Health answers (must-have): met, owned by the lead, but its check fails
      (a contradiction);
    - Backups (must-have): not started;
    - Redirects to HTTPS (must-have): not started, both its checks pass ("mark as met");
    - Robots file: not met, its check fails, an exception pending;
    - Security contact: not started, its check never ran."""
    version = import_checklist(WORKSPACE_MD).version
    review = services.review_start(service=service, checklist_version=version, by=lead)
    runbook = answer(review, "Runbook exists", A.MET, lead, owner=lead)
    answer(review, "Health answers", A.MET, lead, owner=lead)
    robots = answer(review, "Robots file", A.NOT_MET, lead, justification="Not yet")
    evidence_add(
        answer=runbook,
        by=lead,
        kind=EvidenceKind.NOTE,
        note="In the wiki",
        effective_date=timezone.localdate(),
    )
    services.comment_add(answer=runbook, by=reviewer, body="Which wiki?")
    waivers.waiver_request(
        answer=robots,
        by=lead,
        rationale="Nothing to crawl",
        compensating_controls="None needed",
        expires_on=timezone.localdate() + timedelta(days=30),
    )
    review.refresh_from_db()
    return review


def item_url(review: Review, answer: Answer) -> str:
    return reverse("reviews:item", args=[review.pk, answer.pk])


def mark_met_url(review: Review, answer: Answer) -> str:
    return reverse("reviews:answer_mark_met", args=[review.pk, answer.pk])


def shown(html: str, review: Review) -> list[str]:
    """The item texts of the overview's rows, in page order."""
    answers = review.answers.select_related("item")
    positions = {a.item.text: html.find(f'id="answer-{a.pk}"') for a in answers}
    return [text for text, at in sorted(positions.items(), key=lambda p: p[1]) if at >= 0]


def row_of(html: str, answer: Answer) -> str:
    """The overview's row of one item (its <li>)."""
    found = re.search(rf'<li[^>]*id="answer-{answer.pk}".*?</li>', html, re.DOTALL)
    assert found, f"no row for {answer}"
    return found.group(0)


def overview(client: Client, review: Review, **params) -> str:
    response = client.get(review.get_absolute_url(), params)
    assert response.status_code == 200
    return response.content.decode()


def assert_sent_to_sign_in(response) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


# --- the overview's rows ------------------------------------------------------------------------


def test_each_row_shows_what_the_item_stands_at(client_for, workspace, lead):
    html = overview(client_for(lead), workspace)
    rows = {a.item.text: row_of(html, a) for a in workspace.answers.select_related("item")}

    health = rows["Health answers"]
    assert "health-answers" in health  # the item's ref
    assert "Must-have" in health and ">Met<" in health
    assert str(lead) in health  # the owner
    assert "1 check fails" in health
    assert "Contradiction:" in health  # met, but its check fails
    assert "0 evidence" in health and "0 comments" in health

    runbook = rows["Runbook exists"]
    assert "Must-have" not in runbook
    assert "1 evidence" in runbook and "1 comment<" in runbook
    assert "preflight-row__checks" not in runbook  # no check bound

    robots = rows["Robots file"]
    assert ">Not met<" in robots and "1 check fails" in robots
    assert "Contradiction" not in robots  # failing, but not answered met
    assert "Exception: pending" in robots

    redirects = rows["Redirects to HTTPS"]
    assert ">Not started<" in redirects and "2 checks pass" in redirects
    assert "Checks pass: mark as met" in redirects
    assert "Checks: 1 not run" in rows["Security contact listed"]
    assert "Exception" not in rows["Backups run nightly"]


def test_the_overview_holds_no_editor_and_each_row_opens_its_own(client_for, workspace, lead):
    html = overview(client_for(lead), workspace)
    assert 'preflight-editor"' not in html and "Guidance" not in html
    for each in workspace.answers.all():
        url = item_url(workspace, each)
        assert f'href="{url}" hx-get="{url}" hx-target="#editor-{each.pk}"' in html
        assert f'id="editor-{each.pk}"' in html


def test_a_reviewer_sees_the_same_rows_without_the_mark_as_met_button(
    client_for, workspace, reviewer
):
    html = overview(client_for(reviewer), workspace)
    assert len(shown(html, workspace)) == 6
    assert "2 checks pass" in html
    assert "Checks pass: mark as met" not in html


def test_an_exception_approved_but_past_its_date_reads_lapsed(client_for, workspace, lead, manager):
    waiver = Waiver.objects.get(answer__review=workspace)
    waivers.waiver_decide(waiver=waiver, by=manager, approve=True)
    robots = answer_for(workspace, "Robots file")
    assert "Exception: approved" in row_of(overview(client_for(lead), workspace), robots)
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        row = row_of(overview(client_for(lead), workspace), robots)
    assert "Exception: lapsed" in row


def test_rows_are_grouped_by_section_must_haves_first_with_progress_and_an_index(
    client_for, workspace, lead
):
    html = overview(client_for(lead), workspace)
    assert shown(html, workspace) == [
        "Health answers",
        "Backups run nightly",
        "Runbook exists",
        "Redirects to HTTPS",
        "Robots file",
        "Security contact listed",
    ]
    assert re.search(
        r'<h2 id="section-operations"[^>]*>Operations <span[^>]*>2 of 3 met</span></h2>', html
    )
    assert re.search(
        r'<h2 id="section-security"[^>]*>Security <span[^>]*>0 of 3 met</span></h2>', html
    )
    index = re.search(r'<nav aria-label="Sections".*?</nav>', html, re.DOTALL).group(0)
    assert '<a href="?page=1#section-operations">Operations</a>' in index
    assert '<a href="?page=1#section-security">Security</a>' in index
    assert index.index("Operations") < index.index("Security")
    assert "2/3" in index and "0/3" in index


def test_the_summary_shows_readiness_open_must_haves_failing_checks_exceptions_and_signoffs(
    client_for, workspace, lead
):
    html = overview(client_for(lead), workspace)
    summary = re.search(r'<div id="review-summary".*?</div>', html, re.DOTALL).group(0)
    assert "Draft" in summary
    assert "Readiness 33%" in summary and "2 of 6 met" in summary
    assert "2 open must-haves" in summary
    assert "2 failing checks" in summary
    assert "1 pending exception" in summary
    assert "Sign-offs 0 of 1" in summary


# --- filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        ("all", None),
        ("open-must-haves", ["Backups run nightly", "Redirects to HTTPS"]),
        ("not-started", ["Backups run nightly", "Redirects to HTTPS", "Security contact listed"]),
        ("failing-checks", ["Health answers", "Robots file"]),
        ("contradictions", ["Health answers"]),
        ("mine", ["Health answers", "Runbook exists"]),
    ],
)
def test_each_filter_shows_its_items_and_is_kept_in_the_url(
    client_for, workspace, lead, show, expected
):
    html = overview(client_for(lead), workspace, show=show)
    everything = [
        "Health answers",
        "Backups run nightly",
        "Runbook exists",
        "Redirects to HTTPS",
        "Robots file",
        "Security contact listed",
    ]
    assert shown(html, workspace) == (expected or everything)
    assert re.search(rf'href="\?show={show}"[^>]*aria-current="page"', html)
    if expected is not None:
        count = len(expected)
        label = FILTERS[show].lower()
        assert f"{count} item{'s' if count != 1 else ''}: {label}" in html


def test_mine_is_what_is_assigned_to_whoever_looks(client_for, workspace, reviewer):
    html = overview(client_for(reviewer), workspace, show="mine")
    assert shown(html, workspace) == []
    assert EMPTY["mine"] in html


@pytest.mark.parametrize("show", ["everything", "", "<script>", "mine'--", "ALL", "since-signoff"])
def test_an_unknown_filter_shows_every_item(client_for, workspace, lead, show):
    # "since-signoff" is a reviewer's filter: a lead who asks for it sees everything.
    response = client_for(lead).get(workspace.get_absolute_url(), {"show": show})
    assert response.status_code == 200
    html = response.content.decode()
    assert len(shown(html, workspace)) == 6
    assert re.search(r'href="\?show=all"[^>]*aria-current="page"', html)
    assert "<script>" not in html.split("<body", 1)[1].replace('<script src="', "")


@pytest.fixture
def all_met(review, lead):
    """conftest's two-item review, both items met by the lead (no owner, no checks)."""
    answer(review, "Backups run", A.MET, lead)
    answer(review, "Dashboards exist", A.MET, lead)
    return review


@pytest.mark.parametrize(
    ("who", "show"),
    [
        ("lead", "open-must-haves"),
        ("lead", "not-started"),
        ("lead", "failing-checks"),
        ("lead", "contradictions"),
        ("lead", "mine"),
        ("reviewer", "mine"),
    ],
)
def test_a_filter_with_nothing_to_show_says_so(cast, client_for, all_met, who, show):
    html = overview(client_for(cast[who]), all_met, show=show)
    assert shown(html, all_met) == []
    assert EMPTY[show] in html
    assert "0 items:" in html


def test_the_reviewer_filter_is_offered_to_reviewers_only(cast, client_for, workspace):
    assert "?show=since-signoff" in overview(client_for(cast["reviewer"]), workspace)
    for who in ("lead", "manager", "auditor"):
        assert "?show=since-signoff" not in overview(client_for(cast[who]), workspace), who


def test_changed_since_my_last_visit_counts_from_the_visit_before_this_one(
    client_for, workspace, lead, reviewer
):
    client = client_for(lead)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        overview(client, workspace)  # the last visit
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        answer(workspace, "Backups run nightly", A.MET, lead)
        contact = answer_for(workspace, "Security contact listed")
        services.comment_add(answer=contact, by=reviewer, body="Who is it?")
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        html = overview(client, workspace, show="since-visit")
    assert shown(html, workspace) == ["Backups run nightly", "Security contact listed"]
    since = (start + timedelta(hours=1)).astimezone(timezone.get_current_timezone())
    assert f"(since {since:%Y-%m-%d %H:%M} UTC)" in html
    # Coming back within the visit gap (from an item, a reload) keeps the same "since".
    with time_machine.travel(start + timedelta(hours=3, minutes=10), tick=False):
        again = overview(client, workspace, show="since-visit")
    assert shown(again, workspace) == ["Backups run nightly", "Security contact listed"]
    visit = ReviewVisit.objects.get(review=workspace, user=lead)
    assert visit.previous_seen_at == start + timedelta(hours=1)


def test_a_first_visit_has_nothing_changed_since(client_for, workspace, lead):
    html = overview(client_for(lead), workspace, show="since-visit")
    assert shown(html, workspace) == []
    assert "This is your first visit to this review: every item is new to you." in html


def test_nothing_changed_since_the_last_visit_says_so(client_for, all_met, lead):
    client = client_for(lead)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        overview(client, all_met)
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        html = overview(client, all_met, show="since-visit")
    assert shown(html, all_met) == []
    assert EMPTY["since-visit"] in html


def test_since_my_signoff_says_so_before_any_signoff_and_when_nothing_changed(
    client_for, all_met, lead, reviewer, django_capture_on_commit_callbacks
):
    client = client_for(reviewer)
    html = overview(client, all_met, show="since-signoff")
    assert shown(html, all_met) == []
    assert "You have not signed this review off, so nothing is new since." in html
    # Committed, as a request's would be: the page (cached, reviews.pagecache) is
    # rendered again.
    with django_capture_on_commit_callbacks(execute=True):
        services.review_transition(review=all_met, action="submit", by=lead)
        signoffs.signoff_record(
            review=all_met, by=reviewer, role="security_reviewer", decision="approve"
        )
    html = overview(client, all_met, show="since-signoff")
    assert shown(html, all_met) == []
    assert EMPTY["since-signoff"] in html


def test_changed_since_my_signoff_shows_what_changed_after_it(client_for, review, lead, reviewer):
    answer(review, "Backups run", A.MET, lead)
    answer(review, "Dashboards exist", A.MET, lead)
    services.review_transition(review=review, action="submit", by=lead)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        signoffs.signoff_record(
            review=review,
            by=reviewer,
            role="security_reviewer",
            decision="request_changes",
            comment="Say where the dashboards are",
        )
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        answer(review, "Dashboards exist", A.MET, lead, notes="grafana.example.gov")
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        html = overview(client_for(reviewer), review, show="since-signoff")
    assert shown(html, review) == ["Dashboards exist"]
    assert re.search(r'href="\?show=since-signoff"[^>]*aria-current="page"', html)


# --- pages of items -----------------------------------------------------------------------------


def sized_markdown(sizes: list[int], name: str) -> bytes:
    """Sections of the given sizes, every other item a must-have; the first two items of
    the first section bound to checks (one failing, one passing: see ``store_results``)."""
    lines = [
        "---",
        f"title: Sized {name}",
        f"slug: sized-{name}",
        "checks:",
        "  item-0-0: [http.health]",
        "  item-0-1: [http.https_redirect, http.hsts]",
        "---",
    ]
    for s, size in enumerate(sizes):
        lines.append(f"## Section {s}")
        for i in range(size):
            text = f"Item {s}-{i} is in place"
            lines.append(f"- **{text}** {{#item-{s}-{i}}}" if i % 2 == 0 else f"- {text}")
    return "\n".join(lines).encode()


@pytest.fixture
def long_review(service, lead):
    """130 items: sections of 60, 50 and 20, so the third starts on page 2."""
    version = import_checklist(sized_markdown([60, 50, 20], "long")).version
    return services.review_start(service=service, checklist_version=version, by=lead)


def test_a_long_review_is_paged_and_page_two_shows_the_rest(client_for, long_review, lead):
    client = client_for(lead)
    first = shown(overview(client, long_review), long_review)
    html = overview(client, long_review, page=2)
    second = shown(html, long_review)
    assert (len(first), len(second)) == (PAGE_SIZE, 130 - PAGE_SIZE)
    assert not set(first) & set(second)
    assert len(set(first) | set(second)) == 130
    assert "Page 2 of 2" in html
    assert 'href="?show=all&amp;page=1"' in html  # Previous


def test_the_index_links_each_section_to_the_page_it_starts_on(client_for, long_review, lead):
    html = overview(client_for(lead), long_review)
    assert '<a href="?page=1#section-section-0">Section 0</a>' in html
    assert '<a href="?page=1#section-section-1">Section 1</a>' in html
    assert '<a href="?page=2#section-section-2">Section 2</a>' in html
    assert 'href="?show=all&amp;page=2"' in html  # Next


def test_a_filtered_long_review_pages_within_the_filter(client_for, long_review, lead):
    # 65 must-haves, none answered: one page, and the pager keeps the filter.
    html = overview(client_for(lead), long_review, show="open-must-haves")
    assert len(shown(html, long_review)) == 65
    assert "65 items: open must-haves" in html
    html = overview(client_for(lead), long_review, show="not-started", page=2)
    assert len(shown(html, long_review)) == 30
    assert 'href="?show=not-started&amp;page=1"' in html


@pytest.mark.parametrize(
    ("page", "rows"),
    [
        ("abc", PAGE_SIZE),
        ("", PAGE_SIZE),
        ("0", 30),
        ("-1", 30),
        ("1.5", PAGE_SIZE),
        ("999", 30),
        ("99999999999999999999", 30),
        ("<script>", PAGE_SIZE),
    ],
)
def test_a_bad_page_number_shows_a_page_and_never_fails(client_for, long_review, lead, page, rows):
    response = client_for(lead).get(long_review.get_absolute_url(), {"page": page})
    assert response.status_code == 200
    assert len(shown(response.content.decode(), long_review)) == rows


# --- cost at any size -----------------------------------------------------------------------------


def sized_review(service, lead, reviewer, items: int) -> Review:
    """A review of ``items`` items over four sections, with something in every column of a
    row: owners, evidence, comments, an exception, checks failing and passing."""
    sizes = [items // 4 + (1 if s < items % 4 else 0) for s in range(4)]
    version = import_checklist(sized_markdown(sizes, str(items)), f"{items}.md").version
    review = services.review_start(service=service, checklist_version=version, by=lead)
    assert review.item_count == items
    first_rows = review.answers.order_by(
        "item__section__order", "item__section_id", "-item__must_have", "item__order"
    )
    texts = list(first_rows.values_list("item__text", flat=True)[:4])
    for n, text in enumerate(texts):
        done = answer(review, text, A.MET if n % 2 == 0 else A.NOT_MET, lead, owner=lead)
        evidence_add(
            answer=done,
            by=lead,
            kind=EvidenceKind.NOTE,
            note="n",
            effective_date=timezone.localdate(),
        )
        services.comment_add(answer=done, by=reviewer, body="Why?")
        if done.status == A.NOT_MET:
            waivers.waiver_request(
                answer=done,
                by=lead,
                rationale="r",
                compensating_controls="c",
                expires_on=timezone.localdate() + timedelta(days=30),
            )
    return review


def queries(client: Client, url: str, **extra) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **extra)
    assert response.status_code == 200
    return len(captured.captured_queries)


# The overview on a return visit (the first visit inserts the visit row instead):
#   1 session, 2 user, 3 the user's roles (groups), 4 the security policy (reviewers: the
#   MFA rule) or the lead's team ids, 5 the review with its service (who may read it),
#   6 the person's last visit, 7 noting this one (a look within a minute of the last
#   costs neither: the cache remembers it), then, unless the page is served from the
#   cache: 8 the review with its service, team, version, checklist and creator,
#   9 the service's check standings, 10 the page's row count, 11 the section index's
#   progress (one grouped query), 12 one page of rows (items, sections, owners, with the
#   evidence and comment counts and the latest exception as subqueries), 13 sign-offs,
#   14 launch audits, 15 the latest journal notes.
# "failing-checks" reads the bound items once more; "since-visit" reads what changed
# (one UNION).
OVERVIEW_QUERIES = {
    "all": 15,
    "failing-checks": 16,
    "since-visit": 16,
    "open-must-haves": 15,
    "since-signoff": 15,  # not a lead's filter: the lead sees every item
}
# A reviewer who never signed off: when they did (never), and no count or rows to read.
REVIEWER_SINCE_SIGNOFF_QUERIES = 14


@pytest.fixture
def sizes(benefits_team, cast):
    """Two services of the lead's team reviewed at 57 items and at 1,000, their checks
    failing and passing (slow to build: used twice). Two services, so the second review
    carries nothing over from the first."""
    lead, reviewer = cast["lead"], cast["reviewer"]
    reviews = {}
    for items in (57, 1000):
        service = ServiceFactory(team=benefits_team, created_by=lead)
        store_results(
            service,
            {
                "http.health": Outcome.failed("The health check answered 500."),
                "http.https_redirect": Outcome.passed("Redirected."),
                "http.hsts": Outcome.passed("HSTS set."),
            },
        )
        reviews[items] = sized_review(service, lead, reviewer, items)
    return reviews


def test_the_overview_costs_the_same_queries_at_57_and_1000_items(cast, client_for, sizes):
    counts = {}
    for who in ("lead", "reviewer"):
        client = client_for(cast[who])
        for items, review in sizes.items():
            client.get(review.get_absolute_url())  # the first visit
            for show in OVERVIEW_QUERIES:
                # An earlier visit, two hours ago, for "changed since my last visit"
                # (and nothing cached: neither that look nor the page).
                ReviewVisit.objects.filter(review=review, user=cast[who]).update(
                    seen_at=timezone.now() - timedelta(hours=2)
                )
                cache.clear()
                url = f"{review.get_absolute_url()}?show={show}"
                counts[who, show, items] = queries(client, url)
    expected = {
        (who, show, items): OVERVIEW_QUERIES[show]
        for who in ("lead", "reviewer")
        for show in OVERVIEW_QUERIES
        for items in (57, 1000)
    }
    for items in (57, 1000):
        expected["reviewer", "since-signoff", items] = REVIEWER_SINCE_SIGNOFF_QUERIES
    assert counts == expected
    # Not just within budget: the 1,000 items are there, a page of them at a time.
    html = overview(client_for(cast["lead"]), sizes[1000])
    assert html.count('<li class="preflight-item') == PAGE_SIZE
    assert "Page 1 of 10" in html
    assert html.count(">1 evidence<") == 4 and html.count("Exception: pending") == 2


# The item's editor fragment (htmx): 1 session, 2 user, 3 roles, 4 team ids, 5 the
# review, 6 the answer (item, section, owner, last editor), 7 evidence, 8 comments,
# 9 exceptions, 10 sign-offs, 11 owner choices (the team's members), 12 the row (with its
# counts), 13 the check standings.
EDITOR_QUERIES = 13


def test_the_editor_costs_the_same_queries_at_any_size_and_with_any_history(
    client_for, sizes, lead
):
    client = client_for(lead)
    client.get(reverse("checklists:library"))  # settle the session
    counts = []
    for review in sizes.values():
        busy = review.answers.filter(comments__isnull=False).first()
        quiet = review.answers.filter(comments__isnull=True).last()
        for each in (busy, quiet):
            counts.append(queries(client, item_url(review, each), **HTMX))
    assert counts == [EDITOR_QUERIES] * 4, counts


# --- the item's editor ----------------------------------------------------------------------------


def test_the_item_page_without_htmx_is_a_whole_page_with_the_editor(client_for, workspace, lead):
    runbook = answer_for(workspace, "Runbook exists")
    response = client_for(lead).get(item_url(workspace, runbook))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "HX-Request" in response["Vary"]
    assert "<h1" in html and "Runbook exists" in html
    assert 'class="preflight-editor"' in html
    assert f'name="a{runbook.pk}-status"' in html  # the answer form
    assert "Guidance" in html
    assert "In the wiki" in html and "Which wiki?" in html  # evidence and comments
    assert "Add evidence" in html and "Add comment" in html
    assert 'id="review-summary"' in html


def test_the_item_with_htmx_is_the_editor_only(client_for, workspace, lead):
    robots = answer_for(workspace, "Robots file")
    response = client_for(lead).get(item_url(workspace, robots), **HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    html = response.content.decode()
    assert "<html" not in html and "<h1" not in html
    assert html.lstrip().startswith('<div class="preflight-editor"')
    assert f'name="a{robots.pk}-status"' in html
    assert "Nothing to crawl" in html  # the pending exception
    assert 'hx-swap-oob="true"' not in html  # reading changes nothing around it


@pytest.mark.parametrize("who", READERS)
def test_readers_see_the_editor_read_only(cast, client_for, workspace, who):
    runbook = answer_for(workspace, "Runbook exists")
    for extra in ({}, HTMX):
        response = client_for(cast[who]).get(item_url(workspace, runbook), **extra)
        assert response.status_code == 200, who
        html = response.content.decode()
        assert f'name="a{runbook.pk}-status"' not in html, who
        assert "Add evidence" not in html and "Request an exception" not in html, who
        assert "In the wiki" in html and "<strong>Met</strong>" in html, who


@pytest.mark.parametrize("who", ["other_lead", "nobody"])
def test_the_item_of_another_teams_review_is_not_found(cast, client_for, workspace, who):
    runbook = answer_for(workspace, "Runbook exists")
    for extra in ({}, HTMX):
        response = client_for(cast[who]).get(item_url(workspace, runbook), **extra)
        assert response.status_code == 404, who
        assert b"Runbook exists" not in response.content


def test_the_item_page_sends_visitors_to_sign_in(workspace):
    runbook = answer_for(workspace, "Runbook exists")
    assert_sent_to_sign_in(Client().get(item_url(workspace, runbook)))


def test_an_item_of_another_review_or_an_unknown_one_is_not_found(
    client_for, workspace, review, lead
):
    theirs = answer_for(review, "Backups run")
    client = client_for(lead)
    assert client.get(item_url(workspace, theirs)).status_code == 404
    for bad in ("999999", "99999999999999999999"):
        assert client.get(f"/reviews/{workspace.pk}/items/{bad}/").status_code == 404


def test_the_item_page_only_reads(client_for, workspace, lead):
    runbook = answer_for(workspace, "Runbook exists")
    assert client_for(lead).post(item_url(workspace, runbook)).status_code == 405


# --- saving an answer with htmx -------------------------------------------------------------------


def answer_data(answer: Answer, **fields) -> dict[str, str]:
    values = {
        "status": A.MET,
        "justification": "",
        "notes": "",
        "owner": "",
        "revision": str(answer.revision),
    } | {k: str(v) for k, v in fields.items()}
    return {f"a{answer.pk}-{name}": value for name, value in values.items()}


def save(client: Client, review: Review, answer: Answer, data: dict[str, str], htmx=True):
    url = reverse("reviews:answer", args=[review.pk, answer.pk])
    return client.post(url, data, **(HTMX if htmx else {}))


def test_an_htmx_save_swaps_nothing_but_the_row_summary_and_revision(client_for, workspace, lead):
    backups = answer_for(workspace, "Backups run nightly")
    data = answer_data(backups, notes="Nightly snapshots", owner=lead.pk)
    response = save(client_for(lead), workspace, backups, data)
    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"
    html = response.content.decode()
    assert "<html" not in html
    assert re.search(rf'<div class="preflight-row" id="row-{backups.pk}" hx-swap-oob="true"', html)
    assert re.search(r'<div id="review-summary"[^>]*hx-swap-oob="true"', html)
    assert re.search(rf'name="a{backups.pk}-revision" value="2"[^>]*hx-swap-oob="true"', html)
    assert "Saved." in html
    assert "1 open must-have" in html  # the summary, after this save
    row = re.search(rf'<div class="preflight-row" id="row-{backups.pk}".*?\n</div>', html, re.S)
    assert ">Met<" in row.group(0) and str(lead) in row.group(0)
    stored = Answer.objects.get(pk=backups.pk)
    assert (stored.status, stored.notes, stored.owner, stored.revision) == (
        A.MET,
        "Nightly snapshots",
        lead,
        2,
    )


def test_resending_the_same_save_is_a_success_and_saves_once(client_for, workspace, lead):
    backups = answer_for(workspace, "Backups run nightly")
    client = client_for(lead)
    data = answer_data(backups, notes="Nightly snapshots")
    history = backups.history.count()
    assert save(client, workspace, backups, data).status_code == 200
    again = save(client, workspace, backups, data)
    assert again.status_code == 200
    assert "while you were editing it" not in again.content.decode()
    stored = Answer.objects.get(pk=backups.pk)
    assert (stored.revision, stored.notes) == (2, "Nightly snapshots")
    assert backups.history.count() == history + 1
    # And the plain button after the htmx save: the same, back to the item.
    button = save(client, workspace, backups, data, htmx=False)
    assert button.status_code == 302
    assert button["Location"] == f"{workspace.get_absolute_url()}#answer-{backups.pk}"
    assert Answer.objects.get(pk=backups.pk).revision == 2


# --- "Checks pass: mark as met" -----------------------------------------------------------------


@pytest.fixture
def site_url(settings):
    settings.SITE_URL = "https://preflight.example.gov"
    return settings.SITE_URL


def test_mark_as_met_sets_met_and_links_each_result_as_evidence(
    client_for, workspace, lead, run, site_url
):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    response = client_for(lead).post(
        mark_met_url(workspace, redirects), {"revision": redirects.revision}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Marked as met, with the checks" in html
    assert "Checks pass: mark as met" not in html
    stored = Answer.objects.get(pk=redirects.pk)
    assert (stored.status, stored.revision, stored.updated_by) == (A.MET, 2, lead)
    evidence = list(Evidence.objects.filter(answer=redirects).order_by("pk"))
    link = f"{site_url}{reverse('reviews:check_run', args=[run.pk])}"
    assert [(e.kind, e.url) for e in evidence] == [(EvidenceKind.LINK, link)] * 2
    notes = " ".join(e.note for e in evidence)
    assert "http:// redirects to https://." in notes and "HSTS is set for a year." in notes
    assert all(e.created_by == lead for e in evidence)


def test_mark_as_met_twice_adds_the_evidence_once(client_for, workspace, lead, site_url):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    client = client_for(lead)
    data = {"revision": redirects.revision}
    assert client.post(mark_met_url(workspace, redirects), data, **HTMX).status_code == 200
    again = client.post(mark_met_url(workspace, redirects), data, **HTMX)
    assert again.status_code == 200
    assert Evidence.objects.filter(answer=redirects).count() == 2
    assert Answer.objects.get(pk=redirects.pk).revision == 2


def test_mark_as_met_without_htmx_goes_back_to_the_row(client_for, workspace, lead, site_url):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    client = client_for(lead)
    response = client.post(mark_met_url(workspace, redirects), {"revision": 1})
    assert response.status_code == 302
    assert response["Location"] == f"{workspace.get_absolute_url()}#answer-{redirects.pk}"
    page = client.get(response["Location"]).content.decode()
    assert "Marked as met" in page
    assert Answer.objects.get(pk=redirects.pk).status == A.MET


@pytest.mark.parametrize(
    "text", ["Health answers", "Robots file", "Security contact listed", "Runbook exists"]
)
def test_mark_as_met_is_refused_unless_every_bound_check_passes(client_for, workspace, lead, text):
    """A failing check, a check never run, no checks at all: nothing to propose."""
    chosen = answer_for(workspace, text)
    before = (chosen.status, chosen.revision)
    client = client_for(lead)
    response = client.post(mark_met_url(workspace, chosen), {"revision": chosen.revision}, **HTMX)
    assert response.status_code == 409
    assert "cannot be marked met from" in response.content.decode()
    stored = Answer.objects.get(pk=chosen.pk)
    assert (stored.status, stored.revision) == before
    assert Evidence.objects.filter(answer=chosen, kind=EvidenceKind.LINK).count() == 0
    plain = client.post(mark_met_url(workspace, chosen), {"revision": chosen.revision})
    assert plain.status_code == 302
    assert CHECKS_DISAGREE in client.get(plain["Location"]).content.decode()


def test_mark_as_met_is_refused_once_a_check_fails_since_the_page_loaded(
    client_for, workspace, lead, service
):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    store_results(service, {"http.hsts": Outcome.failed("HSTS is gone.")})
    response = client_for(lead).post(mark_met_url(workspace, redirects), {"revision": 1}, **HTMX)
    assert response.status_code == 409
    assert Answer.objects.get(pk=redirects.pk).status == A.NOT_STARTED
    assert not Evidence.objects.filter(answer=redirects).exists()


@pytest.mark.parametrize("revision", ["2", "abc", "", "0", "-1", "99999999999999999999"])
def test_mark_as_met_with_a_wrong_revision_is_refused(client_for, workspace, lead, revision):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    response = client_for(lead).post(
        mark_met_url(workspace, redirects), {"revision": revision}, **HTMX
    )
    assert response.status_code == 409
    assert "Marked as met" not in response.content.decode()
    assert Answer.objects.get(pk=redirects.pk).status == A.NOT_STARTED
    assert not Evidence.objects.filter(answer=redirects).exists()


def test_mark_as_met_after_someone_changed_the_answer_is_refused(client_for, workspace, lead):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    answer(workspace, "Redirects to HTTPS", A.PARTIALLY_MET, lead, justification="HSTS only")
    response = client_for(lead).post(mark_met_url(workspace, redirects), {"revision": 1}, **HTMX)
    assert response.status_code == 409
    assert "Someone changed this answer" in response.content.decode()
    assert Answer.objects.get(pk=redirects.pk).status == A.PARTIALLY_MET
    assert not Evidence.objects.filter(answer=redirects).exists()


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("other_lead", 404),
        ("nobody", 404),
        ("reviewer", 403),
        ("manager", 403),
        ("auditor", 403),
        ("admin", 403),
        ("anonymous", 302),
    ],
)
def test_only_the_teams_leads_mark_as_met(cast, client_for, workspace, who, status):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    client = Client() if who == "anonymous" else client_for(cast[who])
    response = client.post(mark_met_url(workspace, redirects), {"revision": 1}, **HTMX)
    if who == "anonymous":
        assert_sent_to_sign_in(response)
    else:
        assert response.status_code == status, who
    assert Answer.objects.get(pk=redirects.pk).status == A.NOT_STARTED
    assert not Evidence.objects.filter(answer=redirects).exists()


def test_mark_as_met_is_a_post(client_for, workspace, lead):
    redirects = answer_for(workspace, "Redirects to HTTPS")
    assert client_for(lead).get(mark_met_url(workspace, redirects)).status_code == 405


# --- an approved review asks before it reopens --------------------------------------------------


@pytest.fixture
def approved(review, lead, reviewer):
    """conftest's review, approved: Backups met, Dashboards not met; one sign-off."""
    answer(review, "Backups run", A.MET, lead)
    answer(review, "Dashboards exist", A.NOT_MET, lead)
    services.review_transition(review=review, action="submit", by=lead)
    signoffs.signoff_record(
        review=review, by=reviewer, role="security_reviewer", decision="approve"
    )
    review.refresh_from_db()
    assert review.state == ReviewState.APPROVED
    return review


WARNING = "This reopens the review and makes 1 sign-off stale."


def test_an_approved_review_warns_before_the_first_change(client_for, approved, lead, reviewer):
    html = overview(client_for(lead), approved)
    assert WARNING in html
    dashboards = answer_for(approved, "Dashboards exist")
    item = client_for(lead).get(item_url(approved, dashboards)).content.decode()
    # Each form of the editor asks, with a box to tick.
    boxes = re.findall(r'<input class="usa-checkbox__input" id="reopen-(\w+)-\d+"', item)
    assert sorted(boxes) == ["answer", "evidence", "exception"]
    assert f"Reopen the review. {WARNING}" in item
    # A reader changes nothing, so is not warned.
    assert WARNING not in overview(client_for(reviewer), approved)


def still_approved(review: Review) -> bool:
    review.refresh_from_db()
    signoff = SignOff.objects.get(review=review)
    return review.state == ReviewState.APPROVED and signoff.is_current


def write(kind: str, review: Review, answer: Answer) -> tuple[str, dict[str, str]]:
    base = f"/reviews/{review.pk}/answers/{answer.pk}/"
    if kind == "answer":
        return base, answer_data(answer, status=A.PARTIALLY_MET, justification="Half")
    if kind == "evidence":
        today = timezone.localdate().isoformat()
        return base + "evidence/", {"kind": "note", "note": "Tested", "effective_date": today}
    expires = (timezone.localdate() + timedelta(days=30)).isoformat()
    data = {"rationale": "Later", "compensating_controls": "Manual", "expires_on": expires}
    return base + "exceptions/", data


def written(kind: str, answer: Answer) -> bool:
    if kind == "answer":
        return Answer.objects.get(pk=answer.pk).revision != answer.revision
    if kind == "evidence":
        return Evidence.objects.filter(answer=answer).exists()
    return Waiver.objects.filter(answer=answer).exists()


@pytest.mark.parametrize("kind", ["answer", "evidence", "exception"])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_change_to_an_approved_review_without_reopen_is_refused(
    client_for, approved, lead, kind, htmx
):
    dashboards = answer_for(approved, "Dashboards exist")
    url, data = write(kind, approved, dashboards)
    response = client_for(lead).post(url, data, **(HTMX if htmx else {}))
    assert response.status_code == 409
    assert "tick “Reopen the review”" in response.content.decode()
    assert not written(kind, dashboards)
    assert still_approved(approved)


@pytest.mark.parametrize("kind", ["answer", "evidence", "exception"])
def test_a_confirmed_change_reopens_the_review_and_stales_the_signoff(
    client_for, approved, lead, kind
):
    dashboards = answer_for(approved, "Dashboards exist")
    url, data = write(kind, approved, dashboards)
    response = client_for(lead).post(url, data | {"reopen": "yes"}, **HTMX)
    assert response.status_code == 200
    assert written(kind, dashboards)
    approved.refresh_from_db()
    assert approved.state == ReviewState.DRAFT
    assert not SignOff.objects.get(review=approved).is_current
    html = response.content.decode()
    # The summary (out of band) shows the new state and the stale sign-off at once.
    summary = re.search(r'<div id="review-summary".*?</div>', html, re.DOTALL).group(0)
    assert "Draft" in summary and "(1 stale)" in summary


def test_mark_as_met_on_an_approved_review_needs_reopen_too(client_for, approved, lead):
    dashboards = answer_for(approved, "Dashboards exist")
    response = client_for(lead).post(
        mark_met_url(approved, dashboards), {"revision": dashboards.revision}, **HTMX
    )
    assert response.status_code == 409
    assert "Reopen the review" in response.content.decode()
    assert still_approved(approved)


# --- submitting -----------------------------------------------------------------------------------


def submit(client: Client, review: Review, **data):
    return client.post(reverse("reviews:review_action", args=[review.pk, "submit"]), data)


def test_a_review_with_nothing_answered_cannot_be_submitted(client_for, review, lead):
    client = client_for(lead)
    for data in ({}, {"confirm": "yes"}):
        response = submit(client, review, **data)
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert "Nothing in this review is answered yet" in page
        assert Review.objects.get(pk=review.pk).state == ReviewState.DRAFT


def test_submitting_with_open_must_haves_lists_them_and_asks_first(client_for, review, lead):
    answer(review, "Dashboards exist", A.MET, lead)
    backups = answer_for(review, "Backups run")
    client = client_for(lead)
    response = submit(client, review)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Submit with 1 open must-have?" in html
    assert f'href="{item_url(review, backups)}"' in html and "Backups run" in html
    assert "Dashboards exist" not in html
    assert 'name="confirm" value="yes"' in html
    assert Review.objects.get(pk=review.pk).state == ReviewState.DRAFT

    confirmed = submit(client, review, confirm="yes")
    assert confirmed.status_code == 302
    assert Review.objects.get(pk=review.pk).state == ReviewState.SUBMITTED


def test_a_review_without_open_must_haves_submits_at_once(client_for, review, lead):
    answer(review, "Backups run", A.MET, lead)
    response = submit(client_for(lead), review)
    assert response.status_code == 302
    assert Review.objects.get(pk=review.pk).state == ReviewState.SUBMITTED


@pytest.mark.parametrize("who", ["other_lead", "reviewer", "nobody"])
def test_confirming_a_submission_is_for_the_teams_leads_only(cast, client_for, review, lead, who):
    answer(review, "Dashboards exist", A.MET, lead)
    response = submit(client_for(cast[who]), review, confirm="yes")
    assert response.status_code in (403, 404)
    assert Review.objects.get(pk=review.pk).state == ReviewState.DRAFT


# --- sign-off waits for pending exceptions --------------------------------------------------------


@pytest.fixture
def waiting(review, lead):
    """conftest's review, submitted with one exception pending (Dashboards not met)."""
    answer(review, "Backups run", A.MET, lead)
    dashboards = answer(review, "Dashboards exist", A.NOT_MET, lead)
    waivers.waiver_request(
        answer=dashboards,
        by=lead,
        rationale="Next sprint",
        compensating_controls="Logs",
        expires_on=timezone.localdate() + timedelta(days=30),
    )
    services.review_transition(review=review, action="submit", by=lead)
    review.refresh_from_db()
    return review


BLOCKER = "1 exception is waiting for a decision: approve or refuse it before signing off."


def test_sign_off_is_disabled_with_the_reason_while_an_exception_waits(
    client_for, waiting, reviewer
):
    html = overview(client_for(reviewer), waiting)
    assert re.search(
        r'<button class="usa-button" type="button" disabled[^>]*>Sign off</button>', html
    )
    assert BLOCKER in html
    assert f'href="{reverse("reviews:signoff", args=[waiting.pk])}"' not in html
    assert "1 pending exception" in html


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_sign_off_page_sends_back_with_the_reason(client_for, waiting, reviewer, method):
    client = client_for(reviewer)
    url = reverse("reviews:signoff", args=[waiting.pk])
    data = {"role": "security_reviewer", "decision": "approve", "comment": ""}
    response = getattr(client, method)(url, data if method == "post" else None)
    assert response.status_code == 302
    assert response["Location"] == waiting.get_absolute_url()
    assert BLOCKER in client.get(response["Location"]).content.decode()
    assert not SignOff.objects.exists()
    assert Review.objects.get(pk=waiting.pk).state == ReviewState.SUBMITTED


def test_the_service_refuses_a_sign_off_while_an_exception_waits(waiting, reviewer):
    with pytest.raises(ValidationError, match="waiting for a decision"):
        signoffs.signoff_record(
            review=waiting, by=reviewer, role="security_reviewer", decision="approve"
        )
    assert not SignOff.objects.exists()


def test_sign_off_is_offered_once_the_exception_is_decided(client_for, waiting, reviewer, manager):
    waiver = Waiver.objects.get(answer__review=waiting)
    waivers.waiver_decide(waiver=waiver, by=manager, approve=True, comment="Fine for now")
    html = overview(client_for(reviewer), waiting)
    assert f'<a class="usa-button" href="{reverse("reviews:signoff", args=[waiting.pk])}">' in html
    assert BLOCKER not in html
    signoffs.signoff_record(
        review=waiting, by=reviewer, role="security_reviewer", decision="approve"
    )
    assert Review.objects.get(pk=waiting.pk).state == ReviewState.APPROVED
    assert Waiver.objects.get().state == WaiverState.APPROVED


# --- hostile input in the editor's forms ---------------------------------------------------------


def editor_post(client: Client, review: Review, answer: Answer, tail: str, data: dict):
    return client.post(f"/reviews/{review.pk}/answers/{answer.pk}/{tail}", data, **HTMX)


@pytest.mark.parametrize(
    ("tail", "data", "kept"),
    [
        ("comments/", {"body": SCRIPT + "x" * 5001}, SCRIPT),
        ("comments/", {"body": "   "}, None),
        (
            "evidence/",
            {"kind": "note", "note": f"{SCRIPT} \x00", "effective_date": "2025-01-01"},
            SCRIPT,
        ),
        (
            "evidence/",
            {"kind": "link", "url": "javascript:alert(1)", "effective_date": "2025-01-01"},
            "javascript:alert(1)",
        ),
        (
            "evidence/",
            {"kind": "note", "note": SCRIPT, "effective_date": "not a date"},
            SCRIPT,
        ),
        ("evidence/", {"kind": "<b>", "note": SCRIPT, "effective_date": "2025-01-01"}, SCRIPT),
        (
            "exceptions/",
            {"rationale": SCRIPT, "compensating_controls": "c", "expires_on": "31/02/2025"},
            SCRIPT,
        ),
        (
            "exceptions/",
            {"rationale": SCRIPT, "compensating_controls": "c", "expires_on": "2000-01-01"},
            SCRIPT,
        ),
    ],
    ids=[
        "comment-too-long",
        "comment-blank",
        "evidence-nul-byte",
        "evidence-javascript-url",
        "evidence-bad-date",
        "evidence-bad-kind",
        "exception-bad-date",
        "exception-in-the-past",
    ],
)
def test_bad_input_in_the_editor_is_422_keeping_what_was_typed(
    client_for, workspace, lead, tail, data, kept
):
    robots = answer_for(workspace, "Robots file")  # not met: an exception may be asked for
    counts = (Comment.objects.count(), Evidence.objects.count(), Waiver.objects.count())
    response = editor_post(client_for(lead), workspace, robots, tail, data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "<html" not in html
    assert 'role="alert"' in html and "Nothing was saved." in html
    assert SCRIPT not in html
    if kept == SCRIPT:
        assert ESCAPED in html
    elif kept:
        assert kept in html
    assert (Comment.objects.count(), Evidence.objects.count(), Waiver.objects.count()) == counts


def test_a_bad_decision_or_withdrawal_is_422_and_changes_nothing(
    client_for, workspace, lead, manager
):
    robots = answer_for(workspace, "Robots file")
    waiver = Waiver.objects.get(answer=robots)
    refused = editor_post(
        client_for(manager),
        workspace,
        robots,
        f"exceptions/{waiver.pk}/decide/",
        {"decision": "maybe", "comment": SCRIPT},
    )
    assert refused.status_code == 422
    assert SCRIPT not in refused.content.decode()
    assert Waiver.objects.get(pk=waiver.pk).state == WaiverState.REQUESTED

    runbook = answer_for(workspace, "Runbook exists")
    evidence = Evidence.objects.get(answer=runbook)
    blank = editor_post(
        client_for(lead), workspace, runbook, f"evidence/{evidence.pk}/withdraw/", {"reason": " "}
    )
    assert blank.status_code == 422
    assert Evidence.objects.get(pk=evidence.pk).withdrawn_at is None


def test_a_good_comment_with_htmx_comes_back_in_the_editor_with_the_row(
    client_for, workspace, reviewer
):
    robots = answer_for(workspace, "Robots file")
    response = editor_post(client_for(reviewer), workspace, robots, "comments/", {"body": SCRIPT})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Comment added." in html
    assert SCRIPT not in html and ESCAPED in html
    assert re.search(rf'<div class="preflight-row" id="row-{robots.pk}" hx-swap-oob="true"', html)
    assert "1 comment<" in html
    assert Comment.objects.get(answer=robots).body == SCRIPT


def test_without_htmx_a_good_comment_goes_back_to_the_item_page(client_for, workspace, reviewer):
    robots = answer_for(workspace, "Robots file")
    client = client_for(reviewer)
    url = f"/reviews/{workspace.pk}/answers/{robots.pk}/comments/"
    response = client.post(url, {"body": "Looks fine"})
    assert response.status_code == 302
    assert response["Location"] == item_url(workspace, robots)
    assert "Looks fine" in client.get(response["Location"]).content.decode()
