"""`manage.py bench_pages` (make bench-pages), run small: every page it measures answers,
and it prints one line per target and the tally last. The real run is `make bench-pages`;
throughput is left out here (gunicorn would not see the test's transaction)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from reviews.models import Review, Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

FIGURE = r"\d+\.\d+x, queries \d+ and \d+"
OUTCOME = r"(ok|MISS)"


def run(**options: object) -> list[str]:
    out = io.StringIO()
    call_command("bench_pages", stdout=out, **options)
    return out.getvalue().splitlines()


def test_a_small_run_prints_each_pages_figures_then_one_line_per_target_and_the_tally():
    lines = run(small=2, large=4, items=3, items_large=30, runs=2, no_throughput=True)
    assert re.fullmatch(
        r"at 2 services: queue \d+\.\d ms, \d+ queries; My services \d+\.\d ms, \d+ queries",
        lines[0],
    )
    assert lines[1] == "seeded 4 services (6 more answers)"
    assert lines[2].startswith("at 4 services: queue ")
    assert re.fullmatch(r"review page at 57 items: \d+\.\d ms, \d+ queries", lines[3])
    assert re.fullmatch(r"review page at 30 items: \d+\.\d ms, \d+ queries", lines[4])
    assert re.fullmatch(
        rf"queue 4 / 2: {FIGURE} \(target at most 1\.3x, the same queries\) {OUTCOME}", lines[5]
    )
    assert re.fullmatch(
        rf"My services 4 / 2: {FIGURE} \(target at most 1\.3x, the same queries\) {OUTCOME}",
        lines[6],
    )
    assert re.fullmatch(
        rf"review page 30 / 57 items: {FIGURE} \(target at most 2x\) {OUTCOME}", lines[7]
    )
    assert lines[8] == "review page throughput / /healthz: not measured (--no-throughput)"
    met = sum(line.endswith(" ok") for line in lines)
    assert lines[-1] == f"targets met: {met} of 3"
    assert len(lines) == 10
    # What it measured is there: Preflight's own review answered, the generated one too.
    preflight = Review.objects.get(service__slug="seed-preflight")
    assert preflight.item_count == 57 and preflight.not_started_count < 57
    generated = Review.objects.get(service__slug="seed-review-30")
    assert generated.checklist_version.sections.count() == 30
    assert generated.checklist_version.items.exclude(checks=[]).count() == 3


def test_it_refuses_a_database_with_anything_but_seeded_services():
    ServiceFactory(slug="benefits-portal")
    with pytest.raises(CommandError, match="fresh scratch database"):
        run(small=2, large=4, no_throughput=True)
    assert Service.objects.count() == 1


def test_it_refuses_sizes_that_measure_nothing():
    with pytest.raises(CommandError, match="--small < --large"):
        run(small=4, large=4, no_throughput=True)
