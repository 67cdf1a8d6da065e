"""Real processes for the tests that run the production wiring: a private ``redis-server``
the test owns (and may stop and start), a throwaway PostgreSQL database, the production
environment, ``manage.py`` runs, and the output of the processes started."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
from psycopg import sql

from tests.processes import free_port, port_open, stop_process_group, wait_until
from tests.services import DEFAULT_DATABASE_URL, IN_CI

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent  # the project's virtualenv
# honcho: "12:00:00 web.1    | message" and "12:00:00 system   | web.1 started (pid=123)"
HONCHO_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<name>\S+)\s*\| (?P<text>.*)$")
HONCHO_STARTED = re.compile(r"^(?P<name>\S+) started \(pid=(?P<pid>\d+)\)$")


def with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


class OutputCollector:
    """Reads a child's stdout on a thread: keeps the lines and mirrors them to a file."""

    def __init__(self, stream: IO[str], log_path: Path) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stream = stream
        self._log_path = log_path
        self._thread = threading.Thread(target=self._pump, name="stack-output", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with self._log_path.open("a", encoding="utf-8") as log:
            for line in self._stream:
                log.write(line)
                log.flush()
                with self._lock:
                    self.lines.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def by_process(self, prefix: str) -> list[str]:
        """Messages from processes whose honcho name starts with ``prefix`` (web, worker…)."""
        found = []
        for line in self.snapshot():
            match = HONCHO_LINE.match(line)
            if match and match["name"].startswith(prefix):
                found.append(match["text"])
        return found

    def child_pids(self) -> list[int]:
        pids = []
        for text in self.by_process("system"):
            match = HONCHO_STARTED.match(text)
            if match:
                pids.append(int(match["pid"]))
        return pids

    def tail(self, count: int = 60) -> str:
        return "\n".join(self.snapshot()[-count:])

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


# --- Fixtures: private Redis, a dedicated database, the processes -----------------------
@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes]
    argv: list[str] = field(default_factory=list)  # to start it again (on the same port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process_group(self.process, grace=5)

    def start(self) -> None:
        """Start it again after ``stop``: the same port, empty (it keeps nothing)."""
        assert self.process.poll() is not None, "this Redis is still running"
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(lambda: port_open(self.port), timeout=10, what=f"Redis back on {self.port}")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A ``redis-server`` of the test's own, which it may stop and start again."""
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def stack_database_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for the test: its URL."""
    # One database per run, so concurrent runs on one machine do not collide.
    with throwaway_database("preflight_stack") as url:
        yield url


def production_env(tmp_path: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of every process: production posture, built from scratch."""
    mail_dir = tmp_path / "mail"
    data_dir = tmp_path / "data"
    home = tmp_path / "home"  # gunicorn puts its control socket in ~/.gunicorn/
    for path in (mail_dir, data_dir, home):
        path.mkdir()
    return {
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PREFLIGHT_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "https://localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "PREFLIGHT_DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "GUNICORN_WORKERS": "1",
        "CELERY_CONCURRENCY": "1",
        # The test plays the TLS-terminating proxy with X-Forwarded-Proto.
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
    }


def manage(env: dict[str, str], *args: str, timeout: float = 45) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


# --- The same, for a block wider than one test (a module's processes) -------------------
@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[PrivateRedis]:
    """A private ``redis-server`` (as the ``private_redis`` fixture) while the block runs."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed; the stack test starts a private one"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing service fails the run)", pytrace=False)
        pytest.skip(message)
    port = free_port()
    (workdir / "redis").mkdir()
    # No persistence at all: this Redis lives and dies with the test.
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(workdir / "redis")]
    with (workdir / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = PrivateRedis(port=port, process=process, argv=argv)
    try:
        wait_until(lambda: port_open(port), timeout=10, what=f"redis-server on port {port}")
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def throwaway_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (as ``stack_database_url``) while the block runs: its URL.

    ``template``: a migrated database to copy (the test database), which spares the 20 s
    a migration from nothing takes. PostgreSQL copies only a database that exists and
    that nobody is connected to; otherwise the new one starts empty, and the caller's
    ``migrate`` fills it.
    """
    base_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"{prefix}_{os.getpid()}"
    admin_url = with_database(base_url, "postgres")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(drop)
        copied = False
        if template is not None:
            with contextlib.suppress(psycopg.errors.ObjectInUse, psycopg.errors.InvalidCatalogName):
                conn.execute(create + sql.SQL(" TEMPLATE {}").format(sql.Identifier(template)))
                copied = True
        if not copied:
            conn.execute(create)
    try:
        yield with_database(base_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(drop)
