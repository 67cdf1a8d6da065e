"""Benchmark a sweep through the real Celery path (`make bench-evidence`).

Starts a local HTTP server whose every answer takes ``--latency`` seconds, a Celery
worker process, and N services each bound to M health checks; then times one sweep
from dispatch to the chord's summary and prints the speed-up over the sum of latencies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from checklists.schema import CheckBinding, ParsedChecklist, ParsedItem, ParsedSection
from checklists.services import checklist_import
from portal.accounts.models import Team, User
from portal.celery import app
from reviews.checks.tasks import sweep
from reviews.models import CheckResult, CheckRun, CheckRunTrigger, CheckStanding, Review, Service


class SlowServer:
    """An asyncio HTTP/1.1 server on 127.0.0.1 answering 200 after a fixed delay."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.port = 0
        self.requests = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                self.requests += 1
                await asyncio.sleep(self.latency)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class Command(BaseCommand):
    help = "Time one sweep of N services x M HTTP checks through Celery; print the speed-up."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--services", type=int, default=200)
        parser.add_argument("--checks", type=int, default=10, help="HTTP checks per service")
        parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("Set REDIS_URL: the benchmark runs through a real Celery worker.")
        n, m, latency = options["services"], options["checks"], options["latency"]
        server = SlowServer(latency)
        server.start()
        worker = self._start_worker(options["worker_concurrency"])
        try:
            service_ids = self._prepare(n, m, f"http://127.0.0.1:{server.port}/health")
            run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL)
            started = time.monotonic()
            sweep.delay(run.pk, service_ids)
            deadline = started + 600
            while time.monotonic() < deadline:
                run.refresh_from_db()
                if run.finished_at is not None:
                    break
                time.sleep(0.05)
            else:
                raise CommandError("The sweep did not finish within 10 minutes.")
            wall = time.monotonic() - started
        finally:
            self._stop(worker)
            server.stop()
        checks = run.passed + run.failed + run.errored + run.not_applicable
        total_latency = checks * latency
        out = self.stdout
        out.write(f"checks: {checks} ({n} services x {m} checks), {latency * 1000:.0f} ms each")
        out.write(f"results: {run.passed} passed, {run.failed} failed, {run.errored} errors")
        out.write(f"server requests: {server.requests}")
        out.write(f"sum of latencies: {total_latency:.1f} s")
        out.write(f"wall time: {wall:.2f} s (dispatch to summary)")
        out.write(f"speed-up: {total_latency / wall:.1f}x")

    def _prepare(self, n: int, m: int, url: str) -> list[int]:
        """N services, each with a review of a checklist of M bound health checks."""
        parsed = ParsedChecklist(
            title="Benchmark",
            slug="benchmark",
            sections=[
                ParsedSection(
                    title="Health",
                    items=[
                        ParsedItem(
                            text=f"Health check {j}",
                            # Distinct parameters make M distinct jobs per service.
                            checks=[CheckBinding(key="http.health", params={"max_ms": 60000 + j})],
                        )
                        for j in range(m)
                    ],
                )
            ],
        )
        with transaction.atomic():
            # The previous benchmark's scratch rows, dependants first.
            old = Service.objects.filter(slug__startswith="bench-")
            CheckStanding.objects.filter(service__in=old).delete()
            CheckResult.objects.filter(service__in=old).delete()
            Review.objects.filter(service__in=old).delete()
            old.delete()
            version = checklist_import(parsed=parsed, by=None, publish=True).version
            team, _ = Team.objects.get_or_create(slug="benchmark", defaults={"name": "Benchmark"})
            lead = User.objects.filter(is_active=True).first()
            services = Service.objects.bulk_create(
                Service(name=f"Bench {i}", slug=f"bench-{i}", team=team, health_check_url=url)
                for i in range(n)
            )
            Review.objects.bulk_create(
                Review(service=s, checklist_version=version, created_by=lead) for s in services
            )
        return [s.pk for s in services]

    def _start_worker(self, concurrency: int) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(  # noqa: S603 (a fixed command line)
            [sys.executable, "-m", "celery", "--app", "portal", "worker", "--loglevel", "WARNING",
             "--concurrency", str(concurrency), "--without-gossip", "--without-mingle"],
            # The benchmark's own server is on loopback, which checks may not reach
            # unless it is opened.
            env={**os.environ, "LOG_LEVEL": "warning", "CHECK_ALLOWED_NETWORKS": "127.0.0.1/32"},
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.control.ping(timeout=0.5, limit=1):
                return worker
        self._stop(worker)
        raise CommandError("The Celery worker did not start.")

    def _stop(self, worker: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)
