"""What the page benchmarks share (`make bench-dashboard`, `make bench-pages`).

Server time is measured in-process with Django's test client (the full middleware
stack), as the median of several runs with the cache cleared before each, so the figure
is the page's real work; throughput with wrk (Debian's package) against a real gunicorn
on the same scratch database, as a ratio to /healthz on that server so the figure does
not depend on the machine. Each target is printed on one line (figure, target, ``ok`` or
``MISS``) and the last line says how many were met.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import cache
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal.accounts.models import User
from reviews.models import Service
from reviews.portfolio.seed import PREFIX

RUNS = 15


@dataclass(frozen=True)
class Timing:
    ms: float  # the median
    queries: int


@dataclass
class Targets:
    """Prints one line per target and, last, how many were met."""

    write: Callable[[str], None]
    met: list[bool] = field(default_factory=list)

    def check(self, label: str, figure: str, goal: str, met: bool) -> None:
        self.met.append(met)
        self.write(f"{label}: {figure} (target {goal}) {'ok' if met else 'MISS'}")

    def ratio(self, label: str, small: Timing, large: Timing, most: float) -> None:
        """``large`` costs at most ``most`` times ``small``, in the same number of queries."""
        self.check(
            label,
            f"{large.ms / small.ms:.2f}x, queries {small.queries} and {large.queries}",
            f"at most {most:g}x, the same queries",
            large.ms / small.ms <= most and small.queries == large.queries,
        )

    def summary(self) -> None:
        self.write(f"targets met: {sum(self.met)} of {len(self.met)}")


def refuse_unless_scratch(*, seeded_at_most: int, make_target: str) -> None:
    """Benchmarks seed data in bulk: only on a database holding nothing but seeded rows."""
    if settings.PRODUCTION:
        raise CommandError("Benchmarks seed data: never with PREFLIGHT_ENV=production.")
    seeded = Service.objects.filter(slug__startswith=f"{PREFIX}-")
    if (
        Service.objects.exclude(slug__startswith=f"{PREFIX}-").exists()
        or seeded.count() > seeded_at_most
    ):
        raise CommandError(f"Use a fresh scratch database ({make_target} makes one).")


def signed_in(user: User) -> Client:
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    return client


def measure(client: Client, path: str, runs: int = RUNS) -> Timing:
    """The median server time of ``path``, uncached (the cache is cleared each time), and
    its queries."""
    times, queries = [], 0
    client.get(path)  # imports and template loading happen once, not in the figure
    for _ in range(runs):
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise CommandError(f"{path} answered {response.status_code}")
        queries = len(captured.captured_queries)
    return Timing(statistics.median(times), queries)


def settle() -> None:
    """Let PostgreSQL finish with a bulk load now rather than during the measurements:
    vacuum it (the bulk updates leave a dead row for every service, and autovacuum would
    otherwise start on the hundreds of thousands of new rows in the middle of the large
    measurements, on the same CPUs) and write it out."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if not connection.in_atomic_block:  # VACUUM cannot run in a transaction
                cursor.execute("VACUUM (ANALYZE)")
            cursor.execute("CHECKPOINT")
    time.sleep(2)


def require_wrk(make_target: str) -> None:
    if shutil.which("wrk") is None:
        raise CommandError(f"wrk is missing: {make_target} installs Debian's wrk.")


def throughput(user: User, path: str, seconds: int) -> tuple[float, str]:
    """``path``'s requests a second as ``user`` under a real gunicorn, as a ratio to
    /healthz's on the same server, and both figures in words."""
    session = _session(user)
    port = _free_port()
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:portal.gunicorn", "portal.wsgi"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/healthz")
        cookie = f"Cookie: {settings.SESSION_COOKIE_NAME}={session}"
        _wrk(base + path, cookie, 1)  # warms the workers (and a cached page's cache)
        healthz = _wrk(base + "/healthz", "", seconds)
        page = _wrk(base + path, cookie, seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    return page / healthz, f"{page:.1f} and {healthz:.0f} requests a second"


def _session(user: User) -> str:
    """A signed-in session for ``user``, as the login view would make it."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return str(store.session_key)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.2)
    raise CommandError("gunicorn did not start.")


def _wrk(url: str, header: str, seconds: int) -> float:
    """Requests a second that wrk measured (2 threads, 8 connections)."""
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", url]
    if header:
        command[1:1] = ["-H", header]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    if "Non-2xx" in result.stdout:
        raise CommandError(f"{url} answered errors under load:\n{result.stdout}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if found is None:
        raise CommandError(f"wrk said:\n{result.stdout}")
    return float(found.group(1))
