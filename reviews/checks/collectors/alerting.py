"""Alerting checks: Prometheus alert rules and Alertmanager receivers and alerts."""

from __future__ import annotations

from typing import Any

from reviews.checks.collectors.base import (
    CheckContext,
    CheckError,
    CheckType,
    Outcome,
    Target,
    register,
)
from reviews.checks.collectors.http import get

# Alertmanager receiver configurations that reach a person or a system that does.
_PAGING_CONFIGS = (
    "pagerduty_configs",
    "opsgenie_configs",
    "webhook_configs",
    "email_configs",
    "slack_configs",
    "victorops_configs",
    "msteams_configs",
    "sns_configs",
)


async def _json(ctx: CheckContext, url: str) -> Any:
    response = await get(ctx, url)
    if response.status_code != 200:
        raise CheckError(f"{url} answered {response.status_code}.")
    try:
        return response.json()
    except ValueError:
        raise CheckError(f"{url} did not answer JSON.") from None


def _base(url: str) -> str:
    return url.rstrip("/")


@register
class PrometheusRulesCheck(CheckType):
    key = "alerting.prometheus_rules"
    title = "Prometheus has healthy alert rules and sends alerts to an Alertmanager"
    family = "Alerting"
    expected = "at least one healthy alerting rule, and an active Alertmanager"
    defaults = {"min_rules": 1}
    reads = ("prometheus_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.prometheus_url:
            return Outcome.not_applicable("The service has no Prometheus URL.")
        base = _base(target.prometheus_url)
        rules = await _json(ctx, f"{base}/api/v1/rules")
        alerting = [
            rule
            for group in rules.get("data", {}).get("groups", [])
            for rule in group.get("rules", [])
            if rule.get("type") == "alerting"
        ]
        unhealthy = sorted(r.get("name", "?") for r in alerting if r.get("health") != "ok")
        managers = await _json(ctx, f"{base}/api/v1/alertmanagers")
        active = [a.get("url") for a in managers.get("data", {}).get("activeAlertmanagers", [])]
        observed = {
            "alerting_rules": len(alerting),
            "unhealthy": unhealthy,
            "alertmanagers": active,
        }
        if len(alerting) < params["min_rules"]:
            return Outcome.failed(
                f"{len(alerting)} alerting rule(s); at least {params['min_rules']} expected.",
                **observed,
            )
        if unhealthy:
            return Outcome.failed(f"Unhealthy alert rules: {', '.join(unhealthy)}.", **observed)
        if not active:
            return Outcome.failed("Prometheus sends its alerts to no Alertmanager.", **observed)
        return Outcome.passed(
            f"{len(alerting)} healthy alerting rule(s), sent to {len(active)} Alertmanager(s).",
            **observed,
        )


@register
class AlertmanagerReceiversCheck(CheckType):
    key = "alerting.alertmanager_receivers"
    title = "Alertmanager routes alerts to a receiver that reaches someone"
    family = "Alerting"
    expected = "a receiver with PagerDuty, Opsgenie, webhook, e-mail or chat configuration"
    reads = ("alertmanager_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.alertmanager_url:
            return Outcome.not_applicable("The service has no Alertmanager URL.")
        status = await _json(ctx, f"{_base(target.alertmanager_url)}/api/v2/status")
        config = str(status.get("config", {}).get("original", ""))
        kinds = sorted(kind for kind in _PAGING_CONFIGS if f"{kind}:" in config)
        if not kinds:
            return Outcome.failed("No receiver pages, mails or calls a webhook.", receivers=[])
        return Outcome.passed(
            f"Receivers use {', '.join(k.removesuffix('_configs') for k in kinds)}.",
            receivers=kinds,
        )


@register
class NothingFiringCheck(CheckType):
    key = "alerting.nothing_firing"
    title = "No serious alert is firing"
    family = "Alerting"
    expected = "no active, unsilenced alert of the given severities"
    defaults = {"severities": ["critical"]}
    reads = ("alertmanager_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.alertmanager_url:
            return Outcome.not_applicable("The service has no Alertmanager URL.")
        url = (
            f"{_base(target.alertmanager_url)}/api/v2/alerts"
            "?active=true&silenced=false&inhibited=false"
        )
        alerts = await _json(ctx, url)
        firing = sorted(
            a.get("labels", {}).get("alertname", "?")
            for a in alerts
            if a.get("labels", {}).get("severity") in params["severities"]
        )
        if firing:
            return Outcome.failed(f"Firing: {', '.join(firing)}.", firing=firing)
        return Outcome.passed("No serious alert is firing.", active=len(alerts))
