"""PagerDuty, New Relic and Cloud Foundry checks against local HTTPS fakes of their APIs.

Each fake is a ``LocalServer`` over TLS with a trustme certificate, answering the paths
the real API has with JSON in the real API's shape; the check reaches it over a socket
with the run's ``ssl_context`` trusting the test CA. Requests are recorded, so the tests
also see what was sent: the credentials, the query, the service ID.

No database: credentials are put on the ``Target`` the way ``target_for`` does.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from reviews.checks.collectors.base import Credentials, Outcome, Result, Target
from reviews.checks.collectors.platforms import verify_connection
from reviews.checks.collectors.runner import Job, run_jobs
from tests.http_servers import LocalServer, closed_port, server_context

# Checks reach these tests' local servers on loopback, opened as an operator would.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

SECRET = "u+pd-secret-key-0123456789"


@pytest.fixture(scope="module")
def _api(ca: trustme.CA) -> Iterator[LocalServer]:
    with LocalServer.running(server_context(ca.issue_cert("127.0.0.1"))) as server:
        yield server


@pytest.fixture
def api(_api: LocalServer) -> LocalServer:
    _api.reset()
    return _api


def credentials(kind: str, url: str, **more: str) -> Credentials:
    return Credentials(kind=kind, name=f"{kind} test", api_url=url, secret=SECRET, **more)


def run(key: str, target: Target, trusting: ssl.SSLContext, **params: Any) -> Outcome:
    [outcome] = run_jobs([Job(key, target, params)], timeout=3, ssl_context=trusting)
    return outcome


def answer(api: LocalServer, path: str, body: Any, status: int = 200) -> None:
    api.route(path, status, {"Content-Type": "application/json"}, json.dumps(body))


def assert_secret_not_in(outcome: Outcome) -> None:
    assert SECRET not in json.dumps(outcome.observed) + outcome.explanation


# --- shared: connections ------------------------------------------------------------------


PLATFORM_TARGETS = {
    "pagerduty.service": {"pagerduty_service_id": "PSVC001"},
    "pagerduty.on_call": {"pagerduty_service_id": "PSVC001"},
    "newrelic.synthetics": {"project_tag": "benefits"},
    "cloudfoundry.instances": {"cloud_foundry_space": "gsa-benefits/production"},
}


@pytest.mark.parametrize("key", sorted(PLATFORM_TARGETS))
def test_a_platform_check_is_not_applicable_without_the_services_setting(key, trusting):
    outcome = run(key, Target(1), trusting)

    assert outcome.result == Result.NOT_APPLICABLE, outcome


def test_new_relic_without_a_connection_is_not_applicable(trusting):
    outcome = run("newrelic.synthetics", Target(1, project_tag="benefits"), trusting)

    assert outcome.result == Result.NOT_APPLICABLE
    assert outcome.explanation == "No New Relic connection is set up, so New Relic is not checked."


@pytest.mark.parametrize("key", sorted(set(PLATFORM_TARGETS) - {"newrelic.synthetics"}))
def test_a_platform_check_without_a_connection_is_an_error_saying_how_to_add_one(key, trusting):
    outcome = run(key, Target(1, **PLATFORM_TARGETS[key]), trusting)

    assert outcome.result == Result.ERROR, outcome
    assert "connection is set up: an admin adds one under Administration, Platform connections" in (
        outcome.explanation
    )


@pytest.mark.parametrize("key", sorted(PLATFORM_TARGETS))
def test_a_platform_check_never_sends_the_secret_over_plain_http(key, trusting):
    kind = key.split(".")[0]
    target = Target(
        1,
        **PLATFORM_TARGETS[key],
        credentials=(credentials(kind, "http://127.0.0.1:9/"),),
    )

    outcome = run(key, target, trusting)

    assert outcome.result == Result.ERROR
    assert "is not HTTPS" in outcome.explanation


def test_an_undecryptable_secret_is_an_error_naming_the_problem(trusting):
    broken = Credentials(
        "pagerduty", "org", "https://127.0.0.1:9", problem="The PagerDuty connection “org”: …"
    )
    target = Target(1, pagerduty_service_id="PSVC001", credentials=(broken,))

    outcome = run("pagerduty.service", target, trusting)

    assert outcome.result == Result.ERROR
    assert outcome.explanation == "The PagerDuty connection “org”: …"


def test_an_unreachable_platform_is_an_error_with_the_reason(trusting):
    with closed_port() as port:
        target = Target(
            1,
            pagerduty_service_id="PSVC001",
            credentials=(credentials("pagerduty", f"https://127.0.0.1:{port}"),),
        )
        outcome = run("pagerduty.service", target, trusting)

    assert outcome.result == Result.ERROR
    assert "connection refused" in outcome.explanation


def test_the_secret_never_shows_in_a_credentials_repr():
    assert SECRET not in repr(credentials("pagerduty", "https://example.test"))


# --- PagerDuty ------------------------------------------------------------------------------


def pagerduty(api: LocalServer) -> Target:
    return Target(
        1,
        pagerduty_service_id="PSVC001",
        credentials=(credentials("pagerduty", api.url("")),),
    )


def pd_service(**overrides: Any) -> dict[str, Any]:
    service = {
        "id": "PSVC001",
        "name": "Benefits API",
        "status": "active",
        "escalation_policy": {"id": "PPOL01", "summary": "Benefits on-call"},
        "integrations": [
            {"id": "PINT1", "summary": "Amazon CloudWatch"},
            {"id": "PINT2", "summary": "Events API v2"},
        ],
    }
    return {"service": {**service, **overrides}}


def test_pagerduty_service_passes_when_live_with_a_policy_and_integrations(api, trusting):
    answer(api, "/services/PSVC001", pd_service())

    outcome = run("pagerduty.service", pagerduty(api), trusting)

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["integrations"] == ["Amazon CloudWatch", "Events API v2"]
    [request] = api.received
    assert request.headers["Authorization"] == f"Token token={SECRET}"
    assert "include%5B%5D=integrations" in request.target
    assert_secret_not_in(outcome)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"status": "disabled"}, "its status is disabled"),
        ({"status": "maintenance"}, "its status is maintenance"),
        ({"integrations": []}, "nothing sends it alerts (no integrations)"),
        ({"escalation_policy": None}, "it has no escalation policy"),
    ],
)
def test_pagerduty_service_fails_saying_what_is_missing(api, trusting, overrides, says):
    answer(api, "/services/PSVC001", pd_service(**overrides))

    outcome = run("pagerduty.service", pagerduty(api), trusting)

    assert outcome.result == Result.FAIL, outcome
    assert says in outcome.explanation


def test_pagerduty_unknown_service_is_an_error_naming_it(api, trusting):
    answer(api, "/services/PSVC001", {"error": {"message": "Not Found"}}, status=404)

    outcome = run("pagerduty.service", pagerduty(api), trusting)

    assert outcome.result == Result.ERROR
    assert outcome.explanation.startswith("PagerDuty has no service PSVC001")


def test_pagerduty_refusing_the_key_is_an_error_naming_the_connection(api, trusting):
    answer(api, "/services/PSVC001", {"error": {"message": "Unauthorized"}}, status=401)

    outcome = run("pagerduty.service", pagerduty(api), trusting)

    assert outcome.result == Result.ERROR
    assert outcome.explanation == (
        "PagerDuty refused the credentials of the connection “pagerduty test” "
        "(401 on /services/PSVC001)."
    )


def oncall(level: int, user: str | None) -> dict[str, Any]:
    return {
        "escalation_level": level,
        "user": {"id": "PU1", "summary": user} if user else None,
        "escalation_policy": {"id": "PPOL01"},
    }


def test_pagerduty_on_call_passes_naming_who_is_on_call_at_the_first_level(api, trusting):
    answer(api, "/services/PSVC001", pd_service())
    answer(api, "/oncalls", {"oncalls": [oncall(1, "Ada Lovelace"), oncall(2, "Grace Hopper")]})

    outcome = run("pagerduty.on_call", pagerduty(api), trusting)

    assert outcome.result == Result.PASS, outcome
    assert outcome.explanation == "On call now for Benefits on-call: Ada Lovelace."
    asked = parse_qs(urlsplit(api.received[-1].target).query)
    assert asked["escalation_policy_ids[]"] == ["PPOL01"]


def test_pagerduty_on_call_fails_when_only_the_second_level_has_someone(api, trusting):
    answer(api, "/services/PSVC001", pd_service())
    answer(api, "/oncalls", {"oncalls": [oncall(1, None), oncall(2, "Grace Hopper")]})

    outcome = run("pagerduty.on_call", pagerduty(api), trusting)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == "Nobody is on call at the first level of Benefits on-call."
    assert outcome.observed["levels"] == [2]


def test_pagerduty_on_call_fails_without_an_escalation_policy(api, trusting):
    answer(api, "/services/PSVC001", pd_service(escalation_policy=None))

    outcome = run("pagerduty.on_call", pagerduty(api), trusting)

    assert outcome.result == Result.FAIL
    assert "has no escalation policy, so nobody is paged" in outcome.explanation


# --- New Relic ------------------------------------------------------------------------------


def newrelic(api: LocalServer, account: str = "") -> Target:
    return Target(
        1,
        project_tag="benefits",
        credentials=(credentials("newrelic", api.url("/graphql"), account=account),),
    )


def monitor(name: str, period: int = 5, status: str = "SUCCESS", rate: float = 100.0) -> Any:
    return {
        "guid": f"guid-{name}",
        "name": name,
        "reporting": status != "DISABLED",
        "monitorType": "SIMPLE",
        "period": period,
        "monitorSummary": {"status": status, "successRate": rate},
    }


def nerdgraph(entities: list[Any], cursor: str | None = None) -> Any:
    results = {"entities": entities, "nextCursor": cursor}
    return {"data": {"actor": {"entitySearch": {"results": results}}}}


def test_newrelic_passes_when_every_tagged_monitor_runs_often_and_passes(api, trusting):
    answer(api, "/graphql", nerdgraph([monitor("home page"), monitor("api health", period=1)]))

    outcome = run("newrelic.synthetics", newrelic(api, account="1234567"), trusting)

    assert outcome.result == Result.PASS, outcome
    assert sorted(outcome.observed["monitors"]) == ["api health", "home page"]
    [request] = api.received
    assert request.method == "POST"
    assert request.headers["API-Key"] == SECRET
    sent = json.loads(request.body)
    assert sent["variables"]["query"] == (
        "domain = 'SYNTH' AND type = 'MONITOR' AND tags.Project = 'benefits' "
        "AND accountId = 1234567"
    )
    assert "monitorSummary" in sent["query"]
    assert_secret_not_in(outcome)


def test_newrelic_fails_naming_slow_failing_and_disabled_monitors(api, trusting):
    answer(
        api,
        "/graphql",
        nerdgraph(
            [
                monitor("home page"),
                monitor("hourly", period=60),
                monitor("login", status="FAILED", rate=40.0),
                monitor("old", status="DISABLED"),
                monitor("flaky", rate=97.5),
            ]
        ),
    )

    outcome = run("newrelic.synthetics", newrelic(api), trusting)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["problems"] == {
        "flaky": "success rate 97.5%",
        "hourly": "runs every 60 minutes",
        "login": "last status FAILED",
        "old": "disabled",
    }
    assert outcome.explanation.startswith("4 of 5 monitors fall short: flaky: success rate")


def test_newrelic_fails_when_no_monitor_carries_the_project_tag(api, trusting):
    answer(api, "/graphql", nerdgraph([]))

    outcome = run("newrelic.synthetics", newrelic(api), trusting)

    assert outcome.result == Result.FAIL
    assert outcome.explanation == "No New Relic synthetic monitor is tagged Project = benefits."


def test_newrelic_quotes_the_project_tag_in_the_search(api, trusting):
    answer(api, "/graphql", nerdgraph([monitor("home")]))
    target = Target(
        1,
        project_tag="o'brien",
        credentials=(credentials("newrelic", api.url("/graphql")),),
    )

    run("newrelic.synthetics", target, trusting)

    sent = json.loads(api.received[0].body)["variables"]["query"]
    assert sent.endswith("tags.Project = 'o\\'brien'")


def test_newrelic_graphql_errors_are_an_error_with_new_relics_message(api, trusting):
    answer(api, "/graphql", {"errors": [{"message": "Invalid query"}], "data": None})

    outcome = run("newrelic.synthetics", newrelic(api), trusting)

    assert outcome.result == Result.ERROR
    assert outcome.explanation == "New Relic refused the query: Invalid query"


def test_newrelic_follows_the_cursor_and_stops_when_it_does_not_move(api, trusting):
    # The fake answers every request with the same page and cursor, as a broken API might.
    answer(api, "/graphql", nerdgraph([monitor("first")], cursor="page-2"))

    outcome = run("newrelic.synthetics", newrelic(api), trusting)

    assert outcome.result == Result.PASS, outcome
    cursors = [json.loads(r.body)["variables"]["cursor"] for r in api.received]
    assert cursors == [None, "page-2"]


# --- Cloud Foundry --------------------------------------------------------------------------


def cloud_foundry(api: LocalServer) -> Target:
    return Target(
        1,
        cloud_foundry_space="gsa-benefits/production",
        credentials=(credentials("cloudfoundry", api.url(""), username="deployer"),),
    )


def cf_api(api: LocalServer, apps: list[tuple[str, str, int, int]]) -> None:
    """A CF v3 API and UAA with ``apps``: (name, state, instances, running)."""
    answer(api, "/", {"links": {"uaa": {"href": api.url("/uaa")}}})
    answer(api, "/uaa/oauth/token", {"access_token": "cf-token", "token_type": "bearer"})
    answer(api, "/v3/organizations", {"resources": [{"guid": "org-1", "name": "gsa-benefits"}]})
    answer(api, "/v3/spaces", {"resources": [{"guid": "space-1", "name": "production"}]})
    answer(
        api,
        "/v3/apps",
        {
            "resources": [
                {"guid": f"app-{name}", "name": name, "state": state} for name, state, _, _ in apps
            ],
            "pagination": {"next": None},
        },
    )
    answer(
        api,
        "/v3/processes",
        {
            "resources": [
                {
                    "guid": f"proc-{name}",
                    "type": "web",
                    "instances": instances,
                    "relationships": {"app": {"data": {"guid": f"app-{name}"}}},
                }
                for name, state, instances, _ in apps
                if state == "STARTED"
            ]
        },
    )
    for name, _, instances, running in apps:
        states = ["RUNNING"] * running + ["CRASHED"] * (instances - running)
        answer(
            api,
            f"/v3/processes/proc-{name}/stats",
            {"resources": [{"index": i, "state": s} for i, s in enumerate(states)]},
        )


def test_cloud_foundry_passes_when_every_started_app_runs_two_instances(api, trusting):
    cf_api(api, [("web", "STARTED", 2, 2), ("worker", "STARTED", 3, 3), ("old", "STOPPED", 0, 0)])

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting)

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["apps"] == {
        "web": {"instances": 2, "running": 2},
        "worker": {"instances": 3, "running": 3},
    }
    assert outcome.observed["stopped"] == ["old"]
    token_request = next(r for r in api.received if r.target == "/uaa/oauth/token")
    assert parse_qs(token_request.body.decode()) == {
        "grant_type": ["password"],
        "username": ["deployer"],
        "password": [SECRET],
    }
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"cf:").decode()
    later = [r for r in api.received if r.target.startswith("/v3/")]
    assert all(r.headers["Authorization"] == "Bearer cf-token" for r in later)
    spaces = next(r for r in later if r.target.startswith("/v3/spaces"))
    assert parse_qs(urlsplit(spaces.target).query)["organization_guids"] == ["org-1"]
    assert_secret_not_in(outcome)


def test_cloud_foundry_fails_naming_apps_with_one_instance_or_crashed_ones(api, trusting):
    cf_api(api, [("web", "STARTED", 1, 1), ("worker", "STARTED", 2, 1), ("api", "STARTED", 2, 2)])

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == (
        "2 of 3 started apps run fewer than 2 instances: "
        "web (1 running of 1), worker (1 running of 2)."
    )


def test_cloud_foundry_fails_when_no_app_is_started(api, trusting):
    cf_api(api, [("web", "STOPPED", 0, 0)])

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting)

    assert outcome.result == Result.FAIL
    assert outcome.explanation == "No app is started in gsa-benefits/production."


def test_cloud_foundry_min_instances_is_a_parameter(api, trusting):
    cf_api(api, [("web", "STARTED", 2, 2)])

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting, min_instances=3)

    assert outcome.result == Result.FAIL


def test_cloud_foundry_unknown_space_is_an_error_naming_it(api, trusting):
    cf_api(api, [])
    answer(api, "/v3/spaces", {"resources": []})

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting)

    assert outcome.result == Result.ERROR
    assert outcome.explanation == "Cloud Foundry has no space gsa-benefits/production."


def test_cloud_foundry_refused_password_is_an_error_naming_the_connection(api, trusting):
    cf_api(api, [])
    answer(api, "/uaa/oauth/token", {"error": "unauthorized"}, status=401)

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting)

    assert outcome.result == Result.ERROR
    assert "refused the credentials of the connection “cloudfoundry test”" in outcome.explanation


def test_cloud_foundry_follows_pagination_of_the_apps(api, trusting):
    cf_api(api, [("web", "STARTED", 2, 2)])
    answer(
        api,
        "/v3/apps",
        {
            "resources": [{"guid": "app-web", "name": "web", "state": "STARTED"}],
            "pagination": {"next": {"href": api.url("/v3/apps?page=2")}},
        },
    )
    answer(
        api,
        "/v3/apps?page=2",
        {
            "resources": [{"guid": "app-api", "name": "api", "state": "STARTED"}],
            "pagination": {"next": None},
        },
    )

    outcome = run("cloudfoundry.instances", cloud_foundry(api), trusting)

    # "api" has no web process in the fake: counted as none running.
    assert outcome.result == Result.FAIL
    assert outcome.observed["apps"]["api"] == {"instances": 0, "running": 0}
    assert outcome.observed["apps"]["web"] == {"instances": 2, "running": 2}


# --- testing a connection -----------------------------------------------------------------


def test_testing_a_pagerduty_connection_makes_one_read_only_call(api, trusting):
    answer(api, "/abilities", {"abilities": ["teams", "urgencies"]})

    outcome = try_connection(credentials("pagerduty", api.url("")), trusting)

    assert outcome.result == Result.PASS, outcome
    assert outcome.explanation == "PagerDuty accepted the key (2 abilities)."
    [request] = api.received
    assert (request.method, request.target) == ("GET", "/abilities")
    assert request.headers["Authorization"] == f"Token token={SECRET}"


def test_testing_a_new_relic_connection_names_the_keys_user(api, trusting):
    answer(api, "/graphql", {"data": {"actor": {"user": {"email": "ops@example.gov"}}}})

    outcome = try_connection(credentials("newrelic", api.url("/graphql")), trusting)

    assert outcome.result == Result.PASS, outcome
    assert outcome.explanation == "New Relic accepted the key of ops@example.gov."


def test_testing_a_cloud_foundry_connection_signs_in(api, trusting):
    cf_api(api, [])
    answer(
        api,
        "/v3/organizations",
        {"resources": [{"guid": "org-1"}], "pagination": {"total_results": 3}},
    )

    outcome = try_connection(
        credentials("cloudfoundry", api.url(""), username="deployer"), trusting
    )

    assert outcome.result == Result.PASS, outcome
    assert outcome.explanation == "Signed in to Cloud Foundry as deployer; it sees 3 orgs."


def test_testing_a_refused_connection_is_an_error_naming_it(api, trusting):
    answer(api, "/abilities", {"error": {"message": "Unauthorized"}}, status=401)

    outcome = try_connection(credentials("pagerduty", api.url("")), trusting)

    assert outcome.result == Result.ERROR
    assert outcome.explanation.startswith("PagerDuty refused the credentials of the connection")


def test_testing_a_connection_never_sends_the_secret_over_plain_http(trusting):
    outcome = try_connection(credentials("newrelic", "http://127.0.0.1:9/graphql"), trusting)

    assert outcome.result == Result.ERROR
    assert "is not HTTPS" in outcome.explanation


def try_connection(credentials: Credentials, trusting: ssl.SSLContext) -> Outcome:
    return verify_connection(credentials, timeout=3, ssl_context=trusting)
