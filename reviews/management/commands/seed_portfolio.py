"""Seed a portfolio for benchmarks and scale tests (see reviews.portfolio.seed)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviews.portfolio.seed import seed_portfolio


class Command(BaseCommand):
    help = "Make sure N seeded services exist, each with a review of M items and D days of history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--services", type=int, default=50)
        parser.add_argument("--items", type=int, default=20)
        parser.add_argument("--days", type=int, default=90, help="days of readiness history")
        parser.add_argument("--teams", type=int, default=10)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Seeded data is never made when PREFLIGHT_ENV=production.")
        for name in ("services", "items", "teams"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        if options["days"] < 0:
            raise CommandError("--days must be 0 or more.")
        started = time.monotonic()
        seeded = seed_portfolio(
            services=options["services"],
            items=options["items"],
            days=options["days"],
            teams=options["teams"],
        )
        self.stdout.write(
            f"seeded {seeded.services} services ({seeded.total} in all), {seeded.answers} "
            f"answers, {seeded.snapshots} snapshots in {time.monotonic() - started:.1f} s"
        )
