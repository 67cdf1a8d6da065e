"""Sweeps end to end: results stored once, errors never erase a result, readiness and
regressions follow, through eager tasks and through a real worker on Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.core import mail
from django.urls import reverse

from reviews import services
from reviews.checks import selectors as sweeping
from reviews.checks import services as check_services
from reviews.checks.collectors.runner import run_jobs
from reviews.models import (
    AnswerStatus,
    CheckResult,
    CheckRun,
    CheckRunTrigger,
    CheckStanding,
    Review,
)
from reviews.readiness import is_ready
from reviews.tasks import sweep
from tests.factories import ChecklistVersionFactory, ReviewFactory, ServiceFactory
from tests.http_servers import LocalServer

# Checks reach these tests' local servers on loopback, opened as an operator would.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

CHECKLIST = b"""---
title: Checked
slug: checked
checks:
  service-answers-health-checks: [http.health]
---
## Ops
- **Service answers health checks**
- Docs exist
"""


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer.running() as running:
        yield running


@pytest.fixture
def review(lead, service, server):
    """The shared Benefits service, answering health checks on the local server, reviewed
    on a checklist whose must-have is bound to http.health."""
    service.health_check_url = server.route("/healthz", status=200, body=b"ok")
    service.save()
    return ReviewFactory(
        service=service, checklist_version=ChecklistVersionFactory(markdown=CHECKLIST), by=lead
    )


def answer_met(review, lead):
    answer = review.answers.get(item__must_have=True)
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.MET, "", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )


def standing(review) -> CheckStanding:
    return CheckStanding.objects.get(service=review.service, check_key="http.health")


@pytest.mark.django_db
def test_the_plan_comes_from_the_items_of_open_reviews(review):
    assert sweeping.plan() == [
        {"service_id": review.service_id, "key": "http.health", "params": {}}
    ]
    services.review_transition(review=review, action="withdraw", by=review.created_by)
    assert sweeping.plan() == []


@pytest.mark.django_db
def test_storing_a_run_twice_adds_nothing_and_errors_never_erase_the_last_result(review, server):
    run = CheckRun.objects.create(trigger=CheckRunTrigger.SCHEDULE)
    jobs = sweeping.jobs_from(sweeping.plan())
    outcomes = run_jobs(jobs, timeout=2)
    check_services.outcomes_store(run, jobs, outcomes)
    check_services.outcomes_store(run, jobs, outcomes)  # a redelivered chunk
    assert CheckResult.objects.count() == 1
    assert standing(review).standing_result == "pass"

    server.stop()  # nothing answers now: the next run errors
    second = CheckRun.objects.create(trigger=CheckRunTrigger.SCHEDULE)
    outcomes = run_jobs(jobs, timeout=1)
    assert outcomes[0].result == "error"
    check_services.outcomes_store(second, jobs, outcomes)
    status = standing(review)
    assert status.latest.result == "error"
    assert status.standing_result == "pass"  # the last real answer stands
    assert CheckResult.objects.count() == 2  # both kept as history


@pytest.mark.django_db(transaction=True)
def test_a_failing_must_have_check_blocks_readiness_flags_the_answer_and_notifies_once(
    review, lead, server, client_for, django_capture_on_commit_callbacks
):
    answer_met(review, lead)
    with django_capture_on_commit_callbacks(execute=True):
        sweep.delay()
    review.refresh_from_db()
    assert review.failing_must_haves == 0
    assert CheckRun.objects.get().passed == 1

    server.route("/healthz", status=500)
    mail.outbox.clear()
    for _ in range(2):  # the second failing sweep must not notify again
        with django_capture_on_commit_callbacks(execute=True):
            sweep.delay()
    regressions = [m for m in mail.outbox if "Check failing" in m.subject]
    assert len(regressions) == 1
    assert "lead@example.com" in regressions[0].to
    review.refresh_from_db()
    assert review.failing_must_haves == 1
    assert not is_ready(review)
    client = client_for(lead)
    page = client.get(review.get_absolute_url()).content.decode()
    assert "Contradiction:" in page
    assert "1 failing check" in page  # the summary
    answer = review.answers.get(item__must_have=True)
    item = client.get(reverse("reviews:item", args=[review.pk, answer.pk])).content.decode()
    assert "Contradiction:" in item
    assert "The health check answered 500." in item
    runs = list(CheckRun.objects.order_by("started_at"))
    assert [r.failed for r in runs] == [0, 1, 1]
    assert all(r.finished_at for r in runs)


@pytest.mark.django_db
def test_check_now_is_for_the_team_and_shows_progress(
    review, lead, reviewer, client_for, django_capture_on_commit_callbacks
):
    assert (
        client_for(reviewer).post(f"/services/{review.service.slug}/check-now/").status_code == 403
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(f"/services/{review.service.slug}/check-now/")
    run = CheckRun.objects.get()
    assert response["Location"] == f"/checks/runs/{run.pk}/"
    assert run.trigger == CheckRunTrigger.MANUAL and run.service == review.service
    page = client_for(lead).get(f"/checks/runs/{run.pk}/").content.decode()
    assert "Done:" in page and "1 passed" in page
    # The runs list is for readers of everything.
    assert client_for(lead).get("/checks/runs/").status_code == 403
    assert client_for(reviewer).get("/checks/runs/").status_code == 200


@pytest.mark.django_db
def test_the_catalogue_lists_every_check_type_under_its_family(lead, client_for):
    from reviews.checks.collectors.base import all_check_types

    page = client_for(lead).get("/checks/").content.decode()

    for check in all_check_types():
        assert f"<code>{check.key}</code>" in page, check.key
    for family in ("AWS", "HTTP and TLS", "PagerDuty", "New Relic", "Cloud Foundry"):
        assert f">{family}</h2>" in page


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_beat_style_sweep_runs_on_a_real_worker_and_notifies_a_regression_once(
    review, lead, server, redis_worker
):
    answer_met(review, lead)
    sweep.delay()
    assert wait_for(lambda: CheckRun.objects.filter(finished_at__isnull=False).count() == 1)
    assert standing(review).standing_result == "pass"

    server.route("/healthz", status=503)
    for expected_runs in (2, 3):
        sweep.delay()
        assert wait_for(
            lambda n=expected_runs: CheckRun.objects.filter(finished_at__isnull=False).count() == n
        )
    assert wait_for(lambda: any("Check failing" in m.subject for m in mail.outbox))
    time.sleep(0.5)  # give a wrong second email the chance to arrive
    assert sum("Check failing" in m.subject for m in mail.outbox) == 1
    assert Review.objects.get(pk=review.pk).failing_must_haves == 1
    assert CheckResult.objects.count() == 3


@pytest.mark.django_db
def test_two_bindings_of_one_check_with_other_parameters_are_kept_apart(
    lead, benefits_team, server
):
    two = b"""---
title: Two
slug: two
checks:
  fast: [{key: http.health, params: {max_ms: 50}}]
  slow-is-fine: [{key: http.health, params: {max_ms: 5000}}]
---
## Ops
- Fast {#fast}
- Slow is fine {#slow-is-fine}
"""
    server.route("/slow", status=200, delay=0.2)
    service = ServiceFactory(
        name="Slowish", slug="slowish", team=benefits_team, health_check_url=server.url("/slow")
    )
    ReviewFactory(service=service, checklist_version=ChecklistVersionFactory(markdown=two), by=lead)
    run = CheckRun.objects.create(trigger=CheckRunTrigger.SCHEDULE)
    jobs = sweeping.jobs_from(sweeping.plan([service.pk]))
    check_services.outcomes_store(run, jobs, run_jobs(jobs, timeout=2))
    results = dict(
        CheckStanding.objects.filter(service=service).values_list("binding", "standing_result")
    )
    assert sorted(results.values()) == ["fail", "pass"]
    assert all(binding.startswith("http.health:") for binding in results)
