"""Cloud Foundry (cloud.gov) checks: the service's apps run at least two instances.

Read with the CF v3 API as the connection's service account: the API root names its UAA,
a password grant there (client ``cf``, as the cf CLI does) gives a bearer token, then the
org, the space, its apps, their web processes and each process's instance stats.
"""

from __future__ import annotations

from typing import Any

from reviews.checks.collectors.base import CheckError, Outcome, Target, register
from reviews.checks.collectors.platforms import Api, PlatformCheck, probe

# A runaway ``next`` link must not loop forever.
MAX_PAGES = 50


async def _all(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every resource of a paginated v3 list."""
    resources: list[dict[str, Any]] = []
    answer = await api.get(path, per_page=5000, **params)
    for _ in range(MAX_PAGES):
        resources.extend(answer.get("resources") or [])
        following = ((answer.get("pagination") or {}).get("next") or {}).get("href")
        if not following:
            break
        answer = await api.get(following)
    return resources


async def sign_in(api: Api) -> None:
    root = await api.get("/")
    links = root.get("links") or {}
    uaa = (links.get("uaa") or links.get("login") or {}).get("href")
    if not uaa:
        raise CheckError("The Cloud Foundry API root does not name its UAA.")
    token = await api.call(
        "POST",
        f"{uaa.rstrip('/')}/oauth/token",
        data={
            "grant_type": "password",
            "username": api.credentials.username,
            "password": api.credentials.secret,
        },
        auth=("cf", ""),
    )
    if not token.get("access_token"):
        raise CheckError("Cloud Foundry's UAA gave no access token.")
    api.headers["Authorization"] = f"Bearer {token['access_token']}"


@probe("cloudfoundry", "Cloud Foundry")
async def signs_in(api: Api) -> str:
    await sign_in(api)
    orgs = await api.get("/v3/organizations", per_page=1)
    total = (orgs.get("pagination") or {}).get("total_results", len(orgs.get("resources") or []))
    return f"Signed in to Cloud Foundry as {api.credentials.username}; it sees {total} orgs."


@register
class CloudFoundryInstancesCheck(PlatformCheck):
    key = "cloudfoundry.instances"
    title = "The service's Cloud Foundry apps run at least two instances"
    family = "Cloud Foundry"
    kind = "cloudfoundry"
    platform = "Cloud Foundry"
    expected = "min_instances running instances of the web process of every started app"
    defaults = {"min_instances": 2}
    reads = ("cloud_foundry_space",)
    fresh_for_seconds = 3600

    def applies(self, target: Target) -> str:
        return "" if target.cloud_foundry_space else "The service has no Cloud Foundry space."

    async def collect(self, target: Target, params: dict[str, Any], api: Api) -> Outcome:
        org_name, space_name = target.cloud_foundry_space.split("/", 1)
        await sign_in(api)
        orgs = await _all(api, "/v3/organizations", names=org_name)
        if not orgs:
            raise CheckError(f"Cloud Foundry has no org {org_name} that the account can see.")
        spaces = await _all(api, "/v3/spaces", names=space_name, organization_guids=orgs[0]["guid"])
        if not spaces:
            raise CheckError(f"Cloud Foundry has no space {target.cloud_foundry_space}.")
        apps = await _all(api, "/v3/apps", space_guids=spaces[0]["guid"])
        started = {a["guid"]: a["name"] for a in apps if a.get("state") == "STARTED"}
        stopped = sorted(a["name"] for a in apps if a.get("state") != "STARTED")
        if not started:
            return Outcome.failed(
                f"No app is started in {target.cloud_foundry_space}.", stopped=stopped
            )
        processes = await _all(
            api, "/v3/processes", app_guids=",".join(sorted(started)), types="web"
        )
        minimum = params["min_instances"]
        instances: dict[str, dict[str, int]] = {}
        for process in processes:
            app_guid = process["relationships"]["app"]["data"]["guid"]
            stats = await api.get(f"/v3/processes/{process['guid']}/stats")
            running = sum(1 for s in stats.get("resources") or [] if s.get("state") == "RUNNING")
            instances[started.get(app_guid, app_guid)] = {
                "instances": int(process.get("instances") or 0),
                "running": running,
            }
        for name in started.values():
            instances.setdefault(name, {"instances": 0, "running": 0})  # no web process
        short = {
            name: counts
            for name, counts in instances.items()
            if min(counts["instances"], counts["running"]) < minimum
        }
        observed = {"apps": instances, "stopped": stopped, "short": sorted(short)}
        if short:
            listed = ", ".join(
                f"{name} ({c['running']} running of {c['instances']})"
                for name, c in sorted(short.items())
            )
            return Outcome.failed(
                f"{len(short)} of {len(instances)} started apps run fewer than {minimum} "
                f"instances: {listed}.",
                **observed,
            )
        return Outcome.passed(
            f"All {len(instances)} started apps run at least {minimum} instances.", **observed
        )
