"""Real faults, with the production processes: the services really stop and start.

- **Redis stops** while a product lead saves answers, submits the review and asks for a
  check run. Every request still succeeds (the cache reads as empty, sessions come from
  the database), the answers and the submission are saved, and the notification emails
  and the check run wait in the outbox (``portal.outbox``), written with the changes that
  asked for them. When Redis is back, beat's relay sends them: the emails go out, the
  check runs, nothing is lost.
- **PostgreSQL restarts** while people save comments. During the outage every request
  gets a clean 503 page (never a 500); once it is back, every request succeeds at once
  (``CONN_HEALTH_CHECKS`` replaces the dead connections); and nothing is half-saved:
  each comment has its history and its event in the record, and ``verify_record``
  passes.

The processes are the Procfile's (gunicorn, the Celery worker and beat) in development
posture (plain HTTP; the production posture's HTTPS and static files are the stack
test's business), against a private ``redis-server``. The Redis test's processes use the
test database; the PostgreSQL test's use a private PostgreSQL cluster (so restarting it
disturbs nothing else), loaded with a dump of the test database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from django.conf import global_settings
from django.db import connection

from portal.accounts.roles import Role
from portal.outbox.models import OutboxTask
from reviews.models import Answer, CheckResult, CheckRun, Comment, Review
from tests.conftest import PASSWORD, _person
from tests.factories import review_of_checked_service
from tests.http_servers import LocalServer
from tests.processes import free_port, start_process_group, stop_process_group, wait_until
from tests.stacks import BASE_DIR, OutputCollector, PrivateRedis, production_env
from tests.test_stack import procfile_commands

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

CHECKLIST = b"""---
title: Faults
slug: faults
checks:
  healthy: [{key: http.health}]
---
## Ops
- Healthy {#healthy}
- **Backups run** {#backups}
- Runbook written {#runbook}
"""
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- the processes ----------------------------------------------------------------------
@dataclass
class Portal:
    """The Procfile's processes, started one by one, and a signed-in visitor of ``web``."""

    env: dict[str, str]
    tmp: Path
    port: int = field(default_factory=free_port)
    processes: dict[str, tuple[subprocess.Popen[str], OutputCollector]] = field(
        default_factory=dict
    )
    session: requests.Session = field(default_factory=requests.Session)

    def start(self, *names: str) -> None:
        commands = procfile_commands()
        for name in names:
            popen = start_process_group(
                ["sh", "-c", f"exec {commands[name]}"],
                cwd=BASE_DIR,
                env={**self.env, "PORT": str(self.port)},
            )
            assert popen.stdout is not None
            self.processes[name] = (popen, OutputCollector(popen.stdout, self.tmp / f"{name}.log"))
        if "web" in names:
            wait_until(lambda: self._up(), timeout=30, what="gunicorn to answer /healthz")

    def _up(self) -> bool:
        for name, (popen, output) in self.processes.items():
            if popen.poll() is not None:
                pytest.fail(f"{name} exited:\n{output.tail()}", pytrace=False)
        return self.get("/healthz", timeout=2).status_code == 200

    def stop(self) -> None:
        self.session.close()
        for popen, output in self.processes.values():
            stop_process_group(popen, grace=10)
            output.join(timeout=5)

    def tail(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{output.tail(40)}" for name, (_, output) in self.processes.items()
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.session.get(self.url(path), allow_redirects=False, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        """A form post, with the CSRF token the cookie pairs with."""
        kwargs.setdefault("timeout", 15)
        token = self.session.cookies.get("csrftoken", "")
        return self.session.post(
            self.url(path),
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Referer": self.url(path), **kwargs.pop("headers", {})},
            allow_redirects=False,
            **kwargs,
        )

    def sign_in(self, email: str) -> None:
        page = self.get("/accounts/login/")
        assert page.status_code == 200, page.text[:500]
        assert CSRF_FIELD.search(page.text)
        response = self.post("/accounts/login/", {"login": email, "password": PASSWORD})
        assert response.status_code == 302, response.text[:2000]
        assert self.get("/portfolio/").status_code == 200


def process_env(tmp: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = production_env(tmp, database_url, redis_url)
    env.update(
        PREFLIGHT_ENV="development",
        SITE_URL="http://127.0.0.1",
        LOG_FORMAT="text",
        CHECK_ALLOWED_NETWORKS="127.0.0.1/32",  # the local health server
        OUTBOX_RELAY_SECONDS="1",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="4",
        **extra,
    )
    env.pop("SECURE_PROXY_SSL_HEADER", None)
    return env


def test_database_url() -> str:
    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


test_database_url.__test__ = False


@pytest.fixture
def people(settings) -> dict[str, Any]:
    """A product lead of the Benefits team and a security reviewer, with real password
    hashes (the processes do not know the suite's fast test hasher)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    from tests.factories import TeamFactory

    team = TeamFactory(name="Benefits Team", slug="benefits")
    return {
        "team": team,
        "lead": _person("lead@example.com", Role.PRODUCT_LEAD, team=team),
        "reviewer": _person("security@example.com", Role.SECURITY_REVIEWER),
    }


def make_review(people: dict[str, Any], health_url: str) -> Review:
    return review_of_checked_service(
        checklist=CHECKLIST, team=people["team"], by=people["lead"], health_check_url=health_url
    )


def save_answer(portal: Portal, answer: Answer, status: str) -> requests.Response:
    prefix = f"a{answer.pk}"
    return portal.post(
        f"/reviews/{answer.review_id}/answers/{answer.pk}/",
        {
            f"{prefix}-status": status,
            f"{prefix}-justification": "",
            f"{prefix}-notes": f"Saved while Redis was away: {status}",
            f"{prefix}-owner": "",
            f"{prefix}-revision": str(answer.revision),
        },
    )


def mail_about(mail_dir: Path, subject: str) -> list[str]:
    found = []
    for path in sorted(mail_dir.glob("*")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if subject in text:
            found.append(text)
    return found


# --- Redis stops while a product lead works ---------------------------------------------
def test_work_done_while_redis_is_down_is_saved_and_its_tasks_follow_when_it_returns(
    people, private_redis: PrivateRedis, tmp_path: Path
):
    with LocalServer.running() as health:
        review = make_review(people, health.route("/health", status=200))
        env = process_env(tmp_path, test_database_url(), private_redis.url)
        mail_dir = Path(env["EMAIL_FILE_PATH"])
        portal = Portal(env=env, tmp=tmp_path)
        try:
            portal.start("web", "worker", "beat")
            portal.sign_in("lead@example.com")
            assert portal.get(f"/reviews/{review.pk}/").status_code == 200  # now cached

            private_redis.stop()

            # The lead answers, submits and asks for a check run: all of it works.
            answers = {a.item.ref: a for a in review.answers.select_related("item")}
            for ref, status in (("backups", "met"), ("runbook", "met"), ("healthy", "met")):
                response = save_answer(portal, answers[ref], status)
                assert response.status_code == 302, response.text[:2000]
            submitted = portal.post(f"/reviews/{review.pk}/submit/", {"confirm": "yes"})
            assert submitted.status_code == 302, submitted.text[:2000]
            check_now = portal.post(f"/services/{review.service.slug}/check-now/", {})
            assert check_now.status_code == 302, check_now.text[:2000]
            run_page = portal.get(check_now.headers["Location"])
            assert run_page.status_code == 200

            # Saved in the database; the email and the run wait in the outbox.
            review.refresh_from_db()
            assert review.state == "submitted"
            assert set(review.answers.values_list("status", flat=True)) == {"met"}
            waiting = list(OutboxTask.objects.values_list("task", flat=True))
            assert "accounts.send_email" in waiting, waiting
            assert "checks.sweep" in waiting, waiting
            assert "pages.bump" in waiting, waiting  # cached pages are retired later too
            (run,) = CheckRun.objects.filter(service=review.service)
            assert run.finished_at is None
            assert not mail_about(mail_dir, "Review submitted")
            # The page shows what was saved (rendered afresh: the cache is away).
            page = portal.get(f"/reviews/{review.pk}/")
            assert page.status_code == 200 and "Submitted" in page.text

            private_redis.start()

            # Beat's relay sends what waited: the reviewer's email goes out, the checks run.
            (email,) = wait_until(
                lambda: mail_about(mail_dir, "Review submitted"),
                timeout=45,
                what="the submission email, sent once Redis is back\n" + portal.tail(),
            )
            assert "security@example.com" in email
            wait_until(
                lambda: CheckRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists(),
                timeout=45,
                what="the check run asked for while Redis was down\n" + portal.tail(),
            )
            wait_until(
                lambda: not OutboxTask.objects.exists(), timeout=20, what="the outbox to empty"
            )
            (result,) = CheckResult.objects.filter(run=run)
            assert result.result == "pass", result.explanation
            assert health.requests, "the check never reached the service"
            page = portal.get(f"/reviews/{review.pk}/")
            assert page.status_code == 200 and "Submitted" in page.text
        finally:
            portal.stop()


# --- PostgreSQL restarts while people work ----------------------------------------------
@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, which it may stop and start."""

    bindir: Path
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/preflight"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [*self._as_owner(), *argv]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}"

    def _as_owner(self) -> list[str]:
        # PostgreSQL refuses to run as root: run it as the postgres account then.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            *("-D", str(self.root / "data"), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--no-sync"),
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            *("-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "log")),
            *("-w", "start"),
        )

    def stop(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"
        )


def postgres_bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout
        if (Path(bindir.strip()) / "initdb").exists():
            return Path(bindir.strip())
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("No PostgreSQL server binaries (initdb) to start a private cluster with")
    return found[-1].parent


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Under /tmp rather than pytest's tmp_path, which the postgres account cannot enter.
    root = Path(tempfile.mkdtemp(prefix="preflight-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = PrivatePostgres(bindir=postgres_bindir(), root=root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            [
                *cluster._as_owner(),
                str(cluster.bindir / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=30,
        )
        shutil.rmtree(root, ignore_errors=True)


def copy_test_database(to: PrivatePostgres) -> None:
    """The test database as it is now (migrated, with this test's people and review)."""
    dump = subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", test_database_url()],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    admin = f"postgres://postgres@127.0.0.1:{to.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE preflight")
    restore = subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", to.url],
        input=dump,
        capture_output=True,
        timeout=120,
    )
    assert restore.returncode == 0, restore.stderr.decode()[-3000:]


def comment(portal: Portal, review: Review, answer: Answer, body: str) -> int:
    path = f"/reviews/{review.pk}/answers/{answer.pk}/comments/"
    return portal.post(path, {"body": body}).status_code


@dataclass
class Tally:
    statuses: list[int] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def test_a_postgresql_restart_fails_requests_cleanly_and_leaves_nothing_half_saved(
    people, private_redis: PrivateRedis, private_postgres: PrivatePostgres, tmp_path: Path
):
    review = make_review(people, "https://benefits.example.gov/health")
    answers = list(review.answers.order_by("pk"))
    copy_test_database(private_postgres)
    env = process_env(tmp_path, private_postgres.url, private_redis.url)
    portal = Portal(env=env, tmp=tmp_path)
    tally = Tally()
    stop_writing = threading.Event()

    def write(writer: int) -> None:
        """Comment after comment, as fast as the portal answers, each one numbered."""
        visitor = requests.Session()
        visitor.cookies.update(portal.session.cookies)
        token = portal.session.cookies.get("csrftoken", "")
        for n in range(10_000):
            if stop_writing.is_set():
                return
            answer = answers[n % len(answers)]
            body = f"writer {writer} comment {n}"
            path = f"/reviews/{review.pk}/answers/{answer.pk}/comments/"
            try:
                response = visitor.post(
                    portal.url(path),
                    data={"body": body, "csrfmiddlewaretoken": token},
                    headers={"Referer": portal.url(path)},
                    allow_redirects=False,
                    timeout=15,
                )
            except requests.RequestException:
                status = -1
            else:
                status = response.status_code
                if status == 503:
                    assert "Preflight is briefly unavailable" in response.text
                    assert response.headers["Retry-After"] == "10"
            with tally.lock:
                tally.statuses.append(status)
                if status == 302:
                    tally.saved.append(body)
            time.sleep(0.02)

    try:
        portal.start("web")
        portal.sign_in("lead@example.com")
        writers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(3)]
        for writer in writers:
            writer.start()
        wait_until(lambda: len(tally.saved) >= 15, timeout=30, what="comments before the outage")

        private_postgres.stop()
        before = len(tally.statuses)
        wait_until(
            lambda: tally.statuses[before:].count(503) >= 10,
            timeout=30,
            what="requests during the outage to be answered",
        )
        down = portal.get(f"/reviews/{review.pk}/")
        assert down.status_code == 503, down.text[:500]
        assert "Preflight is briefly unavailable" in down.text

        private_postgres.start()
        back = len(tally.statuses)
        wait_until(
            lambda: tally.statuses[back:].count(302) >= 15,
            timeout=30,
            what="comments after PostgreSQL is back\n" + portal.tail(),
        )
        stop_writing.set()
        for writer in writers:
            writer.join(timeout=20)
        # The first requests once it was back already succeeded: no thread was left
        # holding a dead connection.
        after = tally.statuses[back:]
        assert set(after) <= {302, 503}, after
        first_success = after.index(302)
        assert 503 not in after[first_success:], after
        assert portal.get(f"/reviews/{review.pk}/").status_code == 200

        # A restart between requests: every gunicorn thread holds a connection from
        # before it, and the next requests on all of them succeed at once.
        with ThreadPoolExecutor(max_workers=8) as pool:
            warm = list(
                pool.map(lambda _: portal.get(f"/reviews/{review.pk}/").status_code, range(16))
            )
            assert set(warm) == {200}, warm
            private_postgres.stop()
            private_postgres.start()
            bodies = [f"after the quiet restart {n}" for n in range(16)]
            first = list(pool.map(lambda body: comment(portal, review, answers[0], body), bodies))
        assert set(first) == {302}, first
        tally.saved.extend(bodies)
    finally:
        stop_writing.set()
        portal.stop()

    statuses = set(tally.statuses)
    assert 500 not in statuses and -1 not in statuses, sorted(statuses)
    assert statuses <= {302, 503}, sorted(statuses)

    with psycopg.connect(private_postgres.url) as conn:
        stored = [
            row[0]
            for row in conn.execute(
                "SELECT c.body FROM reviews_comment c JOIN reviews_answer a ON a.id = c.answer_id "
                "WHERE a.review_id = %s",
                (review.pk,),
            )
        ]
        history = conn.execute(
            "SELECT count(*) FROM reviews_historicalcomment h JOIN reviews_answer a "
            "ON a.id = h.answer_id WHERE a.review_id = %s AND h.history_type = '+'",
            (review.pk,),
        ).fetchone()
    # Every confirmed comment is there; a comment whose request failed is either wholly
    # there (committed just before the outage) or not at all, never half.
    assert set(tally.saved) <= set(stored)
    assert len(stored) == len(set(stored))
    assert history is not None and history[0] == len(stored)
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_record"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    assert Comment.objects.count() == 0  # the test database itself was never written
