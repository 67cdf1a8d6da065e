"""Alerting checks against local fakes of the Prometheus and Alertmanager APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from reviews.checks.collectors.base import Result, Target
from reviews.checks.collectors.runner import Job, run_jobs
from tests.http_servers import LocalServer

# Checks reach these tests' local servers on loopback, opened as an operator would.
pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer.running() as running:
        yield running


def rules(*entries):
    return json.dumps(
        {"status": "success", "data": {"groups": [{"name": "g", "rules": list(entries)}]}}
    )


def managers(*urls):
    return json.dumps(
        {"status": "success", "data": {"activeAlertmanagers": [{"url": u} for u in urls]}}
    )


def run(key, server, **fields):
    target = Target(
        service_id=1,
        **{name: server.url("/") if value is True else value for name, value in fields.items()},
    )
    return run_jobs([Job(key, target, {})], timeout=2)[0]


def test_healthy_alert_rules_sent_to_an_alertmanager_pass(server):
    server.route("/api/v1/rules", body=rules({"type": "alerting", "name": "Down", "health": "ok"}))
    server.route("/api/v1/alertmanagers", body=managers("http://am:9093/api/v2/alerts"))
    outcome = run("alerting.prometheus_rules", server, prometheus_url=True)
    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["alerting_rules"] == 1


@pytest.mark.parametrize(
    ("rule_list", "active", "message"),
    [
        ([{"type": "recording", "name": "r", "health": "ok"}], ["x"], "0 alerting rule(s)"),
        (
            [{"type": "alerting", "name": "Down", "health": "err"}],
            ["x"],
            "Unhealthy alert rules: Down",
        ),
        ([{"type": "alerting", "name": "Down", "health": "ok"}], [], "no Alertmanager"),
    ],
)
def test_missing_broken_or_unrouted_rules_fail(server, rule_list, active, message):
    server.route("/api/v1/rules", body=rules(*rule_list))
    server.route("/api/v1/alertmanagers", body=managers(*active))
    outcome = run("alerting.prometheus_rules", server, prometheus_url=True)
    assert outcome.result == Result.FAIL
    assert message in outcome.explanation


def test_a_receiver_that_pages_passes_and_a_null_one_fails(server):
    config = (
        "route:\n  receiver: pager\n"
        "receivers:\n- name: pager\n  pagerduty_configs:\n  - routing_key: x\n"
    )
    server.route("/api/v2/status", body=json.dumps({"config": {"original": config}}))
    assert (
        run("alerting.alertmanager_receivers", server, alertmanager_url=True).result == Result.PASS
    )
    server.route(
        "/api/v2/status", body=json.dumps({"config": {"original": "receivers:\n- name: 'null'\n"}})
    )
    assert (
        run("alerting.alertmanager_receivers", server, alertmanager_url=True).result == Result.FAIL
    )


def test_a_firing_critical_alert_fails_and_warnings_do_not(server):
    alerts = [
        {"labels": {"alertname": "HighLatency", "severity": "warning"}},
        {"labels": {"alertname": "ServiceDown", "severity": "critical"}},
    ]
    server.route("/api/v2/alerts", body=json.dumps(alerts))
    outcome = run("alerting.nothing_firing", server, alertmanager_url=True)
    assert outcome.result == Result.FAIL and outcome.observed["firing"] == ["ServiceDown"]
    server.route("/api/v2/alerts", body=json.dumps(alerts[:1]))
    assert run("alerting.nothing_firing", server, alertmanager_url=True).result == Result.PASS


def test_broken_answers_are_errors_with_the_reason(server):
    server.route("/api/v1/rules", status=502)
    outcome = run("alerting.prometheus_rules", server, prometheus_url=True)
    assert outcome.result == Result.ERROR and "answered 502" in outcome.explanation
    server.route("/api/v2/alerts", body="<html>not json</html>")
    outcome = run("alerting.nothing_firing", server, alertmanager_url=True)
    assert outcome.result == Result.ERROR and "did not answer JSON" in outcome.explanation


def test_no_urls_is_not_applicable(server):
    for key in (
        "alerting.prometheus_rules",
        "alerting.alertmanager_receivers",
        "alerting.nothing_firing",
    ):
        assert run(key, server).result == Result.NOT_APPLICABLE


def test_what_a_remote_system_sends_is_stored_even_when_a_database_could_not_hold_it(
    server, db, benefits_team
):
    """NUL and NaN from a remote API must not lose the result (PostgreSQL's text and jsonb
    refuse NUL; jsonb refuses NaN): they arrive as U+FFFD and the number's name."""
    from reviews.checks import selectors as sweeping
    from reviews.checks import services as check_services
    from reviews.models import CheckResult, CheckRun, CheckRunTrigger, Service

    alerts = '[{"labels": {"alertname": "Down\\u0000now", "severity": "critical"}, "x": NaN}]'
    server.route("/api/v2/alerts", body=alerts)
    service = Service.objects.create(
        name="S", slug="s", team=benefits_team, alertmanager_url=server.url("/")
    )
    target = sweeping.target_for(service)
    jobs = [Job("alerting.nothing_firing", target, {})]
    outcomes = run_jobs(jobs, timeout=5)
    run_row = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL)
    check_services.outcomes_store(run_row, jobs, outcomes)
    stored = CheckResult.objects.get()
    assert stored.result == Result.FAIL
    assert stored.observed["firing"] == ["Down\ufffdnow"]
    assert "Down\ufffdnow" in stored.explanation
