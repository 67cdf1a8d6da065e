"""The alerting checks against Debian's real Prometheus and Alertmanager on 127.0.0.1.

Prometheus evaluates a rule that always fires (every second) and sends it to
Alertmanager, whose only receiver is a webhook on a local server: so the test sees the
whole path a page takes, and the checks see real APIs rather than a fake's idea of them.
``make test`` installs the binaries (packages prometheus and prometheus-alertmanager);
without them the tests skip with the reason, except under CI, where they fail.

The fakes in ``test_checks_alerting.py`` cover the failure shapes quickly; these cover
the real thing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reviews.checks.collectors.base import Outcome, Result, Target
from reviews.checks.collectors.runner import Job, run_jobs
from tests.http_servers import LocalServer
from tests.processes import free_port, start_process_group, stop_process_group, wait_until
from tests.services import IN_CI

# Checks reach these tests' local servers on loopback, opened as an operator would.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

if not (PROMETHEUS and ALERTMANAGER):
    reason = (
        "Debian's prometheus and prometheus-alertmanager are not installed "
        "(make test installs them)"
    )
    if IN_CI:
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)

RULES = """
groups:
  - name: preflight-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: critical}
        annotations: {summary: "fires for the test"}
      - alert: NeverFiring
        expr: vector(1) == 0
        labels: {severity: critical}
"""


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as response:
        return bool(response.status == 200)


def _start(command: list[str], cwd: Path, port: int, what: str) -> subprocess.Popen[str]:
    process = start_process_group(command, cwd=cwd, env={"PATH": "/usr/bin:/bin"})
    try:
        wait_until(lambda: _ready(port), timeout=30, what=f"{what} to be ready")
    except BaseException:
        stop_process_group(process, grace=5)
        output = process.stdout.read() if process.stdout else ""
        raise RuntimeError(f"{what} did not start:\n{output[-3000:]}") from None
    return process


@pytest.fixture(scope="module")
def webhook() -> Iterator[LocalServer]:
    with LocalServer.running() as server:
        server.route("/hook", 200)
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, webhook: LocalServer) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("alerting")
    am_port, prom_port = free_port(), free_port()
    (home / "alertmanager.yml").write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "team-webhook",
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {"name": "team-webhook", "webhook_configs": [{"url": webhook.url("/hook")}]}
                ],
            }
        )
    )
    (home / "rules.yml").write_text(RULES)
    (home / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"evaluation_interval": "1s", "scrape_interval": "15s"},
                "rule_files": [str(home / "rules.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
            }
        )
    )
    alertmanager = _start(
        [
            ALERTMANAGER or "",
            f"--config.file={home / 'alertmanager.yml'}",
            f"--storage.path={home / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        home,
        am_port,
        "Alertmanager",
    )
    try:
        prometheus = _start(
            [
                PROMETHEUS or "",
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                # Alerts found before Alertmanager is discovered are dropped and otherwise
                # only resent a minute later.
                "--rules.alert.resend-delay=1s",
            ],
            home,
            prom_port,
            "Prometheus",
        )
        try:
            yield Target(
                1,
                prometheus_url=f"http://127.0.0.1:{prom_port}",
                alertmanager_url=f"http://127.0.0.1:{am_port}/",
            )
        finally:
            stop_process_group(prometheus, grace=5)
    finally:
        stop_process_group(alertmanager, grace=5)


def run(key: str, target: Target, **params: Any) -> Outcome:
    [outcome] = run_jobs([Job(key, target, params)], timeout=5)
    return outcome


def eventually(key: str, target: Target, result: str, **params: Any) -> Outcome:
    """The check's outcome once it is ``result`` (Prometheus needs a few seconds)."""
    found: list[Outcome] = []

    def settled() -> bool:
        found.append(run(key, target, **params))
        return found[-1].result == result

    try:
        wait_until(settled, timeout=45, interval=1, what=f"{key} to {result}")
    except BaseException:
        pytest.fail(f"{key} never gave {result}; last: {found[-1] if found else None}")
    return found[-1]


def test_prometheus_rules_pass_with_real_rules_sent_to_a_real_alertmanager(stack):
    outcome = eventually("alerting.prometheus_rules", stack, Result.PASS)

    assert outcome.observed["alerting_rules"] == 2
    assert outcome.observed["unhealthy"] == []
    assert outcome.observed["alertmanagers"] == [
        f"{stack.alertmanager_url.rstrip('/')}/api/v2/alerts"
    ]


def test_prometheus_rules_fail_when_fewer_rules_than_required(stack):
    outcome = eventually("alerting.prometheus_rules", stack, Result.FAIL, min_rules=3)

    assert outcome.explanation == "2 alerting rule(s); at least 3 expected."


def test_alertmanager_receivers_see_the_real_webhook_receiver(stack):
    outcome = run("alerting.alertmanager_receivers", stack)

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["receivers"] == ["webhook_configs"]


def test_nothing_firing_fails_naming_the_alert_that_really_fires_and_the_page_goes_out(
    stack, webhook
):
    outcome = eventually("alerting.nothing_firing", stack, Result.FAIL)

    assert outcome.explanation == "Firing: AlwaysFiring."
    # The same alert went all the way to the receiver.
    wait_until(
        lambda: any(r.target == "/hook" for r in webhook.received),
        timeout=30,
        what="Alertmanager to call the webhook",
    )
    [first, *_] = [json.loads(r.body) for r in webhook.received if r.target == "/hook"]
    assert first["status"] == "firing"
    assert [a["labels"]["alertname"] for a in first["alerts"]] == ["AlwaysFiring"]


def test_nothing_firing_passes_when_only_other_severities_fire(stack):
    eventually("alerting.nothing_firing", stack, Result.FAIL)  # the alert has arrived

    outcome = run("alerting.nothing_firing", stack, severities=["page"])

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["active"] >= 1
