"""PagerDuty checks: the service is live in PagerDuty, can receive alerts, and somebody
is on call for it now.

Read with PagerDuty's REST API v2 (``Authorization: Token token=<key>``), a read-only
API key on the PagerDuty connection. The official ``pagerduty`` client is synchronous and
brings a second HTTP stack (httpx2); two GETs on the sweep's own client do the same job.
"""

from __future__ import annotations

from typing import Any

from reviews.checks.collectors.base import CheckError, Outcome, Target, register
from reviews.checks.collectors.platforms import Api, NotFound, PlatformCheck, probe

# Statuses of a service that can page someone (``disabled`` and ``maintenance`` cannot).
LIVE_STATUSES = ("active", "warning", "critical")


def authorise(api: Api) -> None:
    api.headers["Authorization"] = f"Token token={api.credentials.secret}"
    api.headers["Accept"] = "application/vnd.pagerduty+json;version=2"


@probe("pagerduty", "PagerDuty")
async def accepts_the_key(api: Api) -> str:
    authorise(api)
    answer = await api.get("/abilities")
    return f"PagerDuty accepted the key ({len(answer.get('abilities') or [])} abilities)."


class PagerDutyCheck(PlatformCheck):
    family = "PagerDuty"
    kind = "pagerduty"
    platform = "PagerDuty"
    reads = ("pagerduty_service_id",)
    fresh_for_seconds = 3600

    def applies(self, target: Target) -> str:
        return "" if target.pagerduty_service_id else "The service has no PagerDuty service ID."

    async def service(self, target: Target, api: Api, **params: Any) -> dict[str, Any]:
        authorise(api)
        try:
            answer = await api.get(f"/services/{target.pagerduty_service_id}", **params)
        except NotFound:
            raise CheckError(
                f"PagerDuty has no service {target.pagerduty_service_id} "
                f"(or the connection “{api.credentials.name}” cannot see it)."
            ) from None
        service: dict[str, Any] = answer.get("service") or {}
        return service


@register
class PagerDutyServiceCheck(PagerDutyCheck):
    key = "pagerduty.service"
    title = "The PagerDuty service is live and receives alerts"
    expected = "an active service with an escalation policy and at least one integration"

    async def collect(self, target: Target, params: dict[str, Any], api: Api) -> Outcome:
        service = await self.service(target, api, **{"include[]": "integrations"})
        integrations = sorted(
            i.get("summary") or i.get("name") or i.get("type", "?")
            for i in service.get("integrations") or []
        )
        policy = (service.get("escalation_policy") or {}).get("summary", "")
        observed = {
            "service": service.get("name", target.pagerduty_service_id),
            "status": service.get("status"),
            "escalation_policy": policy,
            "integrations": integrations,
        }
        name = observed["service"]
        problems = []
        if service.get("status") not in LIVE_STATUSES:
            problems.append(f"its status is {service.get('status') or 'unknown'}")
        if not policy:
            problems.append("it has no escalation policy")
        if not integrations:
            problems.append("nothing sends it alerts (no integrations)")
        if problems:
            return Outcome.failed(f"PagerDuty service {name}: {'; '.join(problems)}.", **observed)
        return Outcome.passed(
            f"PagerDuty service {name} is {service['status']}, escalates to {policy} "
            f"and receives alerts from {', '.join(integrations)}.",
            **observed,
        )


@register
class PagerDutyOnCallCheck(PagerDutyCheck):
    key = "pagerduty.on_call"
    title = "Somebody is on call for the service now"
    expected = "a person on call at the first level of the service's escalation policy"

    async def collect(self, target: Target, params: dict[str, Any], api: Api) -> Outcome:
        service = await self.service(target, api)
        policy = service.get("escalation_policy") or {}
        if not policy.get("id"):
            return Outcome.failed(
                f"PagerDuty service {service.get('name', '?')} has no escalation policy, "
                "so nobody is paged.",
                service=service.get("name"),
            )
        answer = await api.get(
            "/oncalls", **{"escalation_policy_ids[]": policy["id"], "limit": 100}
        )
        oncalls = answer.get("oncalls") or []
        first = sorted(
            {
                (o.get("user") or {}).get("summary", "?")
                for o in oncalls
                if o.get("escalation_level") == 1 and o.get("user")
            }
        )
        observed = {
            "service": service.get("name"),
            "escalation_policy": policy.get("summary", policy["id"]),
            "on_call": first,
            "levels": sorted({o.get("escalation_level") for o in oncalls if o.get("user")}),
        }
        if not first:
            return Outcome.failed(
                f"Nobody is on call at the first level of {observed['escalation_policy']}.",
                **observed,
            )
        return Outcome.passed(
            f"On call now for {observed['escalation_policy']}: {', '.join(first)}.", **observed
        )
