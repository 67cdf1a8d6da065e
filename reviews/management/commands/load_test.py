"""Load-test the main pages of every demo role (`make load-test`).

Seeds the portfolio to 5,000 services (``--services``) as ``manage.py seed_portfolio``
does, plus one review answered through the services (so its service has a history for
the auditor's timeline), signs in one person of each role (a product lead, a security
reviewer, a manager, an auditor and an admin), starts gunicorn on loopback against the
same database, and has ``--clients`` clients per role read that role's pages in turn for
``--seconds``. Then it prints each page's requests, p50 and p95, the requests a second
and the errors, and fails if there was any: an answer other than 2xx or 3xx, or a request
that raised.

Before the clock starts, each page is read once and must answer 200: a page that sends
its reader to sign in or to enrol MFA would otherwise be measured as a redirect.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from portal.accounts.models import User
from portal.accounts.roles import Role
from reviews import bench
from reviews.models import Review, ReviewState
from reviews.portfolio.seed import (
    generated_answer,
    seed_answered_review,
    seed_checklist,
    seed_lead,
    seed_person,
    seed_portfolio,
    seed_reader,
    seed_reviewer,
)

MAKE_TARGET = "make load-test"
ERRORS_SHOWN = 5


@dataclass(frozen=True)
class Page:
    role: str
    name: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.role} {self.name}"


@dataclass
class Tally:
    """What the clients saw; each client appends under the lock."""

    times: dict[Page, list[float]]
    errors: list[str]
    lock: threading.Lock

    def add(self, page: Page, ms: float, error: str | None) -> None:
        with self.lock:
            self.times[page].append(ms)
            if error is not None:
                self.errors.append(f"{page.label} {page.path}: {error}")


class Command(BaseCommand):
    help = "Drive every demo role's main pages under gunicorn; print p50 and p95 per page."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--services", type=int, default=5000, help="seeded services")
        parser.add_argument("--items", type=int, default=20, help="items of each seeded review")
        parser.add_argument("--seconds", type=float, default=30, help="how long to load")
        parser.add_argument("--clients", type=int, default=2, help="concurrent clients per role")

    def handle(self, *args: Any, **options: Any) -> None:
        services, items = options["services"], options["items"]
        seconds, clients = options["seconds"], options["clients"]
        if services < 1 or items < 1 or seconds <= 0 or clients < 1:
            raise CommandError("Give at least one service, item and client, and --seconds > 0.")
        bench.refuse_unless_scratch(seeded_at_most=services, make_target=MAKE_TARGET)
        out = self.stdout.write

        seeded = seed_portfolio(services=services, items=items)
        out(f"seeded {seeded.total} services")
        people, pages = _cast_and_pages(items)
        bench.settle()

        port = bench._free_port()
        base = f"http://127.0.0.1:{port}"
        server = _gunicorn(port)
        try:
            bench._wait_for(base + "/healthz")
            sessions = {role: bench._session(user) for role, user in people.items()}
            _check_every_page(base, sessions, pages)
            out(
                f"load: {clients} clients per role, {len(people) * clients} in all, "
                f"for {seconds:g} s against gunicorn on loopback"
            )
            tally, elapsed = _load(base, sessions, pages, clients, seconds)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)

        width = max(len(page.label) for page in pages)
        total = 0
        for page in pages:
            times = sorted(tally.times[page])
            total += len(times)
            out(
                f"{page.label:<{width}}  {len(times):>6} requests  "
                f"p50 {_percentile(times, 50):>7.1f} ms  p95 {_percentile(times, 95):>7.1f} ms"
            )
        out(f"requests/s: {total / elapsed:.1f} ({total} requests in {elapsed:.1f} s)")
        out(f"errors: {len(tally.errors)}")
        for error in tally.errors[:ERRORS_SHOWN]:
            out(f"  {error}")
        if tally.errors:
            raise CommandError(f"{len(tally.errors)} requests failed under load.")


def _cast_and_pages(items: int) -> tuple[dict[str, User], list[Page]]:
    """One person of each demo role, and the pages each comes to Preflight for."""
    lead = seed_lead()
    ours = seed_answered_review(
        seed_checklist(items), slug="load-test", lead=lead, answers=generated_answer
    )
    waiting = (
        Review.objects.filter(state=ReviewState.SUBMITTED, service__slug__startswith="seed-")
        .order_by("pk")
        .first()
    )
    if waiting is None:  # one seeded review in five is submitted
        raise CommandError("Seed at least three services: none is waiting on a reviewer.")
    answer = ours.answers.order_by("item__section__order", "item__order").first()
    assert answer is not None
    people = {
        "product lead": lead,
        "security reviewer": seed_reviewer(),
        "manager": seed_reader(),
        "auditor": seed_person("seed-auditor@example.com", Role.AUDITOR),
        "admin": seed_person("seed-admin@example.com", Role.ADMIN),
    }
    service = ours.service
    pages = [
        Page("product lead", "portfolio", "/portfolio/"),
        Page("product lead", "service", f"/services/{service.slug}/"),
        Page("product lead", "review", f"/reviews/{ours.pk}/"),
        Page("product lead", "item", f"/reviews/{ours.pk}/items/{answer.pk}/"),
        Page("security reviewer", "queue", "/queue/"),
        Page("security reviewer", "review", f"/reviews/{waiting.pk}/"),
        Page(
            "security reviewer",
            "changes since sign-off",
            f"/reviews/{waiting.pk}/changes-since-sign-off/",
        ),
        Page("manager", "portfolio", "/portfolio/"),
        Page("manager", "heat map", "/portfolio/heat-map/"),
        Page("manager", "trends", "/portfolio/trends/"),
        Page("auditor", "activity", "/activity/"),
        Page("auditor", "timeline", f"/activity/records/reviews.service/{service.pk}/"),
        Page("admin", "administration", "/administration/"),
        Page("admin", "django admin", "/admin/"),
        Page("admin", "checklist library", "/checklists/"),
    ]
    return people, pages


def _gunicorn(port: int) -> subprocess.Popen[bytes]:
    """gunicorn as production runs it (portal/gunicorn.py), on the database this command
    seeded (in the tests, the test database, whatever DATABASE_URL names)."""
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "warning",
        "DATABASE_URL": _database_url(),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:portal.gunicorn", "portal.wsgi"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise CommandError("The load test runs on PostgreSQL: set DATABASE_URL.")
    parts = urlsplit(url)
    name = str(connection.settings_dict["NAME"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _client(base: str, session: str) -> httpx.Client:
    return httpx.Client(
        base_url=base,
        cookies={settings.SESSION_COOKIE_NAME: session},
        follow_redirects=False,
        timeout=30,
    )


def _check_every_page(base: str, sessions: dict[str, str], pages: list[Page]) -> None:
    """Each page answers its reader 200 (and the workers have loaded their templates)."""
    for page in pages:
        with _client(base, sessions[page.role]) as client:
            response = client.get(page.path)
        if response.status_code != 200:
            where = response.headers.get("location", "")
            raise CommandError(
                f"{page.label} {page.path} answered {response.status_code} {where}".rstrip()
            )


def _load(
    base: str, sessions: dict[str, str], pages: list[Page], clients: int, seconds: float
) -> tuple[Tally, float]:
    tally = Tally(defaultdict(list), [], threading.Lock())
    by_role: dict[str, list[Page]] = defaultdict(list)
    for page in pages:
        by_role[page.role].append(page)
    started = time.perf_counter()
    deadline = started + seconds

    def drive(role: str, offset: int) -> None:
        own = by_role[role]
        n = offset  # clients of one role start on different pages
        with _client(base, sessions[role]) as client:
            while time.perf_counter() < deadline:
                page = own[n % len(own)]
                n += 1
                error = None
                began = time.perf_counter()
                try:
                    status = client.get(page.path).status_code
                    if not 200 <= status < 400:
                        error = f"answered {status}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                tally.add(page, (time.perf_counter() - began) * 1000, error)

    with ThreadPoolExecutor(max_workers=len(by_role) * clients) as pool:
        futures = [pool.submit(drive, role, n) for role in by_role for n in range(clients)]
        for future in futures:
            future.result()
    return tally, time.perf_counter() - started


def _percentile(sorted_ms: list[float], p: int) -> float:
    """The nearest-rank percentile (0 with no requests)."""
    if not sorted_ms:
        return 0.0
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]
