"""New Relic checks: synthetic monitors watch the service, often enough, and pass.

Read with NerdGraph (New Relic's GraphQL API, ``API-Key: <user key>``): an entity search
for synthetic monitors tagged ``Project = <project_tag>`` (and in the connection's account,
when it names one), following the result cursor.
"""

from __future__ import annotations

from typing import Any

from reviews.checks.collectors.base import CheckError, Outcome, Target, register
from reviews.checks.collectors.platforms import Api, PlatformCheck, probe

MONITORS_QUERY = """
query Monitors($query: String!, $cursor: String) {
  actor {
    entitySearch(query: $query) {
      results(cursor: $cursor) {
        nextCursor
        entities {
          guid
          name
          reporting
          ... on SyntheticMonitorEntityOutline {
            monitorType
            period
            monitorSummary { status successRate }
          }
        }
      }
    }
  }
}
"""
# Enough pages for thousands of monitors; a runaway cursor must not loop forever.
MAX_PAGES = 20


@probe("newrelic", "New Relic")
async def accepts_the_key(api: Api) -> str:
    api.headers["API-Key"] = api.credentials.secret
    answer = await api.call("POST", "", json={"query": "{ actor { user { email } } }"})
    if answer.get("errors"):
        messages = "; ".join(e.get("message", "?") for e in answer["errors"])
        raise CheckError(f"New Relic refused the query: {messages}")
    email = ((answer.get("data") or {}).get("actor") or {}).get("user", {}).get("email", "?")
    return f"New Relic accepted the key of {email}."


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@register
class NewRelicMonitorsCheck(PlatformCheck):
    key = "newrelic.synthetics"
    title = "New Relic synthetic monitors watch the service and pass"
    family = "New Relic"
    kind = "newrelic"
    platform = "New Relic"
    optional = True
    expected = (
        "enabled monitors tagged with the Project, every max_period_minutes or more often, passing"
    )
    defaults = {"max_period_minutes": 5, "min_success_rate": 99.0}
    reads = ("project_tag",)
    fresh_for_seconds = 3600

    def applies(self, target: Target) -> str:
        return "" if target.project_tag else "The service has no Project tag."

    async def monitors(self, target: Target, api: Api) -> list[dict[str, Any]]:
        api.headers["API-Key"] = api.credentials.secret
        query = "domain = 'SYNTH' AND type = 'MONITOR' AND tags.Project = " + _quoted(
            target.project_tag
        )
        if api.credentials.account.isdigit():
            query += f" AND accountId = {int(api.credentials.account)}"
        found: list[dict[str, Any]] = []
        cursor = None
        for _ in range(MAX_PAGES):
            answer = await api.call(
                "POST",
                "",
                json={"query": MONITORS_QUERY, "variables": {"query": query, "cursor": cursor}},
            )
            if answer.get("errors"):
                messages = "; ".join(e.get("message", "?") for e in answer["errors"])
                raise CheckError(f"New Relic refused the query: {messages}")
            results = answer["data"]["actor"]["entitySearch"]["results"]
            found.extend(results.get("entities") or [])
            following = results.get("nextCursor")
            if not following or following == cursor:  # done, or a cursor that never moves
                break
            cursor = following
        return sorted(found, key=lambda m: m.get("name", ""))

    async def collect(self, target: Target, params: dict[str, Any], api: Api) -> Outcome:
        try:
            monitors = await self.monitors(target, api)
        except (KeyError, TypeError):
            raise CheckError("New Relic answered in an unexpected shape.") from None
        if not monitors:
            return Outcome.failed(
                f"No New Relic synthetic monitor is tagged Project = {target.project_tag}."
            )
        problems: dict[str, str] = {}
        for monitor in monitors:
            name = monitor.get("name", monitor.get("guid", "?"))
            summary = monitor.get("monitorSummary") or {}
            status = summary.get("status")
            rate = summary.get("successRate")
            period = monitor.get("period")
            if status == "DISABLED" or not monitor.get("reporting", True):
                problems[name] = "disabled"
            elif period is None or period > params["max_period_minutes"]:
                problems[name] = f"runs every {period} minutes"
            elif status != "SUCCESS":
                problems[name] = f"last status {status or 'unknown'}"
            elif rate is not None and rate < params["min_success_rate"]:
                problems[name] = f"success rate {rate:g}%"
        observed = {
            "monitors": {
                m.get("name", "?"): {
                    "type": m.get("monitorType"),
                    "period_minutes": m.get("period"),
                    "status": (m.get("monitorSummary") or {}).get("status"),
                    "success_rate": (m.get("monitorSummary") or {}).get("successRate"),
                }
                for m in monitors
            },
            "problems": problems,
        }
        if problems:
            listed = "; ".join(f"{name}: {why}" for name, why in sorted(problems.items()))
            return Outcome.failed(
                f"{len(problems)} of {len(monitors)} monitors fall short: {listed}.", **observed
            )
        return Outcome.passed(
            f"All {len(monitors)} monitors run every {params['max_period_minutes']} minutes "
            "or more often and pass.",
            **observed,
        )
