"""Benchmark the shared record (`make bench-history`): at 2,000 and at 2,000,000 lines, the
server time and queries of the activity feed's first page, a page deep in the record
(followed by its cursor), a filtered page (one person's lines) and a busy service's
timeline.

Run on a scratch database the Makefile makes afresh: it seeds 2,000 lines, measures, seeds
up to 2,000,000, measures again. Server time is measured in-process (Django's test client,
the full middleware stack), warm, as the median of several runs. Each page's query on the
record is EXPLAINed at the large size, to show it is an index range scan.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal.audit.feed import Cursor
from portal.audit.models import Entry
from portal.audit.seed import BUSY_SERVICE, SOURCE, People, seed_lines, seed_people, seeded

RUNS = 21
WARM_UP = 5


@dataclass(frozen=True)
class Timing:
    ms: float  # the median
    queries: int
    record_sql: str  # the query that reads the record's lines


class Command(BaseCommand):
    help = "Benchmark the record at 2,000 and 2,000,000 lines; print each target's figure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--small", type=int, default=2_000)
        parser.add_argument("--large", type=int, default=2_000_000)
        parser.add_argument("--depth", type=int, default=100_000, help="the deep page's depth")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Benchmarks seed data: never with PREFLIGHT_ENV=production.")
        small, large, depth = options["small"], options["large"], options["depth"]
        if seeded() > small or Entry.objects.exclude(source_table=SOURCE).count() > 500:
            raise CommandError("Use a fresh scratch database (make bench-history makes one).")
        out = self.stdout.write
        targets: list[bool] = []

        people = seed_people()
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(people.reader)

        started = time.perf_counter()
        seed_lines(small, people)
        out(f"seeded {small:,} lines in {time.perf_counter() - started:.1f} s")
        # At 2,000 lines no page is 100,000 deep: the deep page there is half way down.
        at_small = self._measure_all(client, people, min(depth, small // 2))

        started = time.perf_counter()
        seed_lines(large, people)
        out(f"seeded {large:,} lines in {time.perf_counter() - started:.1f} s")
        _settle()
        at_large = self._measure_all(client, people, depth)

        for name, timing in at_large.items():
            out(f"plan of the {name}: {_plan(timing.record_sql)}")
        for name, s in at_small.items():
            big = at_large[name]
            ratio = big.ms / s.ms
            met = ratio <= 1.3 and s.queries == big.queries
            targets.append(met)
            out(
                f"{name} {large:,} / {small:,} lines: {ratio:.2f}x "
                f"({s.ms:.1f} ms and {big.ms:.1f} ms; queries {s.queries} and {big.queries}) "
                f"(target at most 1.3x, the same queries) {'ok' if met else 'MISS'}"
            )
        out(f"targets met: {sum(targets)} of {len(targets)}")

    def _measure_all(self, client: Client, people: People, depth: int) -> dict[str, Timing]:
        total = Entry.objects.count()
        cursor = _cursor_at(depth)
        pages = {
            "first page": ("/activity/", {}),
            f"page {depth:,} lines deep": ("/activity/", {"before": str(cursor)}),
            "one person's page": ("/activity/", {"person": people.actors[1].email}),
            "busy service's timeline": (f"/activity/records/reviews.service/{BUSY_SERVICE}/", {}),
        }
        found = {}
        for name, (path, params) in pages.items():
            found[name.replace(f"{depth:,}", "N")] = timing = self._measure(client, path, params)
            self.stdout.write(
                f"at {total:,} lines: {name} {timing.ms:.1f} ms, {timing.queries} queries"
            )
        return found

    def _measure(self, client: Client, path: str, params: dict[str, str]) -> Timing:
        """The median server time of ``path``, warm."""
        for _ in range(WARM_UP):
            client.get(path, params)
        times, queries, record_sql = [], 0, ""
        for _ in range(RUNS):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path, params)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{path} answered {response.status_code}")
            queries = len(captured.captured_queries)
            record_sql = next(
                (q["sql"] for q in captured.captured_queries if "LIMIT 51" in q["sql"]), ""
            )
        return Timing(statistics.median(times), queries, record_sql)


def _cursor_at(depth: int) -> Cursor:
    """The cursor of the line ``depth`` lines down: the page after it starts there (found
    with OFFSET here, once, as a reader following Older links would have reached it)."""
    at, pk = Entry.objects.order_by("-at", "-id").values_list("at", "id")[depth - 1]
    return Cursor(at, pk)


def _plan(sql: str) -> str:
    """The plan's nodes, one after another ("Limit > Index Scan using entry_by_time")."""
    if not sql:
        return "(no query on the record)"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        rows = [row[0] for row in cursor.fetchall()]
    nodes = [row.strip().lstrip("->").strip().split("  (")[0] for row in rows if "cost=" in row]
    return " > ".join(nodes)


def _settle() -> None:
    """Let PostgreSQL write out the bulk load now rather than during the measurements."""
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    time.sleep(2)
