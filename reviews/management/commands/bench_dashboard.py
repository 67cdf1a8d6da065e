"""Benchmark the portfolio (`make bench-dashboard`): at 50 and at 5,000 services, the first
page's server time and queries, the heat map's, the CSV export's, and the page's
throughput under gunicorn against /healthz on the same server.

Run on a scratch database the Makefile makes afresh: it seeds 50 services, measures,
seeds up to 5,000, measures again. Server time is measured in-process (Django's test
client, the full middleware stack), uncached unless said otherwise; throughput with wrk
(Debian's package) against a real gunicorn, the page served from its cache as it is for
any reader who looks twice.
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
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reviews.models import Service
from reviews.portfolio.seed import PREFIX, seed_portfolio, seed_reader

RUNS = 15


@dataclass(frozen=True)
class Timing:
    ms: float  # the median
    queries: int


class Command(BaseCommand):
    help = "Benchmark the portfolio at 50 and at 5,000 services; print each target's figure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--small", type=int, default=50)
        parser.add_argument("--large", type=int, default=5000)
        parser.add_argument("--items", type=int, default=20)
        parser.add_argument("--seconds", type=int, default=5, help="each throughput run")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Benchmarks seed data: never with PREFLIGHT_ENV=production.")
        if Service.objects.exclude(slug__startswith=f"{PREFIX}-").exists() or (
            Service.objects.filter(slug__startswith=f"{PREFIX}-").count() > options["small"]
        ):
            raise CommandError("Use a fresh scratch database (make bench-dashboard makes one).")
        small, large, items = options["small"], options["large"], options["items"]
        out = self.stdout.write
        targets: list[bool] = []

        def target(label: str, figure: str, goal: str, met: bool) -> None:
            targets.append(met)
            out(f"{label}: {figure} (target {goal}) {'ok' if met else 'MISS'}")

        seed_portfolio(services=small, items=items)
        reader = seed_reader()
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(reader)
        page_s, heat_s = (
            self._measure(client, "/portfolio/"),
            self._measure(client, "/portfolio/heat-map/"),
        )
        out(f"at {small} services: page {page_s.ms:.1f} ms, {page_s.queries} queries; "
            f"heat map {heat_s.ms:.1f} ms, {heat_s.queries} queries")  # fmt: skip

        seeded = seed_portfolio(services=large, items=items)
        out(f"seeded {seeded.total} services ({seeded.answers} more answers)")
        _settle()
        client.force_login(reader)
        page_l, heat_l = (
            self._measure(client, "/portfolio/"),
            self._measure(client, "/portfolio/heat-map/"),
        )
        out(f"at {large} services: page {page_l.ms:.1f} ms, {page_l.queries} queries; "
            f"heat map {heat_l.ms:.1f} ms, {heat_l.queries} queries")  # fmt: skip

        for what, s, big in (("first page", page_s, page_l), ("heat map", heat_s, heat_l)):
            ratio = big.ms / s.ms
            target(
                f"{what} {large} / {small}",
                f"{ratio:.2f}x, queries {s.queries} and {big.queries}",
                "at most 1.3x, the same queries",
                ratio <= 1.3 and s.queries == big.queries,
            )

        csv_ms, rows = self._csv(client)
        target(f"CSV of {rows} rows", f"{csv_ms:.0f} ms", "under 1000 ms", csv_ms < 1000)

        ratio, figures = self._throughput(reader, options["seconds"])
        target(
            "page throughput / /healthz", f"{ratio:.2f} ({figures})", "at least 0.5", ratio >= 0.5
        )
        out(f"targets met: {sum(targets)} of {len(targets)}")

    def _both(self, client: Client, services: int) -> tuple[Timing, Timing]:
        page = self._measure(client, "/portfolio/")
        heat = self._measure(client, "/portfolio/heat-map/")
        self.stdout.write(
            f"at {services} services: page {page.ms:.1f} ms, {page.queries} queries; "
            f"heat map {heat.ms:.1f} ms, {heat.queries} queries"
        )
        return page, heat

    def _measure(self, client: Client, path: str) -> Timing:
        """The median server time of ``path``, uncached (the cache is cleared each time)."""
        times, queries = [], 0
        client.get(path)  # imports and template loading happen once, not in the figure
        for _ in range(RUNS):
            cache.clear()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{path} answered {response.status_code}")
            queries = len(captured.captured_queries)
        return Timing(statistics.median(times), queries)

    def _csv(self, client: Client) -> tuple[float, int]:
        started = time.perf_counter()
        response = client.get("/portfolio/export.csv")
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, body.count(b"\n") - 1

    def _throughput(self, reader: Any, seconds: int) -> tuple[float, str]:
        if shutil.which("wrk") is None:
            raise CommandError("wrk is missing: make bench-dashboard installs Debian's wrk.")
        session = self._session(reader)
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
            _wrk(base + "/portfolio/", cookie, 1)  # warms the workers and the page's cache
            healthz = _wrk(base + "/healthz", "", seconds)
            page = _wrk(base + "/portfolio/", cookie, seconds)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        return page / healthz, f"{page:.0f} and {healthz:.0f} requests a second"

    def _session(self, reader: Any) -> str:
        """A signed-in session for ``reader``, as the login view would make it."""
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store[SESSION_KEY] = str(reader.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = reader.get_session_auth_hash()
        store.create()
        return str(store.session_key)


def _settle() -> None:
    """Let PostgreSQL write out the bulk load now rather than during the measurements."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    time.sleep(2)


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
