"""Pages and emails show titles and role names; keys are secondary detail at most."""

from __future__ import annotations

import pytest
from django.core import mail

from reviews.checks import services as check_services
from reviews.checks.collectors.base import Outcome, Target, check_title
from reviews.checks.collectors.runner import Job
from reviews.checks.notifications import checks_regressed
from reviews.models import CheckRun, CheckRunTrigger, Service

pytestmark = pytest.mark.django_db

AWS_KEYS = ["aws.rds.encrypted", "aws.s3.encrypted", "aws.dynamodb.pitr"]


@pytest.fixture
def service(benefits_team):
    return Service.objects.create(name="Benefits portal", slug="benefits", team=benefits_team)


def store(service, results: dict[str, Outcome]) -> CheckRun:
    run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=service)
    jobs = [Job(key, Target(service_id=service.pk), {}) for key in results]
    check_services.outcomes_store(run, jobs, list(results.values()))
    return check_services.run_finish(run)


def test_the_service_page_names_checks_by_title_and_sums_up_what_does_not_apply(
    service, lead, client_for
):
    store(
        service,
        {
            "http.health": Outcome.passed("200 in 12 ms."),
            **{key: Outcome.not_applicable("The service has no AWS region.") for key in AWS_KEYS},
        },
    )
    page = client_for(lead).get(service.get_absolute_url()).content.decode()
    assert check_title("http.health") in page
    # Overview first: one line for the three, the detail on demand.
    assert "Not applicable: 3 AWS checks" in page
    assert "<details" in page and check_title("aws.rds.encrypted") in page


def test_a_runs_page_lists_what_says_something_and_counts_the_rest(
    service, reviewer, client_for, django_assert_max_num_queries
):
    run = store(
        service,
        {
            "http.health": Outcome.failed("The health check answered 500."),
            **{key: Outcome.not_applicable("The service has no AWS region.") for key in AWS_KEYS},
        },
    )
    client = client_for(reviewer)
    client.get("/")  # the session and the security policy exist from here on
    # Session, user, roles, policy, the run, the page's count and rows, the summary.
    with django_assert_max_num_queries(10):
        page = client.get(f"/checks/runs/{run.pk}/").content.decode()
    assert check_title("http.health") in page and "The health check answered 500." in page
    assert "Not applicable: 3 AWS checks." in page
    assert "The service has no AWS region." not in page


def test_a_regression_email_names_the_check_by_title(
    service, lead, reviewer, django_capture_on_commit_callbacks
):
    store(service, {"http.health": Outcome.passed("200.")})
    run = store(service, {"http.health": Outcome.failed("The health check answered 500.")})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        checks_regressed(service.pk, run)
    body = mail.outbox[-1].body
    assert check_title("http.health") in body


def test_the_service_form_labels_read_as_words(lead, client_for):
    page = client_for(lead).get("/services/new/").content.decode()
    for label in ("Repository URL", "Cloud role ARN", "Health check URL", "AWS account ID"):
        assert label in page, label
    for code in ("Repository url", "Cloud role arn", "Health check url"):
        assert code not in page, code


def test_the_activity_record_shows_role_names(auditor, client_for, lead):
    page = client_for(auditor).get("/activity/").content.decode()
    assert "(Product lead)" in page
    assert "(product_lead)" not in page
