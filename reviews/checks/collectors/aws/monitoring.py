"""AWS checks: canaries, alarms, dashboards, logs and tracing.

moto 5.2.5 gaps the tests fill with GapProxy (``tests/test_checks_aws_monitoring.py``):
- Synthetics has no StartCanary (canaries stay READY) and no GetCanaryRuns. The proxy
  emulates both; DescribeCanaries is moto's answer with the started canaries RUNNING.
- CloudWatch drops the Tags given to PutDashboard and refuses TagResource on dashboards.
  The proxy remembers PutDashboard's tags and answers ListTagsForResource for dashboards.
- SNS confirms every subscription at once. The proxy answers ListSubscriptionsByTopic
  with PendingConfirmation to show that an unconfirmed subscription alerts no one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from reviews.checks.collectors.aws.client import (
    Aws,
    AwsCheck,
    arn_kind,
    error_code,
    name_of,
    verdict,
)
from reviews.checks.collectors.base import Outcome, register

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef
    from mypy_boto3_synthetics.type_defs import CanaryRunTypeDef, CanaryTypeDef

# (namespace, metric) pairs that count server errors seen by users.
FIVE_XX_METRICS = {
    ("AWS/ApiGateway", "5XXError"),  # REST APIs
    ("AWS/ApiGateway", "5xx"),  # HTTP APIs
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
    ("AWS/CloudFront", "5xxErrorRate"),
}
CANARY_NAMESPACE = "CloudWatchSynthetics"
CANARY_METRICS = ("SuccessPercent", "Failed")
FINISHED_RUN_STATES = ("PASSED", "FAILED")
# The last few runs are read so that a run still in progress does not hide the last result.
RUNS_READ = 3
DAY_MINUTES = 24 * 60


@register
class LogRetentionCheck(AwsCheck):
    key = "aws.logs.retention"
    title = "Log groups keep logs 6 to 8 months"
    expected = "retentionInDays between min_days and max_days on every tagged log group"
    # AWS accepts 180 but not 240 (the allowed values jump from 180 to 365), so in
    # practice only 180 passes; the bounds follow the policy's wording.
    defaults = {"min_days": 180, "max_days": 240}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        names = {name_of(arn) for arn in aws.tagged("logs", "log-group")}
        retention: dict[str, int | None] = {}
        if names:
            pages = aws.logs.get_paginator("describe_log_groups").paginate()
            for page in pages:
                for group in page["logGroups"]:
                    if group.get("logGroupName") in names:
                        retention[group["logGroupName"]] = group.get("retentionInDays")
        low, high = params["min_days"], params["max_days"]
        bad = {
            name: "never expires" if days is None else days
            for name, days in retention.items()
            if days is None or not low <= days <= high
        }
        return verdict(
            "log groups", retention, bad, "out_of_range", f"keep logs outside {low} to {high} days"
        )


@register
class CanariesCheck(AwsCheck):
    """An existence check: a service with no tagged canary fails rather than being N/A,
    because the item asks for canaries. A canary passes when it is RUNNING, scheduled at
    least every ``max_interval_minutes`` and its last finished run PASSED no longer ago
    than ``stale_after_runs`` such intervals (a canary that silently stopped running)."""

    key = "aws.synthetics.canaries"
    title = "Synthetics canaries run every 5 minutes and pass"
    expected = (
        "at least one tagged canary; every one RUNNING, scheduled every max_interval_minutes "
        "or more often, its last run PASSED and recent"
    )
    defaults = {"max_interval_minutes": 5, "stale_after_runs": 3}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        canaries = _tagged_canaries(aws)
        most = params["max_interval_minutes"]
        if not canaries:
            return Outcome.failed(
                f"No Synthetics canary carries the service's Project tag "
                f"(Project={aws.target.project_tag}); at least one should check the service "
                f"every {most} minutes.",
                problems={},
                checked=[],
            )
        stale_after = timedelta(minutes=most * params["stale_after_runs"])
        problems: dict[str, list[str]] = {}
        last_runs: dict[str, dict[str, str]] = {}
        for canary in canaries:
            name = canary.get("Name", "")
            found = _schedule_problems(canary, most)
            run = _last_finished_run(aws, name)
            if run is None:
                found.append("has no finished run")
            else:
                last_runs[name] = {"state": run.get("Status", {}).get("State", "")}
                found += _run_problems(run, stale_after)
                if completed := run.get("Timeline", {}).get("Completed"):
                    last_runs[name]["completed"] = completed.isoformat()
            if found:
                problems[name] = found
        return verdict(
            "canaries",
            [c.get("Name", "") for c in canaries],
            problems,
            "problems",
            f"are not running every {most} minutes and passing",
            reasons=True,
            also={"runs": last_runs},
        )


@register
class Alarm5xxCheck(AwsCheck):
    """Fails, rather than being N/A, when the service has no tagged alarm at all: the
    item asks for a 5xx alarm, and a service without alarms is the case to catch. One
    5xx alarm that alerts someone is enough; the others are listed in ``not_alerting``.
    Composite alarms are not read (moto cannot create them to test against)."""

    key = "aws.cloudwatch.alarm_5xx"
    title = "An alarm on 5xx errors alerts someone"
    expected = (
        "a tagged CloudWatch alarm on a 5xx metric (API Gateway, load balancer or CloudFront) "
        "with actions enabled and an SNS topic with a confirmed subscription"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        arns = set(aws.tagged("cloudwatch", "alarm"))
        alarms = [a for a in _metric_alarms(aws) if a.get("AlarmArn") in arns] if arns else []
        names = sorted(a.get("AlarmName", "") for a in alarms)
        five_xx = [a for a in alarms if any(m[:2] in FIVE_XX_METRICS for m in _watched(a))]
        alerting = _Alerting(aws)
        reasons = {a.get("AlarmName", ""): alerting.why_not(a) for a in five_xx}
        ok = sorted(name for name, reason in reasons.items() if reason is None)
        silent = {name: reason for name, reason in sorted(reasons.items()) if reason is not None}
        observed = {"alerting": ok, "not_alerting": silent, "five_xx": sorted(reasons)}
        observed["checked"] = names
        if not alarms:
            return Outcome.failed(
                "No CloudWatch alarm carries the service's Project tag "
                f"(Project={aws.target.project_tag}), so none watches 5xx errors.",
                **observed,
            )
        if not five_xx:
            return Outcome.failed(
                f"None of the service's {len(names)} alarms watches a 5xx metric: {_few(names)}.",
                **observed,
            )
        if ok:
            return Outcome.passed(
                f"{len(ok)} of the service's {len(reasons)} alarms on 5xx errors alert someone: "
                f"{', '.join(ok)}.",
                **observed,
            )
        listed = ", ".join(f"{name} ({reason})" for name, reason in silent.items())
        return Outcome.failed(
            f"The service's alarms on 5xx errors alert no one: {listed}.", **observed
        )


@register
class CanaryAlarmsCheck(AwsCheck):
    """Any alarm in the account on the canary's own metric counts, tagged or not: the
    ``CanaryName`` dimension already ties it to the service's canary."""

    key = "aws.cloudwatch.canary_alarms"
    title = "Every canary has an alarm that alerts someone"
    expected = (
        "for every tagged canary, an alarm on CloudWatchSynthetics SuccessPercent or Failed "
        "(CanaryName=<canary>) with actions enabled and an SNS topic with a confirmed "
        "subscription"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        names = [c.get("Name", "") for c in _tagged_canaries(aws)]
        alarms = _metric_alarms(aws) if names else []
        alerting = _Alerting(aws)
        problems: dict[str, list[str]] = {}
        for canary in names:
            mine = [a for a in alarms if _watches_canary(a, canary)]
            if not mine:
                problems[canary] = ["no alarm on its SuccessPercent or Failed metric"]
                continue
            reasons = {a.get("AlarmName", ""): alerting.why_not(a) for a in mine}
            if all(reasons.values()):
                problems[canary] = [f"alarm {name}: {why}" for name, why in sorted(reasons.items())]
        return verdict(
            "canaries",
            names,
            problems,
            "without_alarm",
            "have no alarm that alerts someone",
            reasons=True,
        )


@register
class DashboardsCheck(AwsCheck):
    """An existence check: no dashboard for the service fails. Dashboards are global to
    the account. A dashboard belongs to the service when it carries the Project tag, or,
    when ``name_prefix`` is set, when its name starts with it: teams whose reading role
    may not list tags (or whose dashboards predate tagging) set the prefix, and no tags
    are read when a name matches."""

    key = "aws.cloudwatch.dashboards"
    title = "The service has a CloudWatch dashboard"
    expected = "at least one CloudWatch dashboard with the Project tag (or named name_prefix…)"
    defaults = {"name_prefix": ""}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        pages = aws.cloudwatch.get_paginator("list_dashboards").paginate()
        entries = [d for page in pages for d in page["DashboardEntries"]]
        names = sorted(d.get("DashboardName", "") for d in entries)
        prefix = params["name_prefix"]
        named = [name for name in names if prefix and name.startswith(prefix)]
        if named:
            return Outcome.passed(
                f"{len(named)} dashboards are named “{prefix}…”: {', '.join(named)}.",
                dashboards=named,
                checked=names,
            )
        tag = aws.target.project_tag
        tagged = sorted(
            d.get("DashboardName", "")
            for d in entries
            if _project_of(aws, d.get("DashboardArn", "")) == tag
        )
        if tagged:
            return Outcome.passed(
                f"{len(tagged)} dashboards carry the service's Project tag: {', '.join(tagged)}.",
                dashboards=tagged,
                checked=names,
            )
        if not names:
            return Outcome.failed(
                "The account has no CloudWatch dashboards.", dashboards=[], checked=[]
            )
        named_like = f" or is named “{prefix}…”" if prefix else ""
        return Outcome.failed(
            f"None of the account's {len(names)} dashboards carries the service's Project tag "
            f"(Project={tag}){named_like}: {_few(names)}.",
            dashboards=[],
            checked=names,
        )


# --- shared by the checks above ----------------------------------------------------------


def _tagged_canaries(aws: Aws) -> list[CanaryTypeDef]:
    """The canaries carrying the Project tag, read from DescribeCanaries: the tagging API
    does not index Synthetics (in moto at least), and boto3 has no paginator for it."""
    found: list[CanaryTypeDef] = []
    token = ""
    while True:
        page = (
            aws.synthetics.describe_canaries(NextToken=token)
            if token
            else aws.synthetics.describe_canaries()
        )
        tag = aws.target.project_tag
        found += [c for c in page["Canaries"] if c.get("Tags", {}).get("Project") == tag]
        token = page.get("NextToken", "")
        if not token:
            return sorted(found, key=lambda c: c.get("Name", ""))


def _schedule_problems(canary: CanaryTypeDef, most: int) -> list[str]:
    found = []
    state = canary.get("Status", {}).get("State", "unknown")
    if state != "RUNNING":
        found.append(f"state is {state}, not RUNNING")
    gap = schedule_gap(canary.get("Schedule", {}).get("Expression", ""))
    if isinstance(gap, str):
        found.append(gap)
    elif gap > most:
        found.append(f"waits up to {gap} minutes between runs")
    return found


def _run_problems(run: CanaryRunTypeDef, stale_after: timedelta) -> list[str]:
    found = []
    state = run.get("Status", {}).get("State", "")
    if state != "PASSED":
        found.append(f"last run {state}")
    completed = run.get("Timeline", {}).get("Completed")
    if completed is None:
        found.append("last run has no finish time")
    elif (age := datetime.now(UTC) - completed) > stale_after:
        found.append(f"last run finished {_ago(age)}")
    return found


def _last_finished_run(aws: Aws, name: str) -> CanaryRunTypeDef | None:
    """The newest run that PASSED or FAILED (runs come newest first)."""
    runs = aws.synthetics.get_canary_runs(Name=name, MaxResults=RUNS_READ)["CanaryRuns"]
    return next((r for r in runs if r.get("Status", {}).get("State") in FINISHED_RUN_STATES), None)


def _metric_alarms(aws: Aws) -> list[MetricAlarmTypeDef]:
    pages = aws.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
    return [a for page in pages for a in page["MetricAlarms"]]


def _watched(alarm: MetricAlarmTypeDef) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric an alarm reads, metric math included."""
    found = []
    if alarm.get("MetricName"):
        dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        found.append((alarm.get("Namespace", ""), alarm["MetricName"], dimensions))
    for query in alarm.get("Metrics", []):
        metric = query.get("MetricStat", {}).get("Metric", {})
        if metric.get("MetricName"):
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric.get("Namespace", ""), metric.get("MetricName", ""), dimensions))
    return found


def _watches_canary(alarm: MetricAlarmTypeDef, canary: str) -> bool:
    return any(
        namespace == CANARY_NAMESPACE
        and metric in CANARY_METRICS
        and dimensions.get("CanaryName") == canary
        for namespace, metric, dimensions in _watched(alarm)
    )


class _Alerting:
    """Whether an alarm reaches a person: its actions are enabled and one of them is an
    SNS topic with a confirmed subscription (a PendingConfirmation one reaches no one) or
    an Incident Manager response plan. Auto Scaling, EC2 and Systems Manager OpsItem
    actions do not alert anyone. Topics are read once per check."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self._topics: dict[str, str | None] = {}

    def why_not(self, alarm: MetricAlarmTypeDef) -> str | None:
        """None when the alarm alerts someone, else the reason it does not."""
        if not alarm.get("ActionsEnabled"):
            return "its actions are disabled"
        actions = alarm.get("AlarmActions", [])
        if not actions:
            return "it has no alarm actions"
        reasons = []
        for action in actions:
            reason = self._action(action)
            if reason is None:
                return None
            reasons.append(reason)
        return "; ".join(reasons)

    def _action(self, arn: str) -> str | None:
        service, _ = arn_kind(arn)
        if service == "ssm-incidents":
            return None
        if service != "sns":
            return f"{arn} alerts no one"
        if arn not in self._topics:
            self._topics[arn] = self._topic(arn)
        return self._topics[arn]

    def _topic(self, arn: str) -> str | None:
        topic = name_of(arn)
        pages = self.aws.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
        try:
            subscriptions = [s for page in pages for s in page["Subscriptions"]]
        except ClientError as exc:
            if error_code(exc) == "NotFound":
                return f"topic {topic} does not exist"
            raise
        # An unconfirmed subscription's ARN is "PendingConfirmation" (or "Deleted").
        if not any(s.get("SubscriptionArn", "").startswith("arn:") for s in subscriptions):
            return f"topic {topic} has no confirmed subscription"
        return None


def _project_of(aws: Aws, arn: str) -> str | None:
    tags = aws.cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags", [])
    return next((t.get("Value") for t in tags if t.get("Key") == "Project"), None)


def schedule_gap(expression: str) -> int | str:
    """The longest wait in minutes between two runs of a canary schedule, or what is wrong
    with it. ``rate(N minutes|hours)`` and ``cron(minutes hours day month weekday year)``
    are understood; a cron that skips some days or months is reported as such."""
    text = expression.strip()
    rate = re.fullmatch(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours)\s*\)", text, re.I)
    if rate:
        count = int(rate.group(1))
        if count == 0:
            return "runs only once, when started"
        return count * 60 if rate.group(2).lower().startswith("hour") else count
    cron = re.fullmatch(r"cron\((.*)\)", text, re.I)
    fields = cron.group(1).split() if cron else []
    if len(fields) != 6:
        return f"schedule “{expression}” could not be understood"
    minutes, hours = _cron_field(fields[0], 59), _cron_field(fields[1], 23)
    if minutes is None or hours is None:
        return f"schedule “{expression}” could not be understood"
    if any(field not in ("*", "?") for field in fields[2:]):
        return f"schedule “{expression}” runs only on some days"
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    gaps = [b - a for a, b in pairwise(times)]
    return max([*gaps, times[0] + DAY_MINUTES - times[-1]])


def _cron_field(field: str, highest: int) -> set[int] | None:
    """The values of one cron field (``*``, ``N``, ``A-B``, ``*/S``, ``N/S``, ``A-B/S``
    and comma lists of them) from 0 to ``highest``; None when it can't be read."""
    values: set[int] = set()
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not match:
            return None
        start_text, end_text, step_text = match.groups()
        if start_text == "*":
            if end_text:
                return None
            start, end = 0, highest
        else:
            start = int(start_text)
            end = int(end_text) if end_text else (highest if step_text else start)
        step = int(step_text) if step_text else 1
        if not 0 <= start <= end <= highest or step < 1:
            return None
        values.update(range(start, end + 1, step))
    return values


def _ago(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minutes ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours ago"
    return f"{minutes // DAY_MINUTES} days ago"


def _few(names: list[str], shown: int = 10) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
