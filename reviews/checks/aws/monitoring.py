"""AWS checks: canaries, alarms, dashboards, logs and tracing."""

from __future__ import annotations

from typing import Any

from reviews.checks.aws.client import Aws, AwsCheck, name_of, verdict
from reviews.checks.base import Outcome, register


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
