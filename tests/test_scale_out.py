"""Scale-out: two of every process share one PostgreSQL database and one Redis.

The module starts what two hosts running the Procfile would: two gunicorns (``web``, on
two ports) and two Celery workers (``worker``, each with its own ``--hostname``), in
production posture, against a throwaway database and a private ``redis-server``; the
beat test adds beat, then a second beat started by mistake. It proves that

- a session made on one web is the session on the other, until either signs it out;
- rate limits count across both webs (the push API's and failed sign-ins');
- the review workspace's cached page is one cache: served by either web, retired by a
  change saved through either;
- beat's sweep runs once per tick, and a second beat does not double it: the first
  sweep of a tick takes a lease (``CHECK_SWEEP_SECONDS``, 3 s here) and the other stands
  down;
- a sweep whose chunks both workers run stores each result once.

Checks hit a real HTTP server on loopback (tests/http_servers.py); the test reads the
database directly (psycopg) and the processes' logs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.http_servers import LocalServer
from tests.processes import free_port, start_process_group, stop_process_group, wait_until
from tests.stacks import (
    BASE_DIR,
    OutputCollector,
    manage,
    production_env,
    redis_server,
    throwaway_database,
)
from tests.test_stack import procfile_commands

# django_db: the test database is set up (and kept: --reuse-db) for the module, so that the
# throwaway database can be a copy of it rather than migrated from nothing.
pytestmark = [pytest.mark.stack, pytest.mark.django_db]

SWEEP_SECONDS = 3
LEASE_SECONDS = SWEEP_SECONDS * 4 / 5  # reviews.checks.services.scheduled_sweep_claim
SERVICES = 12  # one health check each, two to a chunk: six chunks a sweep
CHUNK_SIZE = 2
PUSH_LIMIT = 6
PUBLIC_HOST = "localhost"  # in ALLOWED_HOSTS (tests.stacks.production_env)
PASSWORD = "scale-out correct horse battery"
LEAD = "lead@example.com"  # signs in, saves answers
LOCKED = "locked@example.com"  # fails to sign in until the limit locks the account
CHECKLIST = """---
title: Scale
slug: scale
checks:
  healthy: [{key: http.health, params: {max_ms: 10000}}]
---
## Ops
- Healthy {#healthy}
- Runbook written {#runbook}
"""
SETUP = """
import json
from checklists.parsers import parse_file
from checklists.services import checklist_import
from portal.accounts.roles import Role
from portal.accounts.services import team_add_members, user_set_roles
from reviews import services
from reviews.checks.services import token_create
from reviews.models import Answer, Service
from tests.factories import TeamFactory, UserFactory

params = json.loads(PARAMS)
team = TeamFactory(name="Scale Team", slug="scale")
people = [UserFactory(email=email, password=params["password"]) for email in params["people"]]
for person in people:
    user_set_roles(user=person, roles=[Role.PRODUCT_LEAD], reason="scale-out test")
team_add_members(team=team, users=people)
parsed = parse_file("scale.md", params["checklist"].encode()).checklist
version = checklist_import(parsed=parsed, by=None, publish=True).version
reviews = []
for n in range(params["services"]):
    service = Service.objects.create(
        name=f"Scale {n}", slug=f"scale-{n}", team=team, health_check_url=params["health"]
    )
    reviews.append(services.review_start(service=service, checklist_version=version, by=people[0]))
answer = Answer.objects.get(review=reviews[0], item__ref="runbook")
token = token_create(service=reviews[0].service, name="CI", by=people[0])[1]
with open(params["out"], "w") as out:
    json.dump({"review": reviews[0].pk, "answer": answer.pk, "revision": answer.revision,
               "token": token}, out)
"""
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BEAT_SENDS = "Sending due task sweep-checks (checks.sweep_scheduled)"
STOOD_DOWN = "Scheduled sweep stood down"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[str]
    output: OutputCollector

    def lines(self, *needles: str) -> list[str]:
        return [line for line in self.output.snapshot() if all(n in line for n in needles)]


@dataclass
class Web:
    port: int
    process: Process

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class Scale:
    tmp: Path
    env: dict[str, str]
    database_url: str
    redis_url: str
    data: dict[str, Any]
    webs: list[Web] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    others: list[Process] = field(default_factory=list)

    def start(self, name: str, command: str, **env: str) -> Process:
        popen = start_process_group(
            ["sh", "-c", f"exec {command}"], cwd=BASE_DIR, env={**self.env, **env}
        )
        assert popen.stdout is not None
        process = Process(name, popen, OutputCollector(popen.stdout, self.tmp / f"{name}.log"))
        self.others.append(process)
        return process

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def worker_lines(self, *needles: str) -> int:
        return sum(len(worker.lines(*needles)) for worker in self.workers)


def stop_all(processes: list[Process], grace: float) -> None:
    """SIGTERM every process's group at once, then wait for each (SIGKILL after grace)."""
    for process in processes:
        if process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.popen.pid, signal.SIGTERM)
    for process in processes:
        stop_process_group(process.popen, grace=grace)
        process.output.join(timeout=5)


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Scale]:
    from django.db import connection, connections

    tmp = tmp_path_factory.mktemp("scale")
    # The test database is migrated already: copying it spares a migration from nothing
    # (if it is in use, the copy starts empty and migrate does it all).
    template = connection.settings_dict["NAME"]
    connections.close_all()
    with (
        redis_server(tmp) as redis,
        throwaway_database("preflight_scale", template=template) as database_url,
        LocalServer.running() as health,
    ):
        env = production_env(tmp, database_url, redis.url) | {
            "CHECK_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "CHECK_CHUNK_SIZE": str(CHUNK_SIZE),
            "CHECK_ALLOWED_NETWORKS": "127.0.0.1/32",  # the health server
            "PUSH_RATE_LIMIT": f"{PUSH_LIMIT}/h",
        }
        scale = Scale(tmp=tmp, env=env, database_url=database_url, redis_url=redis.url, data={})
        procfile = procfile_commands()
        # Each process starts as soon as what it needs is there: workers once the
        # database is migrated, webs once the static files are collected (WhiteNoise reads
        # them at start-up).
        collectstatic = start_process_group(
            [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=BASE_DIR, env=env
        )
        try:
            manage(env, "migrate", "--noinput")
            for name in ("one", "two"):
                command = f"{procfile['worker']} --hostname {name}@%h"
                scale.workers.append(scale.start(f"worker-{name}", command))
            params = {
                "password": PASSWORD,
                "people": [LEAD, LOCKED],
                "checklist": CHECKLIST,
                "services": SERVICES,
                # Slow enough that a worker is busy with one chunk while the other takes
                # the next.
                "health": health.route("/health", status=200, delay=0.3),
                "out": str(tmp / "setup.json"),
            }
            manage(env, "shell", "-c", f"PARAMS = {json.dumps(params)!r}\n{SETUP}")
            scale.data = json.loads((tmp / "setup.json").read_text(encoding="utf-8"))
            output, _ = collectstatic.communicate(timeout=45)
            assert collectstatic.returncode == 0, f"collectstatic failed:\n{output[-3000:]}"
            for name in ("a", "b"):
                port = free_port()
                process = scale.start(f"web-{name}", procfile["web"], PORT=str(port))
                scale.webs.append(Web(port, process))
            for web in scale.webs:
                wait_until(
                    lambda web=web: _ready(scale, web), timeout=60, what=f"/readyz on {web.port}"
                )
            for worker in scale.workers:
                wait_until(
                    lambda worker=worker: worker.lines("ready."),
                    timeout=30,
                    what=f"{worker.name} to be ready",
                )
            yield scale
        finally:
            stop_process_group(collectstatic, grace=2)
            stop_all(scale.others, grace=10)
            for process in scale.others:
                # pytest shows this only when a test fails.
                print(f"--- last lines of {process.name} ---\n{process.output.tail(40)}")


def _ready(scale: Scale, web: Web) -> bool:
    for process in scale.others:
        if process.popen.poll() is not None:
            pytest.fail(
                f"{process.name} exited during start-up:\n{process.output.tail()}", pytrace=False
            )
    response = requests.get(web.url("/readyz"), timeout=5)
    return response.status_code == 200


def _csrf(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """One person's browser behind the load balancer, which terminates TLS and sends each
    request to either web under the one public host name (allauth keys a person's failed
    sign-ins by it). Cookies are kept by hand: they are Secure, and the test talks plain
    HTTP to gunicorn."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False  # no proxies from the environment: all loopback

    def request(
        self, method: str, web: Web, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        sent = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            sent.setdefault("Referer", f"https://{PUBLIC_HOST}{path}")
        response = self.http.request(
            method, web.url(path), headers=sent, allow_redirects=False, timeout=15, **kw
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:  # deleted (a message shown, a session ended)
                    self.cookies.pop(name, None)
        return response

    def get(self, web: Web, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", web, path, **kw)

    def post(self, web: Web, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", web, path, **kw)

    def form_token(self, web: Web, path: str) -> str:
        page = self.get(web, path)
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        return _csrf(page.text)

    def sign_in(self, web: Web, email: str, password: str) -> requests.Response:
        token = self.form_token(web, "/accounts/login/")
        data = {"login": email, "password": password, "csrfmiddlewaretoken": token}
        return self.post(web, "/accounts/login/", data=data)


# --- 1. Sessions ------------------------------------------------------------------------
def test_a_session_made_on_one_web_is_signed_in_on_the_other_until_either_signs_out(
    scale: Scale,
) -> None:
    a, b = scale.webs
    browser = Browser()
    assert browser.get(a, "/portfolio/").status_code == 302, "signed out to begin with"
    signed_in = browser.sign_in(a, LEAD, PASSWORD)
    assert signed_in.status_code == 302, signed_in.text[:1000]
    assert "Scale 0" in browser.get(b, "/portfolio/").text
    assert browser.get(b, "/portfolio/").status_code == 200

    cookies = dict(browser.cookies)
    token = browser.form_token(b, "/portfolio/")
    signed_out = browser.post(b, "/accounts/logout/", data={"csrfmiddlewaretoken": token})
    assert signed_out.status_code == 302, signed_out.text[:1000]
    # The same cookies as before the sign-out: A finds no session behind them.
    browser.cookies = cookies
    response = browser.get(a, "/portfolio/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


# --- 2. Rate limits ---------------------------------------------------------------------
def test_pushes_through_both_webs_share_one_rate_limit(scale: Scale) -> None:
    # The limit counts in fixed hourly windows: do not straddle one.
    left = 3600 - time.time() % 3600
    if left < 15:
        time.sleep(left + 1)
    headers = {"Authorization": f"Bearer {scale.data['token']}"}
    body = {"check": "ci.load_test", "result": "pass", "summary": "p95 180 ms"}
    pipeline = Browser()
    statuses = []
    for n in range(PUSH_LIMIT + 2):
        response = pipeline.post(scale.webs[n % 2], "/api/v1/evidence", json=body, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [201] * PUSH_LIMIT + [429, 429], statuses
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    assert f"at most {PUSH_LIMIT}/h" in response.json()["error"]
    service = scale.query("SELECT id FROM reviews_service WHERE slug = 'scale-0'")[0][0]
    pushed = scale.query(
        "SELECT count(*) FROM reviews_checkresult WHERE service_id = %s AND check_key = %s",
        service,
        "ci.load_test",
    )
    assert pushed == [(PUSH_LIMIT,)]


def test_failed_sign_ins_through_both_webs_share_one_limit(scale: Scale) -> None:
    # ACCOUNT_RATE_LIMITS: five failures per account in five minutes.
    browser = Browser()
    for n in range(5):
        response = browser.sign_in(scale.webs[n % 2], LOCKED, "not the password")
        assert response.status_code == 200, response.status_code
        assert "Too many failed" not in response.text
    # The right password, on the web that saw only two of the failures, is refused too.
    response = browser.sign_in(scale.webs[1], LOCKED, PASSWORD)
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.text


# --- 3. Caches --------------------------------------------------------------------------
def test_the_workspace_cache_is_one_cache_for_both_webs(scale: Scale) -> None:
    a, b = scale.webs
    browser = Browser()
    assert browser.sign_in(a, LEAD, PASSWORD).status_code == 302
    path = f"/reviews/{scale.data['review']}/"
    # The first page shows the "signed in" message, so it is not cached.
    assert "Successfully signed in" in browser.get(a, path).text
    first = browser.get(a, path)
    assert first.status_code == 200, first.text[:1000]
    # Every render masks the CSRF token afresh: the same bytes from B are A's cached page.
    assert browser.get(b, path).content == first.content

    answer = scale.data["answer"]
    assert "preflight-answer-status--not_started" in _row(first.text, answer)
    prefix = f"a{answer}"
    saved = browser.post(
        b,
        f"/reviews/{scale.data['review']}/answers/{answer}/",
        data={
            "csrfmiddlewaretoken": _csrf(first.text),
            f"{prefix}-status": "met",
            f"{prefix}-justification": "",
            f"{prefix}-notes": "",
            f"{prefix}-owner": "",
            f"{prefix}-revision": str(scale.data["revision"]),
        },
        headers={"HX-Request": "true"},  # no "saved" message, so A's next page may be cached
    )
    assert saved.status_code == 200, saved.text[:1000]
    after = browser.get(a, path)
    assert after.status_code == 200
    assert "preflight-answer-status--met" in _row(after.text, answer)


def _row(page: str, answer: int) -> str:
    """The answer's row in the workspace overview."""
    match = re.search(rf'id="row-{answer}".*?</div>', page, re.S)
    assert match, f"no row for answer {answer}"
    return match.group(0)


# --- 4. Beat: once per tick, even with a second beat ------------------------------------
@dataclass
class Ticks:
    """What beat's ticks came to, at one moment: the scheduled runs begun since ``after``
    (id, started_at, job_count), the ticks sent and the sweeps that stood down."""

    runs: list[tuple[Any, ...]]
    sends: int
    stood_down: int


def _settled(scale: Scale, beats: list[Process], after: int, callbacks: int) -> Ticks | None:
    """The ticks once every one is accounted for (one run or one stand-down) and every
    run's chord callback is done; None until then."""
    runs = scale.query(
        "SELECT id, started_at, job_count, finished_at FROM reviews_checkrun "
        "WHERE trigger = 'schedule' AND id > %s ORDER BY started_at",
        after,
    )
    ticks = Ticks(
        runs=[run[:3] for run in runs],
        sends=sum(len(beat.lines(BEAT_SENDS)) for beat in beats),
        stood_down=scale.worker_lines(STOOD_DOWN),
    )
    finished = scale.worker_lines("checks.finish_run[", "succeeded") - callbacks
    if (
        len(runs) + ticks.stood_down == ticks.sends
        and all(run[3] is not None for run in runs)
        and finished >= len(runs)
    ):
        return ticks
    return None


def _assert_each_result_stored_once(scale: Scale, run_id: int, job_count: int) -> None:
    ((total, distinct),) = scale.query(
        "SELECT count(*), count(DISTINCT (service_id, binding)) FROM reviews_checkresult "
        "WHERE run_id = %s",
        run_id,
    )
    assert total == distinct == job_count == SERVICES, (run_id, total, distinct, job_count)


def test_beat_sweeps_once_a_tick_and_a_second_beat_does_not_double_it(scale: Scale) -> None:
    started = time.monotonic()
    ((after,),) = scale.query("SELECT coalesce(max(id), 0) FROM reviews_checkrun")
    callbacks = scale.worker_lines("checks.finish_run[", "succeeded")
    assert scale.worker_lines(STOOD_DOWN) == 0

    def settled() -> Ticks | None:
        return _settled(scale, beats, after, callbacks)

    command = procfile_commands()["beat"]
    first = scale.start("beat-1", command)
    beats = [first]
    try:
        # One beat: each tick is one scheduled run.
        wait_until(lambda: len(first.lines(BEAT_SENDS)) >= 2, timeout=30, what="two ticks")
        alone = wait_until(settled, timeout=20, what="the sweeps of one beat to end")
        assert len(alone.runs) == alone.sends >= 2, alone
        assert alone.stood_down == 0, alone

        # A second beat, as a second host running the same Procfile would start.
        second = scale.start("beat-2", command)
        beats.append(second)
        wait_until(lambda: len(second.lines(BEAT_SENDS)) >= 3, timeout=30, what="its ticks")
    finally:
        stop_all(beats, grace=10)
    both = wait_until(settled, timeout=20, what="the sweeps of two beats to end")
    # Both beats sent; the one that ticked second each time stood down (at least twice
    # over the second beat's three ticks), and the sweeps went on.
    assert len(second.lines(BEAT_SENDS)) >= 3
    assert both.stood_down >= 2, both
    assert len(both.runs) - len(alone.runs) >= 2, both
    # Not doubled: no two scheduled runs began within one lease of each other.
    for earlier, later in itertools.pairwise(both.runs):
        gap = (later[1] - earlier[1]).total_seconds()
        assert gap >= LEASE_SECONDS - 0.2, (gap, both)
    for run_id, _, job_count in both.runs:
        _assert_each_result_stored_once(scale, run_id, job_count)
    assert time.monotonic() - started < 40, "the beat test is getting slow"


# --- 5. A sweep split across both workers -----------------------------------------------
def test_a_sweep_split_across_both_workers_stores_each_result_once(scale: Scale) -> None:
    from celery import Celery

    received = [len(worker.lines("checks.run_chunk[", "received")) for worker in scale.workers]
    callbacks = scale.worker_lines("checks.finish_run[", "succeeded")
    (last,) = scale.query("SELECT coalesce(max(id), 0) FROM reviews_checkrun")[0]
    # No result backend: the run is found in the database (a result's clean-up would go
    # to the private Redis after the module has stopped it).
    sender = Celery("scale-out", broker=scale.redis_url, set_as_current=False)
    try:
        sender.send_task("checks.sweep")
    finally:
        sender.close()
    run_id = wait_until(
        lambda: scale.query("SELECT max(id) FROM reviews_checkrun WHERE id > %s", last)[0][0],
        timeout=30,
        what="the sweep to begin",
    )

    def finished() -> tuple[Any, ...] | None:
        rows = scale.query(
            "SELECT job_count, passed, finished_at FROM reviews_checkrun WHERE id = %s", run_id
        )
        return rows[0] if rows and rows[0][2] is not None else None

    job_count, passed, _ = wait_until(finished, timeout=30, what="the sweep to finish")
    wait_until(
        lambda: scale.worker_lines("checks.finish_run[", "succeeded") > callbacks,
        timeout=10,
        what="the chord callback to end",
    )
    _assert_each_result_stored_once(scale, run_id, job_count)
    assert passed == SERVICES
    took = [
        len(worker.lines("checks.run_chunk[", "received")) - before
        for worker, before in zip(scale.workers, received, strict=True)
    ]
    assert sum(took) == SERVICES // CHUNK_SIZE, took
    assert all(took), f"one worker took every chunk: {took}"
