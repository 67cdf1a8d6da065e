"""Every notification email links to what it is about, at SITE_URL; production cannot
start without a SITE_URL that is https."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core import mail

from reviews import notifications, services, signoffs, waivers
from reviews.checks import services as check_services
from reviews.checks.collectors.base import Outcome, Target
from reviews.checks.collectors.runner import Job
from reviews.checks.notifications import checks_regressed
from reviews.models import AnswerStatus, CheckRun, CheckRunTrigger
from tests.factories import AnswerFactory
from tests.test_settings import PRODUCTION, manage

SITE = "https://preflight.example.gov"
EMAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "reviews" / "email"


@pytest.fixture(autouse=True)
def _site(settings) -> None:
    settings.SITE_URL = SITE


def sent(subject_start: str) -> mail.EmailMessage:
    (message,) = [m for m in mail.outbox if m.subject.startswith(f"[Preflight] {subject_start}")]
    return message


def lines(message: mail.EmailMessage) -> list[str]:
    body = message.body
    assert isinstance(body, str)
    return body.splitlines()


@pytest.fixture
def submitted(review, lead, reviewer, django_capture_on_commit_callbacks):
    """``review`` with its must-have met, submitted by ``lead`` to ``reviewer``."""
    AnswerFactory(review=review, by=lead)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.review_transition(review=review, action="submit", by=lead)
    review.refresh_from_db()
    return review


# --- one test per message ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_submitted_email_links_the_reviewers_to_the_review(submitted, reviewer):
    message = sent("Review submitted")
    assert message.to == [reviewer.email]
    assert f"{SITE}/reviews/{submitted.pk}/" in lines(message)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("decision", "comment", "subject"),
    [("approve", "", "Approved"), ("request_changes", "Add a runbook.", "Changes requested")],
)
def test_the_decision_email_links_the_team_to_the_review(
    submitted, lead, reviewer, django_capture_on_commit_callbacks, decision, comment, subject
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        signoffs.signoff_record(
            review=submitted,
            by=reviewer,
            role="security_reviewer",
            decision=decision,
            comment=comment,
        )
    message = sent(subject)
    assert lead.email in message.to
    assert f"{SITE}/reviews/{submitted.pk}/" in lines(message)


@pytest.mark.django_db
def test_exception_emails_link_to_the_item_in_its_review(
    review, lead, reviewer, django_capture_on_commit_callbacks
):
    answer = AnswerFactory(review=review, status=AnswerStatus.NOT_MET, by=lead)
    expires = date.today() + timedelta(days=20)
    waiver = waivers.waiver_request(
        answer=answer,
        by=lead,
        rationale="Internal launch first",
        compensating_controls="Manual backups daily",
        expires_on=expires,
    )
    item_link = f"{SITE}/reviews/{review.pk}/#answer-{answer.pk}"

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    assert item_link in lines(sent("Exception approved"))

    # Reminded before it runs out, and told when it has.
    with django_capture_on_commit_callbacks(execute=True):
        waivers.waivers_expire(today=expires - timedelta(days=3))
    assert item_link in lines(sent("Exception expiring"))
    with django_capture_on_commit_callbacks(execute=True):
        waivers.waivers_expire(today=expires + timedelta(days=1))
    message = sent("Exception expired")
    assert message.to == [lead.email]
    assert item_link in lines(message)


@pytest.mark.django_db
def test_the_failing_check_email_links_to_the_service(
    service, lead, reviewer, django_capture_on_commit_callbacks
):
    def store(outcome: Outcome) -> CheckRun:
        run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=service)
        job = Job("http.health", Target(service_id=service.pk), {})
        check_services.outcomes_store(run, [job], [outcome])
        return check_services.run_finish(run)

    store(Outcome.passed("200."))
    run = store(Outcome.failed("The health check answered 500."))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        checks_regressed(service.pk, run)
    message = sent("Check failing")
    assert f"{SITE}/services/{service.slug}/" in lines(message)


def test_every_email_template_shows_its_link():
    # notifications.send takes the link as a required argument; each template must show it.
    templates = sorted(EMAIL_TEMPLATES.glob("*.txt"))
    assert templates
    for template in templates:
        assert "{{ link }}" in template.read_text(encoding="utf-8"), template.name


# --- the helper ----------------------------------------------------------------------------------


def test_absolute_url_joins_the_site_and_a_path(settings):
    assert notifications.absolute_url("/reviews/7/") == f"{SITE}/reviews/7/"
    settings.SITE_URL = "http://127.0.0.1:8000"
    assert notifications.absolute_url("/queue/") == "http://127.0.0.1:8000/queue/"


def test_absolute_url_refuses_a_relative_path():
    with pytest.raises(ValueError, match="absolute path"):
        notifications.absolute_url("reviews/7/")


# --- the setting ---------------------------------------------------------------------------------

PRINT_SITE_URL = (
    "shell",
    "--no-imports",
    "-c",
    "from django.conf import settings; print(settings.SITE_URL)",
)


def test_production_refuses_to_start_without_a_site_url(tmp_path):
    settings = {k: v for k, v in PRODUCTION.items() if k != "SITE_URL"}
    result = manage("check", tmp_path=tmp_path, **settings)
    assert result.returncode != 0
    assert "SITE_URL must be set when PREFLIGHT_ENV=production" in result.stderr


def test_production_refuses_a_site_url_without_tls(tmp_path):
    result = manage(
        "check", tmp_path=tmp_path, **{**PRODUCTION, "SITE_URL": "http://preflight.example.gov"}
    )
    assert result.returncode != 0
    assert "SITE_URL must be an https:// address in production" in result.stderr


def test_production_takes_an_https_site_url(tmp_path):
    result = manage(*PRINT_SITE_URL, tmp_path=tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "https://preflight.example.gov"


def test_development_defaults_to_the_local_server(tmp_path):
    result = manage(*PRINT_SITE_URL, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "value",
    [
        "preflight.example.gov",
        "ftp://preflight.example.gov",
        "https://",
        "https://preflight.example.gov/portal",
        "https://preflight.example.gov/?next=1",
        "https://preflight.example.gov:port",
        "https://user@preflight.example.gov",
    ],
)
def test_a_site_url_that_is_not_a_scheme_and_host_stops_start_up(tmp_path, value):
    result = manage("check", tmp_path=tmp_path, SITE_URL=value)
    assert result.returncode != 0
    assert f"SITE_URL={value!r} is not a scheme and host" in result.stderr


def test_a_trailing_slash_is_dropped(tmp_path):
    result = manage(*PRINT_SITE_URL, tmp_path=tmp_path, SITE_URL="http://localhost:8000/")
    assert result.stdout.strip() == "http://localhost:8000", result.stderr
