"""The manager's portfolio (issue 11): who sees which rows, every filter and tile, sorting,
hostile query strings, the heat map, the CSV and the report, the stored summaries a row
shows, the page cache, and query budgets that do not grow with services.

Situations are built through the real services (start, answer, submit, sign off, request
and decide exceptions), never by writing a review's stored fields.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from html import unescape

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.accounts import services as account_services
from portal.accounts.roles import Role
from reviews import services
from reviews.models import (
    AnswerStatus,
    Hosting,
    ImpactLevel,
    Review,
    ReviewState,
    Service,
    Waiver,
    WaiverState,
)
from reviews.portfolio import cache as portfolio_cache
from reviews.portfolio import selectors
from reviews.portfolio.seed import seed_portfolio, seed_reader
from reviews.signoffs import signoff_record
from reviews.waivers import waiver_decide, waiver_request
from tests.factories import (
    AnswerFactory,
    ChecklistVersionFactory,
    ReviewFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

A = AnswerStatus
S = ReviewState
SECURITY = Role.SECURITY_REVIEWER.value

PORTFOLIO = reverse("reviews:portfolio")
HEAT_MAP = reverse("reviews:portfolio_heat_map")
TRENDS = reverse("reviews:portfolio_trends")
CSV_URL = reverse("reviews:portfolio_csv")
REPORT = reverse("reviews:portfolio_report")

# One section, a must-have and a plain item, signed off by a manager (not a security
# reviewer): what "blocked on me" means for a manager.
MANAGER_SIGNED = b"""---
title: Manager signed
slug: manager-signed
signoff_roles: [manager]
---
## Ops
- **Backups run**
- Dashboards exist
"""


# --- reading the pages ---------------------------------------------------------------------

ROW = re.compile(
    r'<th scope="row" data-label="Service"><a href="[^"]*">(?P<name>[^<]*)</a></th>'
    r"(?P<cells>.*?)</tr>",
    re.S,
)
CELL = re.compile(r'<td data-label="(?P<label>[^"]+)"[^>]*>(?P<value>.*?)</td>', re.S)
TAG = re.compile(r'<span class="usa-tag preflight-status">([^<]*)</span>')


def names(response) -> list[str]:
    """The services a portfolio page (or the report) lists, in order."""
    return [unescape(m["name"]) for m in ROW.finditer(response.content.decode())]


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def cells(response) -> dict[str, dict[str, str]]:
    """Each row's cells by their label, as text."""
    return {
        unescape(m["name"]): {c["label"]: _text(c["value"]) for c in CELL.finditer(m["cells"])}
        for m in ROW.finditer(response.content.decode())
    }


def labels(response) -> dict[str, list[str]]:
    """Each row's status labels."""
    return {
        unescape(m["name"]): TAG.findall(m["cells"])
        for m in ROW.finditer(response.content.decode())
    }


def total(response) -> int:
    found = re.search(
        r'<h2 class="margin-top-3">([\d,]+) services?</h2>', response.content.decode()
    )
    assert found, "the page says how many services match"
    return int(found.group(1).replace(",", ""))


def tile_counts(response) -> dict[str, int]:
    page = response.content.decode()
    return {
        label: int(count)
        for count, label in re.findall(
            r'<span class="preflight-tile__count">(\d+)</span> '
            r'<span class="preflight-tile__label">([^<]+)</span>',
            page,
        )
    }


# --- building situations through the real services -------------------------------------------


def answered(review: Review, text: str, status: str, by) -> Review:
    AnswerFactory(review=review, item_text=text, status=status, by=by)
    return Review.objects.get(pk=review.pk)


def submitted(review: Review, by) -> Review:
    return services.review_transition(review=review, action="submit", by=by)


def signed(review: Review, by, role: str = SECURITY, decision: str = "approve") -> Review:
    comment = "Fix the backups." if decision == "request_changes" else ""
    signoff_record(review=review, by=by, role=role, decision=decision, comment=comment)
    return Review.objects.get(pk=review.pk)


def exception_for(review: Review, text: str, by, *, days: int) -> Waiver:
    """An exception requested by ``by`` for the (not met) item ``text``, lasting ``days``."""
    answer = review.answers.get(item__text=text)
    return waiver_request(
        answer=answer,
        by=by,
        rationale="The vendor ships the fix next quarter.",
        compensating_controls="Daily manual checks.",
        expires_on=timezone.localdate() + timedelta(days=days),
    )


def lead_and_manager(team):
    """A product lead of ``team`` who is also a manager."""
    user = UserFactory(email="lead-manager@example.com")
    account_services.user_set_roles(
        user=user, roles=[Role.PRODUCT_LEAD, Role.MANAGER], reason="Runs the team and more"
    )
    account_services.team_add_members(team=team, users=[user])
    return user


def service_of(team, name: str, **fields) -> Service:
    return ServiceFactory(name=name, slug=name.lower().replace(" ", "-"), team=team, **fields)


@pytest.fixture
def checklist_a(db):
    return ChecklistVersionFactory()


@pytest.fixture
def checklist_b(db):
    return ChecklistVersionFactory()


@pytest.fixture
def world(cast, benefits_team, permits_team, checklist_a, checklist_b):
    """Eight services, one per situation the filters tell apart.

    name     team      hosting    impact    checklist       situation
    Alpha    Benefits  aws        high      A               draft, must-have not met, an
                                                            exception requested (blocked)
    Bravo    Benefits  cloud.gov  moderate  A               submitted, all met (in review)
    Charlie  Permits   other      low       -               no review (not started)
    Delta    Permits   aws        moderate  B               approved (ready)
    Echo     Permits   cloud.gov  high      B               changes requested (blocked)
    Foxtrot  Benefits  other      low       A               draft, nothing answered
    Golf     Benefits  aws        moderate  B               draft, all met, target date
                                                            passed (overdue)
    Hotel    Permits   other      high      manager-signed  submitted, awaits a manager
    """
    lead, other_lead, reviewer = cast["lead"], cast["other_lead"], cast["reviewer"]
    benefits, permits = benefits_team, permits_team
    made = {}

    def start(name, team, hosting, impact, version, by, **options):
        service = service_of(team, name, hosting=hosting, impact_level=impact)
        made[name] = service
        return ReviewFactory(service=service, checklist_version=version, by=by, **options)

    alpha = start("Alpha", benefits, Hosting.AWS, ImpactLevel.HIGH, checklist_a, lead)
    alpha = answered(alpha, "Backups run", A.NOT_MET, lead)
    exception_for(alpha, "Backups run", lead, days=60)

    bravo = start("Bravo", benefits, Hosting.CLOUD_GOV, ImpactLevel.MODERATE, checklist_a, lead)
    answered(bravo, "Backups run", A.MET, lead)
    answered(bravo, "Dashboards exist", A.MET, lead)
    submitted(bravo, lead)

    made["Charlie"] = service_of(
        permits, "Charlie", hosting=Hosting.OTHER, impact_level=ImpactLevel.LOW
    )

    delta = start("Delta", permits, Hosting.AWS, ImpactLevel.MODERATE, checklist_b, other_lead)
    answered(delta, "Backups run", A.MET, other_lead)
    signed(submitted(delta, other_lead), reviewer)

    echo = start("Echo", permits, Hosting.CLOUD_GOV, ImpactLevel.HIGH, checklist_b, other_lead)
    answered(echo, "Backups run", A.MET, other_lead)
    signed(submitted(echo, other_lead), reviewer, decision="request_changes")

    start("Foxtrot", benefits, Hosting.OTHER, ImpactLevel.LOW, checklist_a, lead)

    # Started ten days ago with a target date three days later: a week late now.
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
        golf = start(
            "Golf",
            benefits,
            Hosting.AWS,
            ImpactLevel.MODERATE,
            checklist_b,
            lead,
            target_date=timezone.localdate() + timedelta(days=3),
        )
        answered(golf, "Backups run", A.MET, lead)
        answered(golf, "Dashboards exist", A.MET, lead)

    hotel = start(
        "Hotel",
        permits,
        Hosting.OTHER,
        ImpactLevel.HIGH,
        ChecklistVersionFactory(markdown=MANAGER_SIGNED),
        other_lead,
    )
    answered(hotel, "Backups run", A.MET, other_lead)
    submitted(hotel, other_lead)
    return {name: Service.objects.get(pk=s.pk) for name, s in made.items()}


EVERYONE = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel"]
BENEFITS = ["Alpha", "Bravo", "Foxtrot", "Golf"]


def test_the_world_is_what_its_table_says(world):
    states = {
        name: (s.current_review.state if s.current_review else None) for name, s in world.items()
    }
    assert states == {
        "Alpha": S.DRAFT,
        "Bravo": S.SUBMITTED,
        "Charlie": None,
        "Delta": S.APPROVED,
        "Echo": S.CHANGES_REQUESTED,
        "Foxtrot": S.DRAFT,
        "Golf": S.DRAFT,
        "Hotel": S.SUBMITTED,
    }


# --- 1. who sees what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "query", "expected"),
    [
        # A product lead sees their teams' services, "mine" by default; asking for all
        # changes nothing, since a lead reads nothing else.
        ("lead", "", BENEFITS),
        ("lead", "?scope=all", BENEFITS),
        ("other_lead", "", ["Charlie", "Delta", "Echo", "Hotel"]),
        # Every reader sees every service, and has no scope to narrow.
        ("reviewer", "", EVERYONE),
        ("manager", "", EVERYONE),
        ("auditor", "", EVERYONE),
        ("admin", "", EVERYONE),
        ("manager", "?scope=mine", EVERYONE),
    ],
)
def test_each_person_sees_the_rows_they_may_read(world, cast, client_for, who, query, expected):
    response = client_for(cast[who]).get(PORTFOLIO + query)
    assert response.status_code == 200
    assert names(response) == expected
    assert total(response) == len(expected)
    assert ('name="scope"' in response.content.decode()) == (who in ("lead", "other_lead"))


def test_a_lead_who_is_also_a_manager_sees_their_teams_first_and_everything_when_asked(
    world, benefits_team, client_for
):
    both = lead_and_manager(benefits_team)
    client = client_for(both)
    assert names(client.get(PORTFOLIO)) == BENEFITS
    assert names(client.get(PORTFOLIO + "?scope=mine")) == BENEFITS
    assert names(client.get(PORTFOLIO + "?scope=all")) == EVERYONE


@pytest.mark.parametrize("url", [PORTFOLIO, HEAT_MAP, TRENDS, CSV_URL, REPORT])
def test_someone_without_a_role_is_refused_every_portfolio_page(review, cast, client_for, url):
    response = client_for(cast["nobody"]).get(url)
    assert response.status_code == 403
    assert b"The portfolio is for product leads" in response.content


@pytest.mark.parametrize("url", [PORTFOLIO, HEAT_MAP, TRENDS, CSV_URL, REPORT])
def test_anonymous_visitors_are_sent_to_sign_in_from_every_portfolio_page(review, url):
    response = Client().get(url + "?team=benefits")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")
    assert "team%3Dbenefits" in response["Location"]


def test_a_lead_never_gets_another_teams_rows_in_the_csv_report_or_heat_map(
    world, cast, client_for
):
    client = client_for(cast["lead"])
    csv_rows = read_csv(client.get(CSV_URL + "?scope=all"))
    assert [r[0] for r in csv_rows[1:]] == BENEFITS
    assert names(client.get(REPORT + "?scope=all")) == BENEFITS
    heat = client.get(HEAT_MAP + "?scope=all").content.decode()
    for outsider in ("Charlie", "Delta", "Echo", "Hotel"):
        assert f">{outsider}</a>" not in heat


# --- 2. filters -------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_every_filter_narrows_to_exactly_its_services(world, cast, client_for, checklist_a):
    client = client_for(cast["manager"])
    slug_a = checklist_a.checklist.slug
    slug_b = world["Delta"].current_review.checklist_version.checklist.slug
    cases = {
        "team=benefits": BENEFITS,
        "team=permits": ["Charlie", "Delta", "Echo", "Hotel"],
        "hosting=aws": ["Alpha", "Delta", "Golf"],
        "hosting=cloud_gov": ["Bravo", "Echo"],
        "hosting=other": ["Charlie", "Foxtrot", "Hotel"],
        "impact=high": ["Alpha", "Echo", "Hotel"],
        "impact=moderate": ["Bravo", "Delta", "Golf"],
        "impact=low": ["Charlie", "Foxtrot"],
        "state=none": ["Charlie"],
        "state=draft": ["Alpha", "Foxtrot", "Golf"],
        "state=submitted": ["Bravo", "Hotel"],
        "state=changes_requested": ["Echo"],
        "state=approved": ["Delta"],
        "state=withdrawn": [],
        f"checklist={slug_a}": ["Alpha", "Bravo", "Foxtrot"],
        f"checklist={slug_b}": ["Delta", "Echo", "Golf"],
        "checklist=manager-signed": ["Hotel"],
        "q=ALPH": ["Alpha"],
        "q=o": ["Bravo", "Echo", "Foxtrot", "Golf", "Hotel"],
        "q=%20%20delta%20": ["Delta"],
        "q=zulu": [],
        "status=ready": ["Delta"],
        "status=blocked": ["Alpha", "Echo"],
        "status=in_review": ["Bravo", "Hotel"],
        "status=overdue": ["Golf"],
        "status=not_started": ["Charlie", "Foxtrot"],
        # Filters combine.
        "team=benefits&status=blocked": ["Alpha"],
        "hosting=aws&impact=moderate&state=draft": ["Golf"],
        f"checklist={slug_a}&status=in_review": ["Bravo"],
    }
    for query, expected in cases.items():
        response = client.get(f"{PORTFOLIO}?{query}")
        assert response.status_code == 200, query
        assert names(response) == expected, query
        assert total(response) == len(expected), query
        if not expected:
            assert b"No service matches these filters." in response.content


def test_the_filters_are_conditions_of_one_query_not_python(world, cast):
    """What the page counts and lists is narrowed in the database: one query returns
    exactly the matching names, whatever the filters."""
    manager = cast["manager"]
    filters = selectors.Filters(team="benefits", hosting=Hosting.AWS, status="overdue")
    rows = selectors.services(manager, filters)
    with CaptureQueriesContext(connection) as queries:
        found = list(rows.values_list("name", flat=True))
    assert found == ["Golf"]
    (query,) = queries.captured_queries
    sql = query["sql"]
    assert "WHERE" in sql and "'aws'" in sql and "target_date" in sql


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        # Bravo waits for a security sign-off; Alpha has an exception to decide.
        ("reviewer", ["Alpha", "Bravo"]),
        # Hotel waits for a manager's sign-off; Alpha has an exception to decide.
        ("manager", ["Alpha", "Hotel"]),
        # Auditors neither sign these off nor decide exceptions.
        ("auditor", []),
        ("lead", []),
    ],
)
def test_blocked_on_me_lists_what_waits_for_my_sign_off_or_my_decision(
    world, cast, client_for, who, expected
):
    response = client_for(cast[who]).get(PORTFOLIO + "?blocked=on&scope=all")
    assert response.status_code == 200
    assert names(response) == expected


def test_blocked_on_me_forgets_a_review_once_i_have_signed_and_an_exception_once_decided(
    world, cast, client_for
):
    reviewer = cast["reviewer"]
    signed(Review.objects.get(pk=world["Bravo"].current_review_id), reviewer)
    waiver = Waiver.objects.get(answer__review=world["Alpha"].current_review_id)
    waiver_decide(waiver=waiver, by=cast["manager"], approve=False, comment="No.")
    assert names(client_for(reviewer).get(PORTFOLIO + "?blocked=on")) == []


@pytest.fixture
def expiring_world(cast, benefits_team, checklist_a):
    """Services whose current review has an exception for "Dashboards exist" that is:
    Soon (approved, 10 days left), Later (approved, 40 days left), Lapsed (approved, its
    date passed five days ago), Asked (requested, 10 days left, not decided), Older (approved,
    10 days left, but on a review since replaced by a newer one)."""
    lead, reviewer = cast["lead"], cast["reviewer"]

    def with_exception(name: str, days: int, *, decide: bool = True) -> Review:
        review = ReviewFactory(
            service=service_of(benefits_team, name), checklist_version=checklist_a, by=lead
        )
        review = answered(review, "Dashboards exist", A.NOT_MET, lead)
        waiver = exception_for(review, "Dashboards exist", lead, days=days)
        if decide:
            waiver_decide(waiver=waiver, by=reviewer, approve=True)
        return review

    with_exception("Soon", 10)
    with_exception("Later", 40)
    with_exception("Asked", 10, decide=False)
    with time_machine.travel(timezone.now() - timedelta(days=20), tick=False):
        with_exception("Lapsed", 15)
    older = with_exception("Older", 10)
    ReviewFactory(service=older.service, checklist_version=checklist_a, by=lead, kind="periodic")
    return older


def test_expiring_lists_only_valid_exceptions_ending_within_30_days_on_current_reviews(
    expiring_world, cast, client_for
):
    client = client_for(cast["manager"])
    response = client.get(PORTFOLIO + "?expiring=on")
    assert names(response) == ["Soon"]
    everything = cells(client.get(PORTFOLIO))
    assert {name: row["Expiring exceptions"] for name, row in everything.items()} == {
        "Asked": "0",
        "Lapsed": "0",
        "Later": "0",
        "Older": "0",
        "Soon": "1",
    }


def test_an_exception_enters_the_expiring_filter_30_days_before_its_date(
    expiring_world, cast, client_for
):
    # Signed in on each day: a session lasts hours, not days.
    with time_machine.travel(timezone.now() + timedelta(days=10), tick=False):
        # Later has 30 days left; Soon expires today (still valid).
        response = client_for(cast["manager"]).get(PORTFOLIO + "?expiring=on")
        assert names(response) == ["Later", "Soon"]
    with time_machine.travel(timezone.now() + timedelta(days=11), tick=False):
        response = client_for(cast["manager"]).get(PORTFOLIO + "?expiring=on")
        assert names(response) == ["Later"]


# --- 3. tiles and status labels ---------------------------------------------------------------


def test_the_tiles_count_each_status_and_link_to_its_filter(world, cast, client_for):
    client = client_for(cast["manager"])
    response = client.get(PORTFOLIO)
    assert tile_counts(response) == {
        "Ready": 1,
        "Blocked": 2,
        "In review": 2,
        "Overdue": 1,
        "Not started": 2,
    }
    page = response.content.decode()
    for key in selectors.STATUSES:
        assert f'href="?status={key}"' in page
    # The tiles count what the other filters leave, and link with them kept.
    narrowed = client.get(PORTFOLIO + "?team=benefits")
    assert tile_counts(narrowed) == {
        "Ready": 0,
        "Blocked": 1,
        "In review": 1,
        "Overdue": 1,
        "Not started": 1,
    }
    html = narrowed.content.decode()
    assert 'href="?team=benefits&amp;status=in_review"' in html
    current = client.get(PORTFOLIO + "?team=benefits&status=blocked").content.decode()
    assert re.search(r'href="\?team=benefits&amp;status=blocked" aria-current="true"', current)


def tile_links(response) -> dict[str, tuple[int, str]]:
    """Each tile's label: its count and where it links."""
    return {
        label: (int(count), unescape(href))
        for href, count, label in re.findall(
            r'<a class="preflight-tile__link" href="([^"]*)"[^>]*>\s*'
            r'<span class="preflight-tile__count">(\d+)</span> '
            r'<span class="preflight-tile__label">([^<]+)</span>',
            response.content.decode(),
        )
    }


def test_each_tile_counts_the_rows_its_link_lists_while_a_status_is_chosen(world, cast, client_for):
    client = client_for(cast["manager"])
    tiles = tile_links(client.get(PORTFOLIO + "?status=blocked"))
    assert len(tiles) == len(selectors.STATUSES)
    for label, (count, href) in tiles.items():
        assert count == total(client.get(PORTFOLIO + href)), label


def test_the_tiles_are_one_aggregate_query(world, cast, django_assert_num_queries):
    rows = selectors.filtered(cast["manager"], selectors.Filters())
    with django_assert_num_queries(1):
        found = selectors.tiles(rows)
    assert found.total == 8
    assert found.counts == {
        "ready": 1,
        "blocked": 2,
        "in_review": 2,
        "overdue": 1,
        "not_started": 2,
    }


def assert_labels_agree_with_the_filters(client) -> None:
    """Each row's status labels say exactly which status filters list it."""
    shown = labels(client.get(PORTFOLIO))
    for key, label in selectors.STATUSES.items():
        listed = set(names(client.get(f"{PORTFOLIO}?status={key}")))
        labelled = {name for name, found in shown.items() if label in found}
        assert listed == labelled, key


def test_each_rows_status_labels_match_the_tiles_rules(world, cast, client_for):
    client = client_for(cast["manager"])
    assert labels(client.get(PORTFOLIO)) == {
        "Alpha": ["Blocked"],
        "Bravo": ["In review"],
        "Charlie": ["Not started"],
        "Delta": ["Ready"],
        "Echo": ["Blocked"],
        "Foxtrot": ["Not started"],
        "Golf": ["Overdue"],
        "Hotel": ["In review"],
    }
    assert_labels_agree_with_the_filters(client)


def test_an_untouched_draft_past_its_target_date_is_labelled_overdue_as_the_tile_counts_it(
    cast, benefits_team, client_for
):
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
        ReviewFactory(
            service=service_of(benefits_team, "Idle"),
            by=cast["lead"],
            target_date=timezone.localdate() + timedelta(days=3),
        )
    client = client_for(cast["manager"])
    assert names(client.get(PORTFOLIO + "?status=overdue")) == ["Idle"]
    assert set(labels(client.get(PORTFOLIO))["Idle"]) == {"Overdue", "Not started"}


def test_a_submitted_review_with_an_open_must_have_is_both_in_review_and_blocked(
    cast, benefits_team, client_for
):
    review = ReviewFactory(service=service_of(benefits_team, "Rushed"), by=cast["lead"])
    review = answered(review, "Dashboards exist", A.MET, cast["lead"])
    submitted(review, cast["lead"])
    client = client_for(cast["manager"])
    # Labels come in the tiles' order.
    assert labels(client.get(PORTFOLIO)) == {"Rushed": ["Blocked", "In review"]}
    assert tile_counts(client.get(PORTFOLIO))["Blocked"] == 1
    assert_labels_agree_with_the_filters(client)


# --- 4. sorting -------------------------------------------------------------------------------

# Four items: two must-haves and two plain, so readiness can be 0, 25, 50, 75 or 100%.
FOUR_MD = b"""# Four items

## Ops
- **Backups run**
- **Alerts page someone**
- Dashboards exist
- Runbook exists
"""
FOUR = ["Backups run", "Alerts page someone", "Dashboards exist", "Runbook exists"]


@pytest.fixture
def sorted_world(cast, benefits_team, permits_team):
    """Five services with a distinct value in each column that matters:

    name      team      state      readiness  target      pending exc.  last activity
    Aardvark  Benefits  -          -          -           -             -
    Amber     Benefits  draft      75%        +30 days    0             3 hours ago
    Birch     Permits   draft      25%        +10 days    2             1 hour ago
    Cedar     Permits   approved   100%       +50 days    0             5 hours ago
    Dune      Benefits  submitted  50%        -           1             2 hours ago

    Aardvark has no review: it sorts last both ways although its name comes first.
    """
    lead, other_lead, reviewer = cast["lead"], cast["other_lead"], cast["reviewer"]
    version = ChecklistVersionFactory(markdown=FOUR_MD)
    now = timezone.now()
    service_of(benefits_team, "Aardvark")

    def start(name, team, by, hours_ago, *, met, days=None, exceptions=()):
        with time_machine.travel(now - timedelta(hours=hours_ago), tick=False):
            target = timezone.localdate() + timedelta(days=days) if days else None
            review = ReviewFactory(
                service=service_of(team, name), checklist_version=version, by=by, target_date=target
            )
            for text in FOUR[:met]:
                review = answered(review, text, A.MET, by)
            for text in exceptions:
                review = answered(review, text, A.NOT_MET, by)
                exception_for(review, text, by, days=90)
            return Review.objects.get(pk=review.pk)

    start("Amber", benefits_team, lead, 3, met=3, days=30)
    start("Birch", permits_team, other_lead, 1, met=1, days=10, exceptions=FOUR[2:])
    cedar = start("Cedar", permits_team, other_lead, 6, met=4, days=50)
    with time_machine.travel(now - timedelta(hours=5), tick=False):
        signed(submitted(cedar, other_lead), reviewer)
    dune = start("Dune", benefits_team, lead, 2, met=2, exceptions=FOUR[3:])
    with time_machine.travel(now - timedelta(hours=2), tick=False):
        submitted(dune, lead)


REAL_ORDER = {
    "readiness": ["Birch", "Dune", "Amber", "Cedar", "Aardvark"],
    "-readiness": ["Cedar", "Amber", "Dune", "Birch", "Aardvark"],
    # Dune's review has no target date: with the service without a review, last.
    "target_date": ["Birch", "Amber", "Cedar", "Aardvark", "Dune"],
    "-target_date": ["Cedar", "Amber", "Birch", "Aardvark", "Dune"],
    "name": ["Aardvark", "Amber", "Birch", "Cedar", "Dune"],
    "-name": ["Dune", "Cedar", "Birch", "Amber", "Aardvark"],
    # Ties are broken by name.
    "pending_exceptions": ["Amber", "Cedar", "Dune", "Birch", "Aardvark"],
    "-pending_exceptions": ["Birch", "Dune", "Amber", "Cedar", "Aardvark"],
    "last_activity": ["Cedar", "Amber", "Dune", "Birch", "Aardvark"],
    "-last_activity": ["Birch", "Dune", "Amber", "Cedar", "Aardvark"],
    "state": ["Cedar", "Amber", "Birch", "Dune", "Aardvark"],
    "-state": ["Dune", "Amber", "Birch", "Cedar", "Aardvark"],
    "team": ["Aardvark", "Amber", "Dune", "Birch", "Cedar"],
    "-team": ["Birch", "Cedar", "Aardvark", "Amber", "Dune"],
}


def test_sorting_orders_the_rows_by_the_column(sorted_world, cast, client_for):
    client = client_for(cast["manager"])
    for sort, expected in REAL_ORDER.items():
        response = client.get(f"{PORTFOLIO}?sort={sort}")
        assert response.status_code == 200, sort
        assert names(response) == expected, sort


def column_value(service: Service, key: str, today: date):
    """What a column sorts by, read from the records (None: no review)."""
    if key == "name":
        return service.name
    if key == "team":
        return service.team.name
    review = service.current_review
    if review is None:
        return None
    if key == "expiring":
        return Waiver.objects.filter(
            answer__review=review,
            state=WaiverState.APPROVED,
            expires_on__gte=today,
            expires_on__lte=today + timedelta(days=30),
        ).count()
    field = selectors.SORTS[key][1].removeprefix("current_review__")
    return getattr(review, field)


def expected_order(key: str, descending: bool) -> list[str]:
    """Services with a value in order (ties by name), then those without (a service with
    no review has none) by name, both ways."""
    today = timezone.localdate()
    found = [
        (s.name, column_value(s, key, today))
        for s in Service.objects.select_related("team", "current_review")
    ]
    valued = sorted((f for f in found if f[1] is not None), key=lambda f: f[0])
    valued.sort(key=lambda f: f[1], reverse=descending)  # stable: ties stay by name
    empty = sorted(name for name, value in found if value is None)
    return [name for name, _ in valued] + empty


def assert_sorted_by_column(client, sort: str) -> None:
    response = client.get(f"{PORTFOLIO}?sort={sort}")
    assert response.status_code == 200, sort
    key = sort.removeprefix("-")
    assert names(response) == expected_order(key, sort.startswith("-")), sort
    # The header says how the page is sorted, and its link turns it around.
    aria = "descending" if sort.startswith("-") else "ascending"
    other = key if sort.startswith("-") else f"-{key}"
    header = rf'<th scope="col" aria-sort="{aria}"><a href="\?sort={re.escape(other)}">'
    assert re.search(header, response.content.decode()), sort


def test_every_sort_key_answers_and_orders_by_its_column_with_no_review_last(
    sorted_world, cast, client_for
):
    client = client_for(cast["manager"])
    for key in selectors.SORTS:
        if key != "expiring":  # see the next test
            assert_sorted_by_column(client, key)
            assert_sorted_by_column(client, f"-{key}")


def test_sorting_by_expiring_exceptions_puts_services_without_a_review_last_both_ways(
    sorted_world, cast, client_for
):
    client = client_for(cast["manager"])
    assert_sorted_by_column(client, "expiring")
    assert_sorted_by_column(client, "-expiring")


# --- 5. hostile and invalid query strings -----------------------------------------------------

# (query string, the field it is wrong about)
INVALID = [
    ("status=bogus", "status"),
    ("team=nobody-has-this-team", "team"),
    ("hosting=mars", "hosting"),
    ("impact=extreme", "impact"),
    ("state=deleted", "state"),
    ("checklist=no-such-checklist", "checklist"),
    ("sort=%3Bdrop", "sort"),
    ("sort=%3Bdrop%20table%20reviews_service%3B--", "sort"),
    ("sort=--name", "sort"),
    ("sort=" + "x" * 5000, "sort"),
    ("q=" + "x" * 201, "q"),
    ("q=%00", "q"),
    ("q=Benefits%01portal", "q"),
    ("q=a%0Ab", "q"),
    ("q=a%C2%85b", "q"),  # NEL, a C1 control character
    ("team=%00", "team"),
    ("status=99999999999999999999", "status"),
    ("impact=1e309", "impact"),
    ("state=-1", "state"),
    # Repeated: the last value counts, and it is wrong.
    ("status=ready&status=%3Bdrop", "status"),
    ("sort=name&sort=name%00", "sort"),
]
# Harmless: an out-of-range or nonsense page number shows a page; repeated valid values
# take the last.
HARMLESS = [
    "page=99999999999999999999",
    "page=-1",
    "page=0",
    "page=abc",
    "page=1e400",
    "page=%00",
    "page=1&page=2",
    "sort=name&sort=-name",
    "expiring=&blocked=",
    "q=%20%20%20",
    "unknown=%00",
]


def assert_refused_with_the_error(response, field: str, query: str) -> None:
    assert response.status_code == 400, query
    body = response.content.decode()
    assert not response["Content-Type"].startswith("text/csv"), f"{query}: the CSV was served"
    assert "not understood" in body or "not valid" in body, query
    assert f"{field}:" in body, query


def test_the_portfolio_refuses_invalid_filters_with_the_error_and_never_500(
    review, cast, client_for
):
    client = client_for(cast["manager"])
    for query, field in INVALID:
        response = client.get(f"{PORTFOLIO}?{query}")
        assert_refused_with_the_error(response, field, query)
        # What was valid still applies, and the page is whole.
        assert "Benefits portal" in response.content.decode(), query
    for query in HARMLESS:
        response = client.get(f"{PORTFOLIO}?{query}")
        assert response.status_code == 200, query
        assert names(response) == ["Benefits portal"], query


def test_the_csv_refuses_invalid_filters_with_a_plain_text_error_and_never_500(
    review, cast, client_for
):
    client = client_for(cast["manager"])
    for query, field in INVALID:
        response = client.get(f"{CSV_URL}?{query}")
        assert response["Content-Type"] == "text/plain; charset=utf-8", query
        assert_refused_with_the_error(response, field, query)
    for query in HARMLESS:
        response = client.get(f"{CSV_URL}?{query}")
        assert response.status_code == 200, query
        assert [row[0] for row in read_csv(response)] == ["Service", "Benefits portal"], query


@pytest.mark.parametrize("url", [HEAT_MAP, TRENDS, REPORT])
def test_the_other_pages_answer_invalid_filters_with_400_never_500(review, cast, client_for, url):
    client = client_for(cast["manager"])
    for query, _field in INVALID:
        assert client.get(f"{url}?{query}").status_code == 400, query
    for query in HARMLESS:
        assert client.get(f"{url}?{query}").status_code == 200, query


@pytest.mark.parametrize("url", [HEAT_MAP, TRENDS, REPORT])
def test_the_other_pages_show_what_was_wrong_with_the_filters(review, cast, client_for, url):
    client = client_for(cast["manager"])
    response = client.get(f"{url}?status=bogus")
    assert_refused_with_the_error(response, "status", "status=bogus")


# --- 6 and 13. query budgets that do not grow with services ------------------------------------

# Every portfolio page starts with the same five for a manager: 1 the session, 2 the
# user, 3 their roles (the cache key; a product lead's team ids add one), 4 teams and
# 5 checklists for the filters' choices.
# /portfolio/: 6 the rows' count, 7 the page of rows (with review, checklist and expiring
# exceptions), 8 the tiles (one aggregate).
PORTFOLIO_QUERIES = 8
# /portfolio/heat-map/: 6 the checklists in use, 7 the first row's checklist, 8 the chosen
# checklist's version ids, 9 its rows counted, 10 a page of them, 11 the checklist's
# latest published version, 12 its sections, 13 met and applicable answers per review and
# section (one aggregate).
HEAT_MAP_QUERIES = 13
# /portfolio/trends/: 6 the average readiness per day (one grouped query).
TRENDS_QUERIES = 6
# /portfolio/report/: 6 the trend, 7 every row (one server-side cursor), 8 the tiles.
REPORT_QUERIES = 8

ROW_MARK = '<th scope="row" data-label="Service">'


def seeded_client(client_for, services: int, days: int = 0) -> Client:
    seed_portfolio(services=services, items=4, days=days)
    client = client_for(seed_reader())
    client.get(reverse("checklists:library"))  # settle the session
    return client


def measured(client, url: str, budget: int, assert_num_queries):
    cache.clear()  # render the real page, not a cached one
    with assert_num_queries(budget):
        response = client.get(url)
    assert response.status_code == 200
    return response


def test_the_portfolio_and_heat_map_cost_the_same_at_5000_services_as_at_50(
    client_for, django_assert_num_queries
):
    for size in (50, 5000):
        client = seeded_client(client_for, size)
        page = measured(client, PORTFOLIO, PORTFOLIO_QUERIES, django_assert_num_queries)
        assert len(names(page)) == 50
        assert total(page) == size
        assert names(page)[0] == "Seed service 00001"
        heat = measured(client, HEAT_MAP, HEAT_MAP_QUERIES, django_assert_num_queries)
        html = heat.content.decode()
        assert html.count('<tr><th scope="row">') == 50
        if size > 50:
            assert f"page 1 of {size // 50}" in html


def test_the_trends_and_report_cost_the_same_at_5000_services_as_at_50(
    client_for, django_assert_num_queries
):
    for size in (50, 5000):
        client = seeded_client(client_for, size, days=3)
        trends = measured(client, TRENDS, TRENDS_QUERIES, django_assert_num_queries)
        assert "<svg" in trends.content.decode()
        report = measured(client, REPORT, REPORT_QUERIES, django_assert_num_queries)
        assert report.content.decode().count(ROW_MARK) == size


# --- 7. the heat map --------------------------------------------------------------------------

HEAT_MD = b"""# Heat checklist

## Operations
- **Backups run**
- Dashboards exist
- Runbook exists

## Security
- **HTTPS everywhere**
- Security contact listed

## Data
- Retention is set
- Restores are tested
- Encryption at rest

## Legal & Privacy
- Privacy notice published
"""

HEAT_ROW = re.compile(
    r'<tr><th scope="row"><a href="[^"]*">(?P<name>[^<]*)</a></th>(?P<cells>.*?)</tr>', re.S
)
HEAT_CELL = re.compile(
    r'<a class="preflight-heat preflight-heat--(?P<band>\w+)" '
    r'href="(?P<href>[^"#]*)#(?P<anchor>[^"]*)">(?P<text>.*?)</a>',
    re.S,
)


def heat_rows(response) -> dict[str, list[dict[str, str]]]:
    """Each heat map row's cells: band, link, anchor and what it says."""
    return {
        unescape(m["name"]): [
            {**c.groupdict(), "text": _text(c["text"])} for c in HEAT_CELL.finditer(m["cells"])
        ]
        for m in HEAT_ROW.finditer(response.content.decode())
    }


def chooser(response) -> list[str]:
    """The checklist chooser's options, as slugs."""
    found = re.search(
        r'<select class="usa-select" id="heat-checklist" name="checklist">(.*?)</select>',
        response.content.decode(),
        re.S,
    )
    return re.findall(r'<option value="([^"]*)"', found.group(1)) if found else []


@pytest.fixture
def heat_world(cast, benefits_team, permits_team, checklist_a):
    """Known (Benefits) answered section by section on the heat checklist; Second
    (Permits) and Third (Benefits) untouched on it; Other (Benefits) on checklist A."""
    lead, other_lead = cast["lead"], cast["other_lead"]
    version = ChecklistVersionFactory(markdown=HEAT_MD)
    known = ReviewFactory(
        service=service_of(benefits_team, "Known"), checklist_version=version, by=lead
    )
    for text, status in [
        ("Backups run", A.MET),
        ("Dashboards exist", A.MET),
        ("Runbook exists", A.NOT_MET),
        ("HTTPS everywhere", A.MET),
        ("Security contact listed", A.MET),
        ("Retention is set", A.MET),
        ("Privacy notice published", A.NOT_APPLICABLE),
    ]:
        known = answered(known, text, status, lead)
    ReviewFactory(
        service=service_of(permits_team, "Second"), checklist_version=version, by=other_lead
    )
    ReviewFactory(service=service_of(benefits_team, "Third"), checklist_version=version, by=lead)
    ReviewFactory(
        service=service_of(benefits_team, "Other"), checklist_version=checklist_a, by=lead
    )
    return known


def test_each_cell_shows_met_over_applicable_of_its_section_and_its_band(
    heat_world, cast, client_for
):
    response = client_for(cast["manager"]).get(HEAT_MAP)
    assert response.status_code == 200
    page = response.content.decode()
    for section in ("Operations", "Security", "Data", "Legal &amp; Privacy"):
        assert f'<th scope="col" class="preflight-heat-map__section">{section}</th>' in page
    known = heat_rows(response)["Known"]
    assert [(c["band"], c["anchor"], c["text"]) for c in known] == [
        ("half", "section-operations", "66% of Operations for Known (2 of 3 met)"),
        ("done", "section-security", "100% of Security for Known (2 of 2 met)"),
        ("low", "section-data", "33% of Data for Known (1 of 3 met)"),
        ("none", "section-legal-privacy", "— nothing in Legal & Privacy applies to Known"),
    ]
    assert {c["href"] for c in known} == {heat_world.get_absolute_url()}
    untouched = heat_rows(response)["Third"]
    assert [c["band"] for c in untouched] == ["low", "low", "low", "low"]


def test_the_selector_counts_each_section_of_a_known_review(heat_world):
    service = Service.objects.select_related("current_review__checklist_version").get(name="Known")
    heat = selectors.heat_map([service], heat_world.checklist_version.checklist)
    assert heat.sections == ["Operations", "Security", "Data", "Legal & Privacy"]
    ((row),) = heat.rows
    assert [(c.section, c.met, c.applicable, c.percent, c.band) for c in row.cells] == [
        ("Operations", 2, 3, 66, "half"),
        ("Security", 2, 2, 100, "done"),
        ("Data", 1, 3, 33, "low"),
        ("Legal & Privacy", 0, 0, 100, "none"),
    ]


def test_each_cell_opens_its_section_on_the_review_page(heat_world, cast, client_for):
    client = client_for(cast["manager"])
    cells_ = heat_rows(client.get(HEAT_MAP))["Known"]
    review_page = client.get(cells_[0]["href"])
    assert review_page.status_code == 200
    html = review_page.content.decode()
    for cell in cells_:
        assert re.search(rf'<h2 id="{cell["anchor"]}"[ >]', html), cell["anchor"]


def test_the_heat_map_follows_the_portfolios_filters(heat_world, cast, client_for):
    client = client_for(cast["manager"])
    heat = f"{HEAT_MAP}?checklist={heat_world.checklist_version.checklist.slug}"
    assert sorted(heat_rows(client.get(heat))) == ["Known", "Second", "Third"]
    assert sorted(heat_rows(client.get(heat + "&team=benefits"))) == ["Known", "Third"]
    assert sorted(heat_rows(client.get(heat + "&q=sec"))) == ["Second"]
    assert sorted(heat_rows(client.get(heat + "&status=not_started"))) == ["Second", "Third"]
    assert list(heat_rows(client.get(heat + "&sort=-name"))) == ["Third", "Second", "Known"]
    # A lead's heat map holds their teams' services only.
    assert sorted(heat_rows(client_for(cast["other_lead"]).get(heat))) == ["Second"]


def test_a_service_on_another_checklist_is_not_in_the_heat_map(
    heat_world, cast, client_for, checklist_a
):
    client = client_for(cast["manager"])
    heat_slug = heat_world.checklist_version.checklist.slug
    assert "Other" not in heat_rows(client.get(f"{HEAT_MAP}?checklist={heat_slug}"))
    other = heat_rows(client.get(f"{HEAT_MAP}?checklist={checklist_a.checklist.slug}"))
    assert list(other) == ["Other"]
    assert [c["anchor"] for c in other["Other"]] == ["section-ops"]


def test_the_checklist_chooser_lists_the_checklists_the_filtered_services_use(
    heat_world, cast, client_for, checklist_a, checklist_b
):
    client = client_for(cast["manager"])
    heat_slug = heat_world.checklist_version.checklist.slug
    response = client.get(HEAT_MAP)
    # checklist_b is published but no service is reviewed against it.
    assert sorted(chooser(response)) == sorted([heat_slug, checklist_a.checklist.slug])
    assert checklist_b.checklist.slug not in chooser(response)
    # Narrowed to Permits, only the checklist Second uses is offered.
    assert chooser(client.get(HEAT_MAP + "?team=permits")) == [heat_slug]
    # Without a choice, the map shows the checklist of the first row in the page's order.
    assert list(heat_rows(client.get(HEAT_MAP))) == ["Known", "Second", "Third"]
    assert list(heat_rows(client.get(HEAT_MAP + "?sort=readiness"))) == ["Other"]


def test_a_draft_of_the_next_version_does_not_change_the_heat_maps_sections(
    heat_world, cast, client_for
):
    ChecklistVersionFactory(
        markdown=HEAT_MD.replace(b"## Operations", b"## Operations and support"), publish=False
    )
    response = client_for(cast["manager"]).get(HEAT_MAP)
    assert "Operations and support" not in response.content.decode()
    assert len(heat_rows(response)["Known"]) == 4


# --- 8. the CSV -------------------------------------------------------------------------------


def every_page(client, query: str) -> tuple[list[str], dict[str, dict[str, str]], dict]:
    """The rows of every page of the portfolio for ``query``: names in order, cells and
    status labels."""
    order: list[str] = []
    found: dict[str, dict[str, str]] = {}
    tags: dict[str, list[str]] = {}
    count = total(client.get(f"{PORTFOLIO}?{query}"))
    for number in range(1, -(-count // 50) + 1):
        response = client.get(f"{PORTFOLIO}?{query}&page={number}")
        assert response.status_code == 200
        order += names(response)
        found.update(cells(response))
        tags.update(labels(response))
    assert len(order) == count
    return order, found, tags


def test_the_csv_has_every_filtered_row_in_the_pages_order_with_the_pages_figures(
    client_for,
):
    seed_portfolio(services=150, items=4, days=0)
    client = client_for(seed_reader())
    query = "state=draft&sort=-readiness"
    order, shown, tags = every_page(client, query)
    assert len(order) == 60  # two drafts in every five seeded services: more than a page
    response = client.get(f"{CSV_URL}?{query}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="portfolio-')
    header, *lines = read_csv(response)
    assert header == selectors.CSV_HEADER
    assert [line[0] for line in lines] == order
    for line in lines:
        row = dict(zip(header, line, strict=True))
        page = shown[row["Service"]]
        assert row["Team"] == page["Team"]
        assert row["Checklist"] == page["Review"]
        assert row["State"] == page["State"] == "Draft"
        assert f"{row['Readiness %']}%" == page["Readiness"]
        assert row["Open must-haves"] == page["Open must-haves"]
        assert row["Failing checks"] == page["Failing checks"]
        assert (row["Pending sign-offs"] or "—") == page["Pending sign-offs"].replace(", ", "; ")
        assert row["Pending exceptions"] == page["Pending exceptions"]
        assert row["Exceptions expiring within 30 days"] == page["Expiring exceptions"]
        assert page["Target date"].startswith(row["Target date"])
        days = int(row["Days left"])
        assert f"{abs(days)} day" in page["Target date"]
        assert ("late" in page["Target date"]) == (days < 0)
        assert row["Last activity (UTC)"][:16].replace("T", " ") == page["Last activity"]
        assert [s for s in row["Status"].split("; ") if s] == tags[row["Service"]]


def test_the_csv_of_the_world_lists_the_filtered_services_with_their_figures(
    world, cast, client_for
):
    client = client_for(cast["manager"])
    header, *lines = read_csv(client.get(CSV_URL + "?team=benefits&sort=-readiness"))
    assert [line[0] for line in lines] == names(
        client.get(PORTFOLIO + "?team=benefits&sort=-readiness")
    )
    by_name = {line[0]: dict(zip(header, line, strict=True)) for line in lines}
    assert by_name["Alpha"]["Pending exceptions"] == "1"
    assert by_name["Alpha"]["Status"] == "Blocked"
    assert by_name["Bravo"]["Pending sign-offs"] == "Security reviewer"
    assert by_name["Bravo"]["Readiness %"] == "100"
    assert by_name["Golf"]["Status"] == "Overdue"
    assert int(by_name["Golf"]["Days left"]) == -7


def test_a_service_without_a_review_has_the_same_status_in_the_csv_as_on_the_page(
    world, cast, client_for
):
    client = client_for(cast["manager"])
    header, *lines = read_csv(client.get(CSV_URL + "?state=none"))
    (charlie,) = lines
    row = dict(zip(header, charlie, strict=True))
    assert row["State"] == "No review yet"
    assert row["Status"] == "Not started"


def test_the_csv_refuses_invalid_filters_as_text(review, cast, client_for):
    response = client_for(cast["manager"]).get(CSV_URL + "?status=bogus&sort=%3Bdrop")
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    body = response.content.decode()
    assert body.startswith("The filters are not valid: ")
    assert "status: Select a valid choice." in body and "sort: Select a valid choice." in body


# --- 9. the printable report ------------------------------------------------------------------


def test_the_report_shows_every_filtered_row_on_one_page(client_for):
    seed_portfolio(services=130, items=4, days=0)
    client = client_for(seed_reader())
    query = "state=draft&sort=-readiness"
    order, _shown, _tags = every_page(client, query)
    response = client.get(f"{REPORT}?{query}")
    assert response.status_code == 200
    assert names(response) == order
    assert len(order) == 52
    html = response.content.decode()
    assert "52 services matching the filters." in html
    assert 'class="usa-pagination' not in html
    # The tiles are figures here, not links.
    assert 'class="preflight-tile__link"' not in html
    assert 'class="preflight-no-print"' in html


def test_the_report_has_a_print_stylesheet(review, cast, client_for, settings):
    css = (settings.BASE_DIR / "static" / "css" / "preflight.css").read_text()
    found = re.search(r"@media print\s*\{(.*?)\n\}", css, re.S)
    assert found, "static/css/preflight.css has a print section"
    rules = found.group(1)
    for hidden in (".usa-header", ".preflight-no-print", ".preflight-filters", "nav"):
        assert hidden in rules
    page = client_for(cast["manager"]).get(REPORT).content.decode()
    assert 'href="/static/css/preflight.css"' in page or "css/preflight" in page


# --- 12. the cache tells the truth ------------------------------------------------------------


@pytest.mark.parametrize("url", [PORTFOLIO, REPORT])
def test_a_changed_answer_shows_at_once_on_a_cached_page(
    review, cast, client_for, django_capture_on_commit_callbacks, url
):
    client = client_for(cast["manager"])
    first = client.get(url)
    assert cells(first)["Benefits portal"]["Readiness"] == "0%"
    # Served from the cache: the very same bytes (a fresh render masks its CSRF token anew).
    assert client.get(url).content == first.content
    with django_capture_on_commit_callbacks(execute=True):
        AnswerFactory(review=review, item_text="Backups run", status=A.MET, by=cast["lead"])
    again = client.get(url)
    assert cells(again)["Benefits portal"]["Readiness"] == "50%"
    assert cells(again)["Benefits portal"]["Open must-haves"] == "0"


def test_a_started_review_shows_at_once_on_the_cached_heat_map(
    service, cast, client_for, django_capture_on_commit_callbacks
):
    client = client_for(cast["manager"])
    assert heat_rows(client.get(HEAT_MAP)) == {}
    with django_capture_on_commit_callbacks(execute=True):
        ReviewFactory(service=service, by=cast["lead"])
    assert list(heat_rows(client.get(HEAT_MAP))) == ["Benefits portal"]


def test_a_lead_whose_role_is_revoked_is_not_served_the_cached_page(review, lead, client_for):
    client = client_for(lead)
    assert client.get(PORTFOLIO).status_code == 200
    assert client.get(PORTFOLIO).status_code == 200  # now cached
    account_services.user_set_roles(user=lead, roles=[], reason="Moved on")
    assert client.get(PORTFOLIO).status_code == 403


def test_a_lead_who_stops_being_a_manager_no_longer_sees_everything_from_the_cache(
    world, benefits_team, client_for
):
    both = lead_and_manager(benefits_team)
    client = client_for(both)
    assert names(client.get(PORTFOLIO + "?scope=all")) == EVERYONE
    account_services.user_set_roles(user=both, roles=[Role.PRODUCT_LEAD], reason="Stepped down")
    assert names(client.get(PORTFOLIO + "?scope=all")) == BENEFITS


def test_a_page_with_a_pending_message_is_not_cached(review, lead, client_for):
    client = client_for(lead)
    quiet = client.get(PORTFOLIO)
    assert "usa-alert" not in quiet.content.decode()
    # A refused action leaves a message for the next page, and changes nothing.
    client.post(reverse("reviews:review_action", args=[review.pk, "frobnicate"]))
    told = client.get(PORTFOLIO).content.decode()
    assert "That is not something you can do to a review here." in told
    # The message was shown once: the page that showed it was not kept.
    after = client.get(PORTFOLIO).content.decode()
    assert "That is not something you can do to a review here." not in after


CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_two_sessions_of_the_same_person_do_not_share_a_cached_page(review, manager, client_for):
    from django.middleware.csrf import _unmask_cipher_token

    first, second = client_for(manager), client_for(manager)
    page_one = first.get(PORTFOLIO)
    assert first.get(PORTFOLIO).content == page_one.content  # cached for the first session
    page_two = second.get(PORTFOLIO)
    assert page_two.content != page_one.content
    for client, page in ((first, page_one), (second, page_two)):
        token = CSRF_FIELD.search(page.content.decode()).group(1)
        # The sign-out form's token is this session's own.
        assert _unmask_cipher_token(token) == client.cookies["csrftoken"].value
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value


def test_a_lost_version_number_never_brings_back_a_page_from_before_a_change(
    review, cast, client_for, django_capture_on_commit_callbacks
):
    client = client_for(cast["manager"])
    cache.delete(portfolio_cache.VERSION_KEY)
    assert portfolio_cache.version() > 1  # never a small number a page may sit under
    assert cells(client.get(PORTFOLIO))["Benefits portal"]["Readiness"] == "0%"
    with django_capture_on_commit_callbacks(execute=True):
        AnswerFactory(review=review, item_text="Backups run", status=A.MET, by=cast["lead"])
    cache.delete(portfolio_cache.VERSION_KEY)  # evicted under memory pressure
    assert cells(client.get(PORTFOLIO))["Benefits portal"]["Readiness"] == "50%"
