"""Benchmark the pages people live in (`make bench-pages`): the reviewer queue and *My
services* at 50 and at 5,000 services, the review page at Preflight's own 57 items and at
1,000, and the 57-item review page's throughput under gunicorn against /healthz.

Run on a scratch database the Makefile makes afresh. The portfolio is seeded as
``manage.py seed_portfolio`` seeds it (one review in five is submitted and waits on the
security reviewer); *My services* is the portfolio of a product lead of every seeded team,
so its first page is full at both sizes and the ratio shows what more data costs, not a
fuller page. The review pages are reviews answered through the services as a lead would:
the built-in 18F checklist with Preflight's own answers (as `make demo` has them), and a
generated checklist of 1,000 items in about 50 sections, every fourth item a must-have
and every tenth bound to an automated check. Each page is read as the person it is for
(see reviews.bench for how it is measured).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checklists.builtin import load_builtin_checklists
from checklists.models import ChecklistVersion
from portal.accounts.roles import Role
from reviews import bench
from reviews.demo_answers import PREFLIGHT_ANSWERS
from reviews.models import Review
from reviews.portfolio.seed import (
    generated_answer,
    seed_answered_review,
    seed_checklist,
    seed_lead,
    seed_person,
    seed_portfolio,
    seed_reviewer,
)

MAKE_TARGET = "make bench-pages"
QUEUE = "/queue/"
MY_SERVICES = "/portfolio/"  # where *My services* (/services/) sends a product lead
PREFLIGHT_CHECKLIST = "18f-good-production-practices.md"  # what Preflight's own review uses
SECTIONS_LARGE = 50


class Command(BaseCommand):
    help = "Benchmark the queue, My services and the review page; print each target's figure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--small", type=int, default=50, help="services, first")
        parser.add_argument("--large", type=int, default=5000, help="services, then")
        parser.add_argument("--items", type=int, default=20, help="items of each seeded review")
        parser.add_argument("--items-large", type=int, default=1000, help="the large review")
        parser.add_argument("--seconds", type=int, default=5, help="each throughput run")
        parser.add_argument("--runs", type=int, default=bench.RUNS, help="timed runs per page")
        parser.add_argument(
            "--no-throughput", action="store_true", help="skip gunicorn and wrk (no target)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        small, large, items = options["small"], options["large"], options["items"]
        items_large = options["items_large"]
        if not 0 < small < large or items < 1 or items_large < 1 or options["runs"] < 1:
            raise CommandError("Give 0 < --small < --large, at least one item and one run.")
        bench.refuse_unless_scratch(seeded_at_most=small, make_target=MAKE_TARGET)
        if not options["no_throughput"]:
            bench.require_wrk(MAKE_TARGET)
        out = self.stdout.write
        targets = bench.Targets(out)

        seed_portfolio(services=small, items=items)
        reviewer, lead = seed_reviewer(), seed_lead()
        runs = options["runs"]
        queue_s, mine_s = self._lists(reviewer, lead, small, runs)
        seeded = seed_portfolio(services=large, items=items)
        out(f"seeded {seeded.total} services ({seeded.answers} more answers)")
        bench.settle()
        queue_l, mine_l = self._lists(reviewer, lead, large, runs)

        review_lead = seed_person("seed-review-lead@example.com", Role.PRODUCT_LEAD)
        ours = seed_answered_review(
            _preflight_checklist(),
            slug="preflight",
            lead=review_lead,
            answers=lambda item: PREFLIGHT_ANSWERS.get(item.ref),
        )
        generated = seed_answered_review(
            seed_checklist(
                items_large,
                section_size=math.ceil(items_large / SECTIONS_LARGE),
                checks_every=10,
            ),
            slug=f"review-{items_large}",
            lead=review_lead,
            answers=generated_answer,
        )
        bench.settle()
        client = bench.signed_in(review_lead)
        review_s = self._review(client, ours, runs)
        review_l = self._review(client, generated, runs)

        targets.ratio(f"queue {large} / {small}", queue_s, queue_l, 1.3)
        targets.ratio(f"My services {large} / {small}", mine_s, mine_l, 1.3)
        targets.check(
            f"review page {generated.item_count} / {ours.item_count} items",
            f"{review_l.ms / review_s.ms:.2f}x, queries {review_s.queries} and {review_l.queries}",
            "at most 2x",
            review_l.ms / review_s.ms <= 2,
        )
        if options["no_throughput"]:
            out("review page throughput / /healthz: not measured (--no-throughput)")
        else:
            ratio, figures = bench.throughput(review_lead, _page(ours), options["seconds"])
            targets.check(
                f"review page ({ours.item_count} items) throughput / /healthz",
                f"{ratio:.3f}, 1/{1 / ratio:.0f} ({figures})" if ratio else "0",
                "at least 1/10",
                ratio >= 0.1,
            )
        targets.summary()

    def _lists(
        self, reviewer: Any, lead: Any, services: int, runs: int
    ) -> tuple[bench.Timing, bench.Timing]:
        queue = bench.measure(bench.signed_in(reviewer), QUEUE, runs)
        mine = bench.measure(bench.signed_in(lead), MY_SERVICES, runs)
        self.stdout.write(
            f"at {services} services: queue {queue.ms:.1f} ms, {queue.queries} queries; "
            f"My services {mine.ms:.1f} ms, {mine.queries} queries"
        )
        return queue, mine

    def _review(self, client: Any, review: Review, runs: int) -> bench.Timing:
        timing = bench.measure(client, _page(review), runs)
        self.stdout.write(
            f"review page at {review.item_count} items: {timing.ms:.1f} ms, "
            f"{timing.queries} queries"
        )
        return timing


def _page(review: Review) -> str:
    return f"/reviews/{review.pk}/"


def _preflight_checklist() -> ChecklistVersion:
    """The built-in checklist Preflight's own review answers, loaded as `make demo` loads it."""
    for load in load_builtin_checklists():
        if load.name == PREFLIGHT_CHECKLIST:
            return load.result.version
    raise CommandError(f"{PREFLIGHT_CHECKLIST} is not a built-in checklist any more.")
