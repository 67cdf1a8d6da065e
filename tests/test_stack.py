"""The production wiring, proved with real processes.

``test_production_stack`` starts exactly what the Procfile says (``honcho start``: gunicorn,
the Celery worker and Celery beat) in production posture, against a throwaway PostgreSQL
database and a private ``redis-server`` that the test owns and can kill. It checks the
health endpoints, HTTPS redirects, a password-reset email that only the worker can send,
the JSON request log, and that /readyz turns 503 naming the broker once Redis is gone.

The Docker files cannot be exercised here (no Docker engine), so a cheap test keeps
``docker-compose.yml`` and the ``Dockerfile`` in step with the Procfile.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.processes import (
    free_port,
    kill_group,
    start_process_group,
    stop_process_group,
    wait_until,
)
from tests.stacks import (
    BASE_DIR,
    BIN_DIR,
    OutputCollector,
    PrivateRedis,
    manage,
    production_env,
)

PROCFILE = BASE_DIR / "Procfile"

READY_TIMEOUT = 60.0
RESET_EMAIL = "stack-reset@example.com"


def procfile_commands() -> dict[str, str]:
    commands: dict[str, str] = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not line.lstrip().startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


@dataclass
class Stack:
    web_port: int
    env: dict[str, str]
    mail_dir: Path
    output: OutputCollector
    redis: PrivateRedis
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def https_origin(self) -> str:
        return f"https://127.0.0.1:{self.web_port}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        return self.session.get(self.url(path), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        return self.session.post(self.url(path), **kwargs)


@pytest.fixture
def stack(tmp_path: Path, private_redis: PrivateRedis, stack_database_url: str) -> Iterator[Stack]:
    env = production_env(tmp_path, stack_database_url, private_redis.url)

    # What `make stack` does first; collectstatic needs no database, so it runs alongside.
    collectstatic = start_process_group(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=BASE_DIR, env=env
    )
    try:
        manage(env, "migrate", "--noinput")
        manage(
            env,
            "shell",
            "-c",
            "from portal.accounts.models import User; "
            f"User.objects.create_user({RESET_EMAIL!r}, {secrets.token_urlsafe(24)!r})",
        )
        output, _ = collectstatic.communicate(timeout=45)
    finally:
        stop_process_group(collectstatic, grace=2)
    assert collectstatic.returncode == 0, f"collectstatic failed:\n{output[-3000:]}"

    web_port = free_port()
    empty_env_file = tmp_path / "empty.env"  # never read a developer's .env
    empty_env_file.write_text("", encoding="utf-8")
    honcho_start = [str(BIN_DIR / "honcho"), "start", "--no-colour", "-f", str(PROCFILE)]
    honcho = subprocess.Popen(
        [*honcho_start, "-e", str(empty_env_file), "-p", str(web_port)],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert honcho.stdout is not None
    collector = OutputCollector(honcho.stdout, tmp_path / "honcho.log")
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: this is all loopback
    try:
        yield Stack(
            web_port=web_port,
            env=env,
            mail_dir=Path(env["EMAIL_FILE_PATH"]),
            output=collector,
            redis=private_redis,
            session=session,
        )
    finally:
        session.close()
        # honcho SIGTERMs each child's process group and SIGKILLs them after 5 s; each
        # child runs in its own session, so sweep their groups too in case honcho did not.
        stop_process_group(honcho, grace=12)
        for pid in collector.child_pids():
            kill_group(pid)
        collector.join(timeout=5)
        # pytest shows this only when the test fails.
        print(f"--- last lines of {tmp_path / 'honcho.log'} ---\n{collector.tail(80)}")


# --- The stack test ---------------------------------------------------------------------
def _ready(stack: Stack) -> dict[str, Any] | None:
    if any("stopped (rc=" in text for text in stack.output.by_process("system")):
        pytest.fail(f"a process exited during start-up:\n{stack.output.tail()}", pytrace=False)
    response = stack.get("/readyz", timeout=5)
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


def _csrf(stack: Stack, path: str, headers: dict[str, str]) -> tuple[str, str]:
    """The CSRF cookie and form token from a GET of ``path``."""
    response = stack.get(path, headers=headers)
    assert response.status_code == 200, response.text[:500]
    set_cookie = response.headers.get("Set-Cookie", "")
    assert "csrftoken=" in set_cookie
    assert "Secure" in set_cookie, f"production CSRF cookie must be Secure: {set_cookie}"
    cookie = response.cookies.get("csrftoken")
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)
    assert cookie and match, "no CSRF cookie or form token on the page"
    return cookie, match.group(1)


def _reset_email(stack: Stack) -> str | None:
    for path in sorted(stack.mail_dir.glob("*")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if RESET_EMAIL in text and "/accounts/password/reset/key/" in text:
            return text
    return None


@pytest.mark.stack
def test_production_stack(stack: Stack) -> None:
    started = time.monotonic()

    # 1. Everything comes up and /readyz says so.
    body = wait_until(lambda: _ready(stack), timeout=READY_TIMEOUT, what="/readyz to answer 200")
    assert body["status"] == "ok", body
    for component in ("database", "broker", "workers"):
        assert body["components"][component]["status"] == "ok", body
    assert body["components"]["database"]["vendor"] == "postgresql"
    assert stack.get("/healthz").status_code == 200

    # 2. Plain HTTP: probes are exempt from the HTTPS redirect, pages are not.
    readyz = stack.get("/readyz")
    assert readyz.status_code == 200, "load balancers probe /readyz over plain HTTP"
    login = stack.get("/accounts/login/")
    assert login.status_code == 301
    assert login.headers["Location"] == f"{stack.https_origin()}/accounts/login/"

    # 3. A password reset: rendered by web, queued in Redis, sent by the worker.
    behind_tls = {"X-Forwarded-Proto": "https"}
    path = "/accounts/password/reset/"
    cookie, token = _csrf(stack, path, behind_tls)
    response = stack.post(
        path,
        data={"email": RESET_EMAIL, "csrfmiddlewaretoken": token},
        headers={
            **behind_tls,
            "Cookie": f"csrftoken={cookie}",
            "Referer": f"{stack.https_origin()}{path}",
        },
    )
    assert response.status_code == 302, response.text[:1000]
    assert "Strict-Transport-Security" in response.headers
    email = wait_until(
        lambda: _reset_email(stack), timeout=20, what="the worker to write the reset email"
    )
    link = re.search(rf"{re.escape(stack.https_origin())}/accounts/password/reset/key/\S+", email)
    assert link, f"no HTTPS reset link in the email:\n{email}"
    wait_until(
        lambda: any(
            "accounts.send_email" in text and "succeeded" in text
            for text in stack.output.by_process("worker")
        ),
        timeout=10,
        what="the worker to log the send_email task",
    )

    # 4. Request lines from web are JSON with a UTC timestamp, request id and user id.
    def request_lines() -> list[dict[str, Any]]:
        found = []
        for text in stack.output.by_process("web"):
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if record.get("logger") == "preflight.request":
                found.append(record)
        return found

    # honcho interleaves the processes' output as it reads it: the worker's lines about
    # the email can come through before web's line about the request that queued it.
    lines = wait_until(
        lambda: (
            [
                r
                for r in request_lines()
                if r["path"] == path and r["method"] == "POST" and r["status"] == 302
            ]
            and request_lines()
        ),
        timeout=10,
        what=f"web's request line for POST {path}\n{stack.output.tail()}",
    )
    for record in lines:
        assert {"timestamp", "request_id", "user_id"} <= record.keys(), record
        assert record["timestamp"].endswith("+00:00"), record

    # 5. Redis goes away: /readyz turns 503 within seconds and names the broker.
    stack.redis.stop()

    def unavailable() -> dict[str, Any] | None:
        response = stack.get("/readyz", timeout=5)
        return response.json() if response.status_code == 503 else None

    failure = wait_until(unavailable, timeout=10, what="/readyz to answer 503 with Redis stopped")
    assert failure["status"] == "unavailable"
    assert "broker" in failure["failing"], failure
    assert "database" not in failure["failing"], failure
    detail = failure["components"]["broker"]["detail"]
    assert "ConnectionError" in detail, failure
    assert f"127.0.0.1:{stack.redis.port}" in detail, failure

    assert time.monotonic() - started < 75, "the stack test is getting slow"


# --- Docker files stay in step with the Procfile ----------------------------------------
def _compose_services(text: str) -> dict[str, str]:
    """Each top-level service's block of docker-compose.yml (a text parse: no PyYAML)."""
    services: dict[str, list[str]] = {}
    current: str | None = None
    inside = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            inside = line.rstrip() == "services:"
            current = None
            continue
        if inside:
            match = re.match(r"^  ([A-Za-z0-9_.-]+):\s*$", line)
            if match:
                current = match.group(1)
                services[current] = []
            elif current is not None:
                services[current].append(line)
    return {name: "\n".join(lines) for name, lines in services.items()}


def _compose_command(block: str) -> str:
    """The service's command with Compose's ``$$`` escapes undone."""
    match = re.search(r"^    command:\s*(.+?)(?=^    [a-z_]+:|\Z)", block, re.M | re.S)
    assert match, f"no command in:\n{block}"
    return " ".join(match.group(1).split()).replace("$$", "$")


def test_compose_and_dockerfile_run_the_procfile_commands() -> None:
    procfile = procfile_commands()
    assert set(procfile) == {"web", "worker", "beat"}
    compose = (BASE_DIR / "docker-compose.yml").read_text(encoding="utf-8")
    services = _compose_services(compose)
    assert set(services) == {"db", "redis", "web", "worker", "beat"}
    for name in ("web", "worker", "beat"):
        command = _compose_command(services[name])
        assert f"exec {procfile[name]}" in command, (name, command, procfile[name])
    web = _compose_command(services["web"])
    assert web.index("manage.py migrate") < web.index("gunicorn"), "web migrates, then serves"
    # Compose refuses to start without the secrets rather than running with blanks.
    assert "${SECRET_KEY:?" in compose
    assert "${POSTGRES_PASSWORD:?" in compose

    dockerfile = (BASE_DIR / "Dockerfile").read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])\s*$", dockerfile, re.M)
    assert cmd, "the Dockerfile needs an exec-form CMD"
    assert shlex.join(json.loads(cmd.group(1))) == procfile["web"]
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.M), "the image runs as non-root"
