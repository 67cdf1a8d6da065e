"""Benchmark the portfolio (`make bench-dashboard`): at 50 and at 5,000 services, the first
page's server time and queries, the heat map's, the CSV export's, and the page's
throughput under gunicorn against /healthz on the same server.

Run on a scratch database the Makefile makes afresh: it seeds 50 services, measures,
seeds up to 5,000, measures again. Server time is measured in-process, uncached unless
said otherwise; throughput against a real gunicorn, the page served from its cache as it
is for any reader who looks twice (see reviews.bench).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.test import Client

from reviews import bench
from reviews.portfolio.seed import seed_portfolio, seed_reader

MAKE_TARGET = "make bench-dashboard"


class Command(BaseCommand):
    help = "Benchmark the portfolio at 50 and at 5,000 services; print each target's figure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--small", type=int, default=50)
        parser.add_argument("--large", type=int, default=5000)
        parser.add_argument("--items", type=int, default=20)
        parser.add_argument("--seconds", type=int, default=5, help="each throughput run")

    def handle(self, *args: Any, **options: Any) -> None:
        small, large, items = options["small"], options["large"], options["items"]
        bench.refuse_unless_scratch(seeded_at_most=small, make_target=MAKE_TARGET)
        bench.require_wrk(MAKE_TARGET)
        out = self.stdout.write
        targets = bench.Targets(out)

        seed_portfolio(services=small, items=items)
        reader = seed_reader()
        page_s, heat_s = self._both(bench.signed_in(reader), small)

        seeded = seed_portfolio(services=large, items=items)
        out(f"seeded {seeded.total} services ({seeded.answers} more answers)")
        bench.settle()
        client = bench.signed_in(reader)
        page_l, heat_l = self._both(client, large)

        targets.ratio(f"first page {large} / {small}", page_s, page_l, 1.3)
        targets.ratio(f"heat map {large} / {small}", heat_s, heat_l, 1.3)

        csv_ms, rows = self._csv(client)
        targets.check(f"CSV of {rows} rows", f"{csv_ms:.0f} ms", "under 1000 ms", csv_ms < 1000)

        ratio, figures = bench.throughput(reader, "/portfolio/", options["seconds"])
        targets.check(
            "page throughput / /healthz", f"{ratio:.2f} ({figures})", "at least 0.5", ratio >= 0.5
        )
        targets.summary()

    def _both(self, client: Client, services: int) -> tuple[bench.Timing, bench.Timing]:
        page = bench.measure(client, "/portfolio/")
        heat = bench.measure(client, "/portfolio/heat-map/")
        self.stdout.write(
            f"at {services} services: page {page.ms:.1f} ms, {page.queries} queries; "
            f"heat map {heat.ms:.1f} ms, {heat.queries} queries"
        )
        return page, heat

    def _csv(self, client: Client) -> tuple[float, int]:
        started = time.perf_counter()
        response = client.get("/portfolio/export.csv")
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, body.count(b"\n") - 1
