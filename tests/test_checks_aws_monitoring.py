"""The AWS monitoring checks (canaries, alarms, dashboards) against moto's server.

moto 5.2.5 lacks a few calls these checks make; a GapProxy (``tests/aws_gaps.py``) in
front of moto answers them over real HTTP and forwards everything else:
- Synthetics: StartCanary (moto's canaries stay READY) and GetCanaryRuns.
- CloudWatch: a dashboard's tags (moto drops PutDashboard's Tags).
- SNS: an unconfirmed (PendingConfirmation) subscription (moto confirms at once).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reviews.checks.collectors.aws.monitoring import schedule_gap
from reviews.checks.collectors.base import Result
from tests.aws import MOTO_ACCOUNT, OTHER, PROJECT, REGION, TAG, client, run_one
from tests.aws_gaps import GapProxy, ProxyRequest, Reply

pytestmark = pytest.mark.usefixtures("aws")


# --- Synthetics: moto plus StartCanary and the run history ---------------------------------


class Synthetics:
    """moto's Synthetics with what it lacks: StartCanary, GetCanaryRuns, and (optionally)
    DescribeCanaries in pages of ``page_size`` (moto returns everything at once)."""

    def __init__(self, proxy: GapProxy) -> None:
        self.proxy = proxy
        self.started: set[str] = set()
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.page_size = 0
        proxy.answer("POST", r"/canary/(?P<name>[^/]+)/start", self._start)
        proxy.answer("POST", r"/canary/(?P<name>[^/]+)/runs", self._runs)
        proxy.answer("POST", r"/canaries", self._describe)

    def _start(self, request: ProxyRequest) -> Any:
        self.started.add(request.groups["name"])
        return {}

    def _runs(self, request: ProxyRequest) -> Any:
        runs = self.runs.get(request.groups["name"], [])
        return {"CanaryRuns": runs[: request.json.get("MaxResults", 100)]}

    def _describe(self, request: ProxyRequest) -> Any:
        canaries = json.loads(request.forward().body)["Canaries"]
        for canary in canaries:
            if canary["Name"] in self.started:
                canary["Status"]["State"] = "RUNNING"
        if not self.page_size:
            return {"Canaries": canaries}
        start = int(request.json.get("NextToken", "page-0").removeprefix("page-"))
        page: dict[str, Any] = {"Canaries": canaries[start : start + self.page_size]}
        if start + self.page_size < len(canaries):
            page["NextToken"] = f"page-{start + self.page_size}"
        return page


@pytest.fixture
def synthetics(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Synthetics]:
    with GapProxy.running(moto_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SYNTHETICS", proxy.url)
        yield Synthetics(proxy)
        assert not proxy.errors


def run(state: str, minutes_ago: float) -> dict[str, Any]:
    """One canary run, newest first in a list; a RUNNING run has not finished."""
    finished = time.time() - minutes_ago * 60
    timeline = {"Started": finished - 30}
    if state != "RUNNING":
        timeline["Completed"] = finished
    return {"Id": f"run-{finished}", "Status": {"State": state}, "Timeline": timeline}


def canary(
    gaps: Synthetics,
    name: str,
    schedule: str = "rate(5 minutes)",
    runs: tuple[dict[str, Any], ...] | None = None,
    start: bool = True,
    tag: str = TAG,
) -> None:
    """A canary (RUNNING unless ``start`` is false) whose last run PASSED two minutes ago
    unless ``runs`` says otherwise."""
    synthetics = client("synthetics")
    synthetics.create_canary(
        Name=name,
        Code={"Handler": "index.handler", "S3Bucket": "canaries", "S3Key": f"{name}.zip"},
        ArtifactS3Location="s3://canaries/artifacts",
        ExecutionRoleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/canary",
        Schedule={"Expression": schedule},
        RuntimeVersion="syn-nodejs-puppeteer-9.1",
        Tags={"Project": tag},
    )
    if start:
        synthetics.start_canary(Name=name)
    gaps.runs[name] = list(runs if runs is not None else (run("PASSED", 2),))


def test_canaries_pass_when_every_tagged_canary_runs_often_and_passed_lately(synthetics):
    canary(synthetics, "claims-home")
    canary(synthetics, "claims-apply", schedule="cron(0/1 * * * ? *)")
    canary(synthetics, "theirs", runs=(run("FAILED", 1),), start=False, tag="someone-else")

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["problems"] == {}
    assert outcome.observed["checked"] == ["claims-apply", "claims-home"]
    assert outcome.observed["runs"]["claims-home"]["state"] == "PASSED"
    assert outcome.explanation == "All 2 canaries checked."


def test_canaries_fail_when_the_service_has_none(synthetics):
    canary(synthetics, "theirs", tag="someone-else")

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == (
        "No Synthetics canary carries the service's Project tag (Project=benefits); "
        "at least one should check the service every 5 minutes."
    )
    assert outcome.observed["checked"] == []


def test_canaries_fail_naming_each_canary_and_what_is_wrong(synthetics):
    canary(synthetics, "fine")
    canary(synthetics, "stopped", start=False)
    canary(synthetics, "slow", schedule="rate(1 hour)")
    canary(synthetics, "failing", runs=(run("FAILED", 3), run("PASSED", 8)))
    canary(synthetics, "stale", runs=(run("PASSED", 180),))
    canary(synthetics, "never", runs=())

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["problems"] == {
        "failing": ["last run FAILED"],
        "never": ["has no finished run"],
        "slow": ["waits up to 60 minutes between runs"],
        "stale": ["last run finished 3 hours ago"],
        "stopped": ["state is READY, not RUNNING"],
    }
    assert outcome.explanation.startswith(
        "5 of 6 canaries are not running every 5 minutes and passing: failing (last run FAILED), "
    )
    assert "stopped (state is READY, not RUNNING)." in outcome.explanation


def test_a_run_in_progress_does_not_hide_the_last_finished_one(synthetics):
    canary(synthetics, "passed", runs=(run("RUNNING", 0), run("PASSED", 4)))
    canary(synthetics, "failed", runs=(run("RUNNING", 0), run("FAILED", 4)))

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.observed["problems"] == {"failed": ["last run FAILED"]}


def test_a_canary_last_run_a_few_intervals_ago_is_stale(synthetics):
    # Three 5-minute intervals by default: 14 minutes is fine, 16 is not.
    canary(synthetics, "recent", runs=(run("PASSED", 14),))
    canary(synthetics, "quiet", runs=(run("PASSED", 16),))

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.observed["problems"] == {"quiet": ["last run finished 16 minutes ago"]}


def test_a_canary_schedule_that_cannot_be_understood_is_said_so(synthetics):
    canary(synthetics, "odd", schedule="cron(0/5 * L * ? *)")
    canary(synthetics, "weekdays", schedule="cron(0/5 * ? * MON-FRI *)")
    canary(synthetics, "once", schedule="rate(0 minutes)")

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.observed["problems"] == {
        "odd": ["schedule “cron(0/5 * L * ? *)” runs only on some days"],
        "once": ["runs only once, when started"],
        "weekdays": ["schedule “cron(0/5 * ? * MON-FRI *)” runs only on some days"],
    }


def test_the_longest_interval_between_canary_runs_can_be_raised(synthetics):
    canary(synthetics, "hourly", schedule="rate(1 hour)", runs=(run("PASSED", 50),))

    outcome = run_one("aws.synthetics.canaries", params={"max_interval_minutes": 60})

    assert outcome.result == Result.PASS, outcome


def test_canaries_are_read_page_by_page(synthetics):
    synthetics.page_size = 1
    for name in ("a-home", "b-apply", "c-status"):
        canary(synthetics, name)

    outcome = run_one("aws.synthetics.canaries")

    assert outcome.observed["checked"] == ["a-home", "b-apply", "c-status"]
    assert synthetics.proxy.requests.count(("POST", "/canaries")) == 3


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("rate(1 minute)", 1),
        ("rate(5 minutes)", 5),
        ("rate(2 hours)", 120),
        ("cron(* * * * ? *)", 1),
        ("cron(*/5 * * * ? *)", 5),
        ("cron(0/10 * * * ? *)", 10),
        ("cron(0,15,30,45 * * * ? *)", 15),
        ("cron(0,50 * * * ? *)", 50),  # from :50 to the next hour's :00 is 10, :00 to :50 is 50
        ("cron(10-20/5 * * * ? *)", 50),  # :20 to the next hour's :10
        ("cron(0/5 8-17 ? * * *)", 14 * 60 + 5),  # overnight: 17:55 to 08:00
        ("cron(0 0 * * ? *)", 24 * 60),
        (
            "cron(0/5 * ? * MON-FRI *)",
            "schedule “cron(0/5 * ? * MON-FRI *)” runs only on some days",
        ),
        ("rate(5 fortnights)", "schedule “rate(5 fortnights)” could not be understood"),
        ("cron(0/5 * * *)", "schedule “cron(0/5 * * *)” could not be understood"),
        ("cron(61 * * * ? *)", "schedule “cron(61 * * * ? *)” could not be understood"),
        ("cron(0/0 * * * ? *)", "schedule “cron(0/0 * * * ? *)” could not be understood"),
        ("", "schedule “” could not be understood"),
    ],
)
def test_the_interval_of_a_canary_schedule(expression, gap):
    assert schedule_gap(expression) == gap


# --- alarms on 5xx errors ------------------------------------------------------------------


def topic(name: str, subscribed: bool = True) -> str:
    sns = client("sns")
    arn: str = sns.create_topic(Name=name)["TopicArn"]
    if subscribed:
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="oncall@example.com")
    return arn


def alarm(
    name: str,
    namespace: str = "AWS/ApiGateway",
    metric: str = "5XXError",
    actions: list[str] | None = None,
    tags: list[dict[str, str]] = PROJECT,
    dimensions: dict[str, str] | None = None,
    **settings: Any,
) -> None:
    if "Metrics" not in settings:
        settings.update(Namespace=namespace, MetricName=metric, Statistic="Sum", Period=60)
        settings["Dimensions"] = [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()]
    client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=actions if actions is not None else [topic("oncall")],
        Tags=tags,
        **settings,
    )


@pytest.mark.parametrize(
    ("namespace", "metric"),
    [
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/CloudFront", "5xxErrorRate"),
    ],
)
def test_alarm_5xx_passes_with_a_subscribed_alarm_on_a_5xx_metric(namespace, metric):
    alarm("claims-5xx", namespace, metric)
    alarm("claims-latency", "AWS/ApiGateway", "Latency")

    outcome = run_one("aws.cloudwatch.alarm_5xx")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "alerting": ["claims-5xx"],
        "not_alerting": {},
        "five_xx": ["claims-5xx"],
        "checked": ["claims-5xx", "claims-latency"],
    }
    assert outcome.explanation == (
        "1 of the service's 1 alarms on 5xx errors alert someone: claims-5xx."
    )


def test_alarm_5xx_reads_the_metrics_of_a_metric_math_alarm():
    stat = {
        "Metric": {
            "Namespace": "AWS/ApplicationELB",
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Dimensions": [{"Name": "LoadBalancer", "Value": "app/claims/1"}],
        },
        "Period": 60,
        "Stat": "Sum",
    }
    alarm(
        "claims-5xx-rate",
        Metrics=[
            {"Id": "errors", "MetricStat": stat, "ReturnData": False},
            {"Id": "rate", "Expression": "errors * 100", "ReturnData": True},
        ],
    )

    outcome = run_one("aws.cloudwatch.alarm_5xx")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["alerting"] == ["claims-5xx-rate"]


def test_alarm_5xx_passes_when_an_incident_manager_response_plan_is_engaged():
    plan = f"arn:aws:ssm-incidents::{MOTO_ACCOUNT}:response-plan/claims"
    alarm("claims-5xx", actions=[plan])

    assert run_one("aws.cloudwatch.alarm_5xx").result == Result.PASS


def test_alarm_5xx_fails_when_the_service_has_no_tagged_alarm():
    alarm("theirs-5xx", tags=OTHER)  # another project's: does not count

    outcome = run_one("aws.cloudwatch.alarm_5xx")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == (
        "No CloudWatch alarm carries the service's Project tag (Project=benefits), "
        "so none watches 5xx errors."
    )


def test_alarm_5xx_fails_naming_the_alarms_when_none_watches_a_5xx_metric():
    alarm("claims-latency", "AWS/ApiGateway", "Latency")
    alarm("claims-4xx", "AWS/ApiGateway", "4XXError")

    outcome = run_one("aws.cloudwatch.alarm_5xx")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == (
        "None of the service's 2 alarms watches a 5xx metric: claims-4xx, claims-latency."
    )


def test_alarm_5xx_fails_naming_each_5xx_alarm_and_why_it_alerts_no_one():
    scale_out = (
        f"arn:aws:autoscaling:{REGION}:{MOTO_ACCOUNT}:scalingPolicy:1:autoScalingGroupName/"
        "claims:policyName/out"
    )
    alarm("disabled", ActionsEnabled=False)
    alarm("no-actions", actions=[])
    alarm("unsubscribed", actions=[topic("quiet", subscribed=False)])
    alarm("gone", actions=[f"arn:aws:sns:{REGION}:{MOTO_ACCOUNT}:deleted"])
    alarm("scaling", actions=[scale_out])

    outcome = run_one("aws.cloudwatch.alarm_5xx")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["alerting"] == []
    assert outcome.observed["not_alerting"] == {
        "disabled": "its actions are disabled",
        "gone": "topic deleted does not exist",
        "no-actions": "it has no alarm actions",
        "scaling": f"{scale_out} alerts no one",
        "unsubscribed": "topic quiet has no confirmed subscription",
    }
    assert outcome.explanation.startswith(
        "The service's alarms on 5xx errors alert no one: disabled (its actions are disabled), "
        "gone (topic deleted does not exist), "
    )


def test_one_subscribed_action_among_several_is_enough():
    alarm("claims-5xx", actions=[topic("quiet", subscribed=False), topic("oncall")])

    assert run_one("aws.cloudwatch.alarm_5xx").result == Result.PASS


def test_a_subscription_pending_confirmation_alerts_no_one(moto_url, monkeypatch):
    alarm("claims-5xx")

    def pending(request: ProxyRequest) -> Reply:
        # What AWS answers for an email subscription nobody confirmed yet.
        reply = request.forward()
        body = reply.body.decode() if isinstance(reply.body, bytes) else reply.body
        reply.body = re.sub(
            r"<SubscriptionArn>[^<]*</SubscriptionArn>",
            "<SubscriptionArn>PendingConfirmation</SubscriptionArn>",
            body,
        )
        return reply

    with GapProxy.running(moto_url) as proxy:
        proxy.answer_action("ListSubscriptionsByTopic", pending)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", proxy.url)

        outcome = run_one("aws.cloudwatch.alarm_5xx")

    assert not proxy.errors
    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["not_alerting"] == {
        "claims-5xx": "topic oncall has no confirmed subscription"
    }


# --- alarms on canaries --------------------------------------------------------------------


def canary_alarm(name: str, canary_name: str, metric: str = "SuccessPercent", **kw: Any) -> None:
    alarm(
        name,
        "CloudWatchSynthetics",
        metric,
        tags=[],  # the CanaryName dimension ties it to the canary, tagged or not
        dimensions={"CanaryName": canary_name},
        **kw,
    )


def test_canary_alarms_pass_when_every_canary_has_an_alarm_that_alerts(synthetics):
    canary(synthetics, "claims-home")
    canary(synthetics, "claims-apply")
    canary_alarm("home-success", "claims-home")
    canary_alarm("apply-failed", "claims-apply", "Failed")

    outcome = run_one("aws.cloudwatch.canary_alarms")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"without_alarm": {}, "checked": ["claims-apply", "claims-home"]}


def test_canary_alarms_fail_naming_each_canary_and_why(synthetics):
    canary(synthetics, "fine")
    canary(synthetics, "bare")
    canary(synthetics, "muted")
    canary(synthetics, "duration")
    canary_alarm("fine-success", "fine")
    canary_alarm("fine-for-bare", "fine")  # another canary's alarm is not bare's
    canary_alarm("muted-success", "muted", actions=[topic("quiet", subscribed=False)])
    canary_alarm("muted-failed", "muted", "Failed", ActionsEnabled=False)
    canary_alarm("duration-slow", "duration", "Duration")

    outcome = run_one("aws.cloudwatch.canary_alarms")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_alarm"] == {
        "bare": ["no alarm on its SuccessPercent or Failed metric"],
        "duration": ["no alarm on its SuccessPercent or Failed metric"],
        "muted": [
            "alarm muted-failed: its actions are disabled",
            "alarm muted-success: topic quiet has no confirmed subscription",
        ],
    }
    assert outcome.explanation.startswith(
        "3 of 4 canaries have no alarm that alerts someone: bare (no alarm on its "
    )


def test_canary_alarms_are_not_applicable_without_tagged_canaries(synthetics):
    canary(synthetics, "theirs", tag="someone-else")

    outcome = run_one("aws.cloudwatch.canary_alarms")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No canaries with the service's Project tag."


# --- dashboards ----------------------------------------------------------------------------


class DashboardTags:
    """moto drops the Tags given to PutDashboard: remember them and answer
    ListTagsForResource for dashboards; count those calls."""

    def __init__(self, proxy: GapProxy) -> None:
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.reads = 0
        proxy.answer("POST", "/", self._put, when=self._is("PutDashboard"))
        proxy.answer("POST", "/", self._list_tags, when=self._is("ListTagsForResource"))

    @staticmethod
    def _is(operation: str) -> Any:
        def when(request: ProxyRequest) -> bool:
            targets = [v for k, v in request.headers.items() if k.lower() == "x-amz-target"]
            return targets == [f"GraniteServiceVersion20100801.{operation}"]

        return when

    def _put(self, request: ProxyRequest) -> Reply:
        body = request.json
        arn = f"arn:aws:cloudwatch::{MOTO_ACCOUNT}:dashboard/{body['DashboardName']}"
        self.tags[arn] = body.get("Tags", [])
        return request.forward()

    def _list_tags(self, request: ProxyRequest) -> Any:
        arn = request.json["ResourceARN"]
        if ":dashboard/" not in arn:
            return request.forward()
        self.reads += 1
        return {"Tags": self.tags.get(arn, [])}


@pytest.fixture
def dashboard_tags(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DashboardTags]:
    with GapProxy.running(moto_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", proxy.url)
        yield DashboardTags(proxy)
        assert not proxy.errors


def dashboard(name: str, tags: list[dict[str, str]] | None = None) -> None:
    body = json.dumps({"widgets": []})
    client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body, Tags=tags or [])


def test_dashboards_pass_with_a_dashboard_carrying_the_project_tag(dashboard_tags):
    dashboard("claims-overview", PROJECT)
    dashboard("theirs", OTHER)
    dashboard("untagged")

    outcome = run_one("aws.cloudwatch.dashboards")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "dashboards": ["claims-overview"],
        "checked": ["claims-overview", "theirs", "untagged"],
    }
    assert outcome.explanation == ("1 dashboards carry the service's Project tag: claims-overview.")


def test_dashboards_fail_when_the_account_has_none(dashboard_tags):
    outcome = run_one("aws.cloudwatch.dashboards")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == "The account has no CloudWatch dashboards."


def test_dashboards_fail_naming_the_dashboards_none_of_which_is_the_services(dashboard_tags):
    dashboard("theirs", OTHER)
    dashboard("untagged")

    outcome = run_one("aws.cloudwatch.dashboards", params={"name_prefix": "claims-"})

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == (
        "None of the account's 2 dashboards carries the service's Project tag "
        "(Project=benefits) or is named “claims-…”: theirs, untagged."
    )
    assert outcome.observed["dashboards"] == []


def test_a_name_prefix_finds_the_services_dashboards_without_reading_tags(dashboard_tags):
    dashboard("claims-overview")
    dashboard("claims-errors")
    dashboard("theirs", OTHER)

    outcome = run_one("aws.cloudwatch.dashboards", params={"name_prefix": "claims-"})

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["dashboards"] == ["claims-errors", "claims-overview"]
    assert dashboard_tags.reads == 0


def test_a_name_prefix_does_not_stop_a_tagged_dashboard_from_counting(dashboard_tags):
    dashboard("overview", PROJECT)

    outcome = run_one("aws.cloudwatch.dashboards", params={"name_prefix": "claims-"})

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["dashboards"] == ["overview"]
    assert dashboard_tags.reads == 1


def test_the_dashboard_name_prefix_must_be_text():
    outcome = run_one("aws.cloudwatch.dashboards", params={"name_prefix": 3})

    assert outcome.result == Result.ERROR, outcome
    assert outcome.explanation == "aws.cloudwatch.dashboards: “name_prefix” must be str."
