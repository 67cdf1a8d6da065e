"""History is the audit record: a row means something changed. Sweeps and pushes that find
what was already known write none, and every row says why it was written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps
from django.test import Client

from reviews import evidence, services, signoffs
from reviews.checks import services as check_services
from reviews.checks.tasks import sweep
from reviews.models import AnswerStatus, EvidenceKind, Review
from tests.factories import review_of_checked_service
from tests.http_servers import LocalServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]

CHECKLIST = b"""---
title: Checked
slug: checked
checks:
  service-answers-health-checks: [http.health]
  load-is-tested: [ci.load_test]
---
## Ops
- **Service answers health checks**
- **Load is tested**
- Docs exist
"""


def history_rows() -> dict[str, int]:
    """Rows in every history table of the project."""
    return {
        model.__name__: model.objects.count()
        for model in apps.get_models()
        if model.__name__.startswith("Historical")
    }


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer.running() as running:
        yield running


@pytest.fixture
def review(lead, benefits_team, server):
    return review_of_checked_service(
        checklist=CHECKLIST,
        team=benefits_team,
        by=lead,
        health_check_url=server.route("/healthz", status=200),
    )


def sweep_now(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        sweep.delay()


def test_identical_sweeps_write_no_history(review, server, django_capture_on_commit_callbacks):
    sweep_now(django_capture_on_commit_callbacks)  # the first one finds something new
    before = history_rows()
    for _ in range(3):
        sweep_now(django_capture_on_commit_callbacks)
    assert history_rows() == before

    # A real change is recorded, once, with why.
    server.route("/healthz", status=500)
    sweep_now(django_capture_on_commit_callbacks)
    sweep_now(django_capture_on_commit_callbacks)
    after = history_rows()
    assert after["HistoricalReview"] == before["HistoricalReview"] + 1
    latest = Review.history.filter(id=review.pk).latest("history_date")
    assert latest.history_change_reason == "Automated check results changed"


def test_identical_pushes_write_no_history(review, lead, client_for):
    _token, plain = check_services.token_create(service=review.service, name="CI", by=lead)

    def push(key: str) -> None:
        response = Client().post(
            "/api/v1/evidence",
            {
                "check": "ci.load_test",
                "result": "pass",
                "summary": "p95 180 ms",
                "idempotency_key": key,
            },
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {plain}",
        )
        assert response.status_code == 201, response.content

    push("build-1")
    before = history_rows()
    push("build-2")
    push("build-3")
    assert history_rows() == before


def test_every_history_row_of_a_review_flow_says_why(review, lead, reviewer):
    tracked = [
        model
        for model in apps.get_models()
        if model.__name__.startswith("Historical") and hasattr(model, "history_change_reason")
    ]
    # Only the rows this flow writes (the fixture made its service the short way).
    start = {
        model: model.objects.order_by("-history_id").values_list("history_id").first()
        for model in tracked
    }
    for answer in review.answers.select_related("item"):
        answer = services.answer_update(
            answer=answer,
            change=services.AnswerChange(AnswerStatus.MET, "", "", None),
            based_on_revision=answer.revision,
            by=lead,
        )
    evidence.evidence_add(
        answer=review.answers.first(), by=lead, kind=EvidenceKind.NOTE, note="n",
        effective_date=review.created_at.date(),
    )  # fmt: skip
    services.review_transition(review=review, action="submit", by=lead)
    signoffs.signoff_record(
        review=Review.objects.get(pk=review.pk),
        by=reviewer,
        role="security_reviewer",
        decision="request_changes",
        comment="Attach the load test.",
    )
    written = 0
    for model in tracked:
        rows = model.objects.filter(history_id__gt=(start[model] or (0,))[0])
        written += rows.count()
        unexplained = rows.filter(history_change_reason__isnull=True)
        assert not unexplained.exists(), (model.__name__, list(unexplained[:3]))
    assert written > 10


def test_who_edited_a_review_is_in_its_history_in_the_same_row_as_the_change(review, lead):
    answer = review.answers.first()
    rows = Review.history.filter(id=review.pk).count()
    services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.MET, "", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )
    assert Review.history.filter(id=review.pk).count() == rows + 1
    latest = Review.history.filter(id=review.pk).latest("history_date")
    assert [editor.user_id for editor in latest.editors.all()] == [lead.pk]
