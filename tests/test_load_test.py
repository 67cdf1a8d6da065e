"""`manage.py load_test` (make load-test), run small and for two seconds: it serves every
role's pages from a real gunicorn on loopback and prints one line per page (requests, p50,
p95), the requests a second and the errors. The real run (5,000 services, 30 s) is
`make load-test`. The data is committed (a transactional test) so gunicorn sees it."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from reviews.models import Service
from tests.factories import ServiceFactory

PAGES = [
    "product lead portfolio",
    "product lead service",
    "product lead review",
    "product lead item",
    "security reviewer queue",
    "security reviewer review",
    "security reviewer changes since sign-off",
    "manager portfolio",
    "manager heat map",
    "manager trends",
    "auditor activity",
    "auditor timeline",
    "admin administration",
    "admin django admin",
    "admin checklist library",
]


def run(**options: object) -> list[str]:
    out = io.StringIO()
    call_command("load_test", stdout=out, **options)
    return out.getvalue().splitlines()


@pytest.mark.django_db(transaction=True)
def test_a_short_run_prints_p50_and_p95_per_page_requests_a_second_and_no_errors():
    lines = run(services=3, items=3, seconds=2, clients=1)

    assert lines[0] == "seeded 3 services"
    assert lines[1] == "load: 1 clients per role, 5 in all, for 2 s against gunicorn on loopback"
    counted = 0
    for line, page in zip(lines[2:-2], PAGES, strict=True):
        found = re.fullmatch(rf"{page} +(\d+) requests  p50 +\d+\.\d ms  p95 +\d+\.\d ms", line)
        assert found, line
        assert int(found.group(1)) >= 1  # each role went round its pages at least once
        counted += int(found.group(1))
    rate = re.fullmatch(r"requests/s: (\d+\.\d) \((\d+) requests in (\d+\.\d) s\)", lines[-2])
    assert rate, lines[-2]
    assert int(rate.group(2)) == counted and float(rate.group(1)) > 0
    assert lines[-1] == "errors: 0"


@pytest.mark.django_db
def test_it_refuses_a_database_with_anything_but_seeded_services():
    ServiceFactory(slug="benefits-portal")
    with pytest.raises(CommandError, match="fresh scratch database"):
        run(services=3, seconds=1)
    assert Service.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_sizes_that_load_nothing():
    with pytest.raises(CommandError, match="at least one service"):
        run(services=3, seconds=0)
    assert not Service.objects.exists()
