"""What the portfolio's rows and trends are made of: the summary each write stores on a
review (issue 11), the daily readiness snapshots, the trend that averages them, and the
beat task that takes them.

Every situation is made through the real services; stored fields are only ever read.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from portal.accounts.roles import Role
from reviews import services
from reviews.checks import services as check_services
from reviews.checks.collectors.base import Outcome, Target
from reviews.checks.collectors.runner import Job
from reviews.models import (
    AnswerStatus,
    CheckRun,
    CheckRunTrigger,
    ReadinessSnapshot,
    Review,
    ReviewState,
    Service,
    Waiver,
)
from reviews.portfolio import selectors
from reviews.portfolio.snapshots import snapshots_take
from reviews.portfolio.tasks import snapshot_readiness
from reviews.signoffs import signoff_record
from reviews.waivers import waiver_decide, waiver_request
from tests.factories import AnswerFactory, ChecklistVersionFactory, ReviewFactory, ServiceFactory

A = AnswerStatus
S = ReviewState
PORTFOLIO = reverse("reviews:portfolio")
TRENDS = reverse("reviews:portfolio_trends")

# Signed off by a security reviewer and a manager.
TWO_SIGNERS = b"""---
title: Two signers
slug: two-signers
signoff_roles: [security_reviewer, manager]
---
## Ops
- **Backups run**
- Dashboards exist
"""

# The must-have is bound to an automated check.
CHECKED = b"""---
title: Checked
slug: checked
checks:
  service-answers-health-checks: [http.health]
---
## Ops
- **Service answers health checks**
- Docs exist
"""


def fresh(review: Review) -> Review:
    return Review.objects.get(pk=review.pk)


def answered(review: Review, text: str, status: str, by) -> Review:
    AnswerFactory(review=review, item_text=text, status=status, by=by)
    return fresh(review)


def request_exception(review: Review, text: str, by) -> Waiver:
    return waiver_request(
        answer=review.answers.get(item__text=text),
        by=by,
        rationale="The vendor ships the fix next quarter.",
        compensating_controls="Daily manual checks.",
        expires_on=timezone.localdate() + timedelta(days=60),
    )


def row_cells(response, name: str) -> dict[str, str]:
    """One portfolio row's cells by label, as text."""
    page = response.content.decode()
    found = re.search(
        rf'<th scope="row" data-label="Service"><a href="[^"]*">{re.escape(name)}</a></th>'
        r"(.*?)</tr>",
        page,
        re.S,
    )
    assert found, name
    return {
        label: " ".join(re.sub(r"<[^>]+>", " ", value).split())
        for label, value in re.findall(
            r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', found.group(1), re.S
        )
    }


# --- 10. the stored summary ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_submitted_review_awaits_each_sign_off_role_until_each_approves(
    service, cast, client_for
):
    lead, reviewer, manager = cast["lead"], cast["reviewer"], cast["manager"]
    review = ReviewFactory(
        service=service, checklist_version=ChecklistVersionFactory(markdown=TWO_SIGNERS), by=lead
    )
    review = answered(review, "Backups run", A.MET, lead)
    review = services.review_transition(review=review, action="submit", by=lead)
    assert sorted(review.awaiting_role_list) == ["manager", "security_reviewer"]
    assert review.awaiting_roles.startswith(",") and review.awaiting_roles.endswith(",")
    assert review.pending_signoffs == 2
    shown = row_cells(client_for(manager).get(PORTFOLIO), "Benefits portal")
    assert sorted(shown["Pending sign-offs"].split(", ")) == ["Manager", "Security reviewer"]

    signoff_record(review=review, by=reviewer, role=Role.SECURITY_REVIEWER, decision="approve")
    review = fresh(review)
    assert (review.state, review.awaiting_roles, review.pending_signoffs) == (
        S.SUBMITTED,
        ",manager,",
        1,
    )
    signoff_record(review=review, by=manager, role=Role.MANAGER, decision="approve")
    review = fresh(review)
    assert (review.state, review.awaiting_roles, review.pending_signoffs) == (S.APPROVED, "", 0)
    shown = row_cells(client_for(manager).get(PORTFOLIO), "Benefits portal")
    assert shown["Pending sign-offs"] == "—"
    assert shown["Status"] == "Ready"


@pytest.mark.django_db
def test_a_requested_exception_counts_as_pending_until_it_is_decided(review, cast, client_for):
    lead, reviewer = cast["lead"], cast["reviewer"]
    review = answered(review, "Backups run", A.NOT_MET, lead)
    review = answered(review, "Dashboards exist", A.PARTIALLY_MET, lead)
    first = request_exception(review, "Backups run", lead)
    second = request_exception(review, "Dashboards exist", lead)
    assert fresh(review).pending_exceptions == 2
    assert (
        row_cells(client_for(reviewer).get(PORTFOLIO), "Benefits portal")["Pending exceptions"]
        == "2"
    )
    waiver_decide(waiver=first, by=reviewer, approve=True)
    assert fresh(review).pending_exceptions == 1
    waiver_decide(waiver=second, by=cast["manager"], approve=False, comment="Fix it first.")
    review = fresh(review)
    assert review.pending_exceptions == 0
    # The approved exception covers the must-have.
    assert (review.waived_must_haves, review.open_must_haves) == (1, 0)


@pytest.mark.django_db
def test_a_failing_check_stored_by_a_sweep_counts_in_failing_checks(service, cast, client_for):
    lead = cast["lead"]
    review = ReviewFactory(
        service=service, checklist_version=ChecklistVersionFactory(markdown=CHECKED), by=lead
    )
    review = answered(review, "Service answers health checks", A.MET, lead)
    assert (review.failing_checks, review.failing_must_haves) == (0, 0)

    def sweep(outcome: Outcome) -> None:
        run = CheckRun.objects.create(trigger=CheckRunTrigger.SCHEDULE, service=service)
        jobs = [Job("http.health", Target(service_id=service.pk), {})]
        check_services.outcomes_store(run, jobs, [outcome])
        services.readiness_refresh(service_ids=[service.pk])

    sweep(Outcome.failed("The health check answered 500."))
    review = fresh(review)
    assert (review.failing_checks, review.failing_must_haves) == (1, 1)
    client = client_for(cast["manager"])
    shown = row_cells(client.get(PORTFOLIO), "Benefits portal")
    assert shown["Failing checks"] == "1"
    # A must-have whose check fails blocks the review although it is answered met.
    assert shown["Status"] == "Blocked"

    sweep(Outcome.passed("The health check answered 200."))
    review = fresh(review)
    assert (review.failing_checks, review.failing_must_haves) == (0, 0)


@pytest.mark.django_db
def test_last_activity_moves_on_each_write(service, cast):
    lead, reviewer = cast["lead"], cast["reviewer"]
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    moments = iter(start + timedelta(minutes=n) for n in range(10))

    def at(write):
        moment = next(moments)
        with time_machine.travel(moment, tick=False):
            result = write()
        assert fresh(review).last_activity_at == moment
        return result

    with time_machine.travel(start - timedelta(minutes=1), tick=False):
        review = ReviewFactory(service=service, by=lead)
    assert review.last_activity_at == start - timedelta(minutes=1)
    at(lambda: AnswerFactory(review=review, item_text="Backups run", status=A.NOT_MET, by=lead))
    waiver = at(lambda: request_exception(fresh(review), "Backups run", lead))
    at(lambda: waiver_decide(waiver=waiver, by=reviewer, approve=True))
    at(lambda: services.review_transition(review=review, action="submit", by=lead))
    at(
        lambda: signoff_record(
            review=review, by=reviewer, role=Role.SECURITY_REVIEWER, decision="approve"
        )
    )
    assert fresh(review).state == S.APPROVED


@pytest.mark.django_db
def test_a_services_current_review_is_its_newest(service, cast, client_for):
    lead = cast["lead"]
    first = ReviewFactory(service=service, by=lead)
    assert Service.objects.get(pk=service.pk).current_review_id == first.pk
    newer = ChecklistVersionFactory()
    second = ReviewFactory(service=service, checklist_version=newer, by=lead, kind="periodic")
    assert Service.objects.get(pk=service.pk).current_review_id == second.pk
    shown = row_cells(client_for(cast["manager"]).get(PORTFOLIO), "Benefits portal")
    assert shown["Review"] == f"{newer.checklist.title} v{newer.number}"


# --- 11. snapshots and trends -------------------------------------------------------------


@pytest.fixture
def two_services(cast, benefits_team, permits_team):
    """A Benefits and a Permits service, each with a review of the two-item checklist."""
    version = ChecklistVersionFactory()
    found = {}
    for name, team, lead in (
        ("Benefits portal", benefits_team, cast["lead"]),
        ("Permits portal", permits_team, cast["other_lead"]),
    ):
        service = ServiceFactory(name=name, slug=name.lower().replace(" ", "-"), team=team)
        found[name] = ReviewFactory(service=service, checklist_version=version, by=lead)
    return found


def snapshot_rows() -> list[tuple[str, date, int]]:
    return list(
        ReadinessSnapshot.objects.order_by("service__name", "date").values_list(
            "service__name", "date", "readiness_percent"
        )
    )


@pytest.mark.django_db
def test_snapshots_taken_twice_a_day_keep_one_row_per_current_review_with_the_latest_figures(
    two_services, cast
):
    today = timezone.localdate()
    assert snapshots_take() == 2
    AnswerFactory(review=two_services["Benefits portal"], item_text="Backups run", by=cast["lead"])
    assert snapshots_take() == 2
    assert snapshot_rows() == [("Benefits portal", today, 50), ("Permits portal", today, 0)]
    snapshot = ReadinessSnapshot.objects.get(service__name="Benefits portal")
    assert snapshot.review_id == two_services["Benefits portal"].pk
    assert (snapshot.met_count, snapshot.applicable_count, snapshot.open_must_haves) == (1, 2, 0)


@pytest.mark.django_db
def test_the_next_day_adds_a_second_row_and_replaced_reviews_are_not_snapshotted(
    two_services, cast
):
    today = timezone.localdate()
    snapshots_take()
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        # A new review replaces the Permits one: only the current review is recorded.
        permits = two_services["Permits portal"]
        newer = ReviewFactory(
            service=permits.service,
            checklist_version=permits.checklist_version,
            by=cast["other_lead"],
            kind="periodic",
        )
        AnswerFactory(review=newer, item_text="Dashboards exist", by=cast["other_lead"])
        assert snapshots_take() == 2
    tomorrow = today + timedelta(days=1)
    assert snapshot_rows() == [
        ("Benefits portal", today, 0),
        ("Benefits portal", tomorrow, 0),
        ("Permits portal", today, 0),
        ("Permits portal", tomorrow, 50),
    ]
    assert ReadinessSnapshot.objects.filter(review=permits).count() == 1
    assert ReadinessSnapshot.objects.get(review=newer).date == tomorrow


def trend_over_two_days(two_services, cast) -> tuple[date, date]:
    """Two days ago: Benefits 0%, Permits 50%. Yesterday: Benefits 50%, Permits 100%."""
    lead, other_lead = cast["lead"], cast["other_lead"]
    now = timezone.now()
    benefits, permits = two_services["Benefits portal"], two_services["Permits portal"]
    with time_machine.travel(now - timedelta(days=2), tick=False):
        AnswerFactory(review=permits, item_text="Backups run", by=other_lead)
        snapshots_take()
        first = timezone.localdate()
    with time_machine.travel(now - timedelta(days=1), tick=False):
        AnswerFactory(review=benefits, item_text="Backups run", by=lead)
        AnswerFactory(review=permits, item_text="Dashboards exist", by=other_lead)
        snapshots_take()
        second = timezone.localdate()
    return first, second


@pytest.mark.django_db
def test_the_trend_averages_the_current_reviews_readiness_per_day_and_follows_filters(
    two_services, cast
):
    first, second = trend_over_two_days(two_services, cast)
    manager = cast["manager"]

    def trend(**filters) -> list[tuple[date, float, int]]:
        rows = selectors.filtered(manager, selectors.Filters(**filters))
        return [(p.date, p.readiness, p.services) for p in selectors.portfolio_trend(rows)]

    assert trend() == [(first, 25.0, 2), (second, 75.0, 2)]
    assert trend(team="benefits") == [(first, 0.0, 1), (second, 50.0, 1)]
    assert trend(q="permits") == [(first, 50.0, 1), (second, 100.0, 1)]
    assert trend(status="ready") == []
    # A lead's trend averages their teams' services only.
    lead_rows = selectors.filtered(cast["lead"], selectors.Filters(mine=True))
    assert [p.readiness for p in selectors.portfolio_trend(lead_rows)] == [0.0, 50.0]

    # A replaced review's history leaves the trend: it averages current reviews only.
    ReviewFactory(
        service=two_services["Benefits portal"].service,
        checklist_version=ChecklistVersionFactory(),
        by=cast["lead"],
        carry_over=False,
    )
    assert trend() == [(first, 50.0, 1), (second, 100.0, 1)]


@pytest.mark.django_db
def test_the_trends_page_shows_the_chart_and_its_figures_for_the_filters(
    two_services, cast, client_for
):
    first, second = trend_over_two_days(two_services, cast)
    client = client_for(cast["manager"])
    page = client.get(TRENDS).content.decode()
    assert re.search(r"<svg [^>]*role=\"img\"", page)
    assert '<title id="portfolio-trend-title">' in page
    assert f'<th scope="row">{first:%Y-%m-%d}</th><td>25%</td><td>2</td>' in page
    assert f'<th scope="row">{second:%Y-%m-%d}</th><td>75%</td><td>2</td>' in page
    narrowed = client.get(TRENDS + "?team=permits").content.decode()
    assert f'<th scope="row">{first:%Y-%m-%d}</th><td>50%</td><td>1</td>' in narrowed


@pytest.mark.django_db
def test_new_snapshots_show_at_once_on_the_cached_trends_page(
    two_services, cast, client_for, django_capture_on_commit_callbacks
):
    client = client_for(cast["manager"])
    assert "No readiness history yet" in client.get(TRENDS).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        snapshots_take()
    page = client.get(TRENDS).content.decode()
    assert f'<th scope="row">{timezone.localdate():%Y-%m-%d}</th><td>0%</td><td>2</td>' in page


@pytest.mark.django_db
def test_the_service_page_shows_its_readiness_chart_and_figures(two_services, cast, client_for):
    first, second = trend_over_two_days(two_services, cast)
    service = two_services["Permits portal"].service
    page = client_for(cast["manager"]).get(service.get_absolute_url()).content.decode()
    chart = re.search(r"<svg .*?</svg>", page, re.S)
    assert chart, "the service page draws its chart"
    assert re.search(r"<title id=\"service-trend-title\">[^<]+</title>", chart.group(0))
    assert "<polyline" in chart.group(0)
    assert f'<th scope="row">{first:%Y-%m-%d}</th><td>50%</td>' in page
    assert f'<th scope="row">{second:%Y-%m-%d}</th><td>100%</td>' in page


@pytest.mark.django_db
def test_a_service_without_snapshots_says_so_instead_of_a_chart(service, cast, client_for):
    page = client_for(cast["manager"]).get(service.get_absolute_url()).content.decode()
    assert "No readiness history yet" in page
    assert "<svg viewBox" not in page


def test_the_beat_schedule_takes_the_snapshot_daily():
    from portal.celery import app

    (entry,) = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == snapshot_readiness.name
    ]
    assert snapshot_readiness.name == "portfolio.snapshot_readiness"
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1  # once a day
    # The worker knows the task by that name (found by autodiscovery, not imported here).
    app.loader.import_default_modules()
    assert "portfolio.snapshot_readiness" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_the_snapshot_task_runs_on_a_real_worker(redis_worker, two_services):
    result = snapshot_readiness.delay()
    assert result.get(timeout=30) == 2
    assert ReadinessSnapshot.objects.count() == 2
    assert snapshot_readiness.delay().get(timeout=30) == 2  # again the same day: no new rows
    assert ReadinessSnapshot.objects.count() == 2
