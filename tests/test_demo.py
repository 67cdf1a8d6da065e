"""`make demo`: the README's first command serves the portal with a sign-in per role."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from portal.accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from portal.accounts.models import Team, User
from portal.audit.models import AuditEvent
from portal.logs import RequestContextFilter, TextFormatter
from tests.processes import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
README = BASE_DIR / "README.md"


@pytest.fixture
def demo_port(settings) -> int:
    """A free port for the setup's own server, and the egress `make demo` opens: its checks
    reach loopback and read this clone over file://."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.CHECK_GIT_PROTOCOLS = ["https", "file"]
    return free_port()


def demo_setup(port: int) -> str:
    """`make demo`'s set-up on ``port``; its output. The setup serves the portal to itself
    from another thread, which sees only committed rows: tests that run it are
    transactional."""
    out = io.StringIO()
    call_command("load_builtin_checklists", stdout=io.StringIO())
    call_command("demo_setup", port=port, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_setup_can_run_twice_and_every_sign_in_works(capsys):
    call_command("demo_setup")
    call_command("demo_setup")
    out = capsys.readouterr().out
    assert f"password is: {DEMO_PASSWORD}" in out
    assert User.objects.count() == len(DEMO_PEOPLE)
    assert Team.objects.count() == 2
    # The second run changed no roles, so it recorded no role events.
    role_events = AuditEvent.objects.filter(kind__in=["role_granted", "role_revoked"]).count()
    assert role_events == len(DEMO_PEOPLE)
    for person in DEMO_PEOPLE:
        assert person.email in out
        client = Client()
        response = client.post(
            "/accounts/login/", {"login": person.email, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302, person.email
        landing = client.get("/")
        assert landing.status_code == 302, person.email


@pytest.mark.django_db(transaction=True)
def test_demo_setup_creates_services_with_reviews_in_every_state(demo_port):
    from reviews.models import Review, ReviewState, SignOff, Waiver

    demo_setup(demo_port)
    demo_setup(demo_port)  # a second run adds nothing
    states = sorted(Review.objects.values_list("state", flat=True))
    assert states == sorted(
        [
            ReviewState.DRAFT,
            ReviewState.DRAFT,
            ReviewState.SUBMITTED,
            ReviewState.CHANGES_REQUESTED,
            ReviewState.APPROVED,
        ]
    )
    preflight = Review.objects.get(service__slug="preflight")
    assert preflight.checklist_version.checklist.slug == "18f-good-production-practices"
    assert preflight.met_count > 0
    assert Waiver.objects.filter(state="approved").exists()
    assert SignOff.objects.count() == 2
    approved = Review.objects.get(state=ReviewState.APPROVED)
    assert approved.open_must_haves == 0


@pytest.mark.django_db
def test_demo_setup_refuses_to_run_in_production(settings):
    from django.core.management.base import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="never created"):
        call_command("demo_setup")
    assert not User.objects.exists()


def test_make_demo_serves_the_sign_in_page(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "TEST_DATABASE_NAME"}
    }
    env["PREFLIGHT_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        ["make", "demo", f"PORT={port}"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        body = ""
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            # The set-up serves the portal to itself while it sweeps: wait for it to end
            # (it prints the sign-ins last) before asking runserver for the page.
            if not any("sign in at" in line for line in lines):
                time.sleep(0.5)
                continue
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/", timeout=2
                ) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert "Sign in to Preflight" in body
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
        assert missing.value.code == 404
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=30)
    output = "".join(lines)
    assert f"sign in at http://127.0.0.1:{port}/" in output
    for person in DEMO_PEOPLE:
        assert person.email in output
    assert (tmp_path / "preflight.sqlite3").exists()
    # It checked itself before serving, and its console reads as plain text, not JSON.
    assert "Checked the demo services:" in output
    assert "Preflight's pipeline pushed ci.load_test" in output
    assert re.search(r"^\S+Z INFO preflight\.request GET /accounts/login/ 200 ", output, re.M)
    assert "GET /no-such-page/ 404" in output
    assert '"logger"' not in output
    assert 'HTTP/1.1" 404' not in output  # runserver's own line would be a second one


# --- the demo proves itself: one sweep and one push before it serves -------------------------


def preflight_standings() -> dict[str, str]:
    from reviews.models import CheckStanding

    return {
        standing.binding: standing.standing_result
        for standing in CheckStanding.objects.filter(service__slug="preflight")
    }


@pytest.mark.django_db(transaction=True)
def test_the_first_sign_in_finds_preflight_checked_against_the_running_demo(demo_port):
    from reviews.checks.selectors import contradicted, item_checks, standings
    from reviews.models import CheckRun, CheckRunTrigger, Review

    out = demo_setup(demo_port)

    run = CheckRun.objects.get(trigger=CheckRunTrigger.SCHEDULE)
    assert run.finished_at is not None
    assert f"Checked the demo services: {run.passed} passed, {run.failed} failed" in out
    found = preflight_standings()
    assert found["http.health"] == "pass"  # its own /readyz, served while the sweep ran
    assert found["repo.lock_file"] == "pass"  # this clone, over file://
    assert found["http.https_redirect"] == "fail"  # the demo is plain HTTP
    assert found["http.status_page"] == "not_applicable"  # Preflight has no status page
    assert "error" not in found.values()
    # Answered "met" (production redirects) while the demo's check fails: the page warns.
    review = Review.objects.select_related("service").get(service__slug="preflight")
    results = standings(review.service)
    contradictions = [
        answer.item.ref
        for answer in review.answers.select_related("item")
        if contradicted(answer, item_checks(answer.item.checks, results))
    ]
    assert contradictions == ["redirect-http-to-https"]


@pytest.mark.django_db(transaction=True)
def test_preflights_pipeline_pushes_a_result_through_the_api_with_a_real_token(demo_port):
    from reviews.models import CheckResult, CheckRunTrigger, ServiceToken

    out = demo_setup(demo_port)

    pushed = CheckResult.objects.select_related("run", "service").get(check_key="ci.load_test")
    token = ServiceToken.objects.get(revoked_at__isnull=True)
    assert pushed.service == token.service
    assert token.service.slug == "preflight"
    assert token.last_used_at is not None  # it came through the API, not the service
    assert pushed.run.trigger == CheckRunTrigger.PUSH
    assert pushed.result == "pass"
    assert pushed.observed["failures"] == 0
    assert preflight_standings()["ci.load_test"] == "pass"  # shown on the service page
    assert "Preflight's pipeline pushed ci.load_test: pass." in out


@pytest.mark.django_db(transaction=True)
def test_running_the_demo_again_on_another_port_moves_preflight_and_duplicates_nothing(
    demo_port,
):
    from reviews.models import Review, Service, ServiceToken

    demo_setup(demo_port)
    other_port = free_port()
    demo_setup(other_port)

    service = Service.objects.get(slug="preflight")
    assert service.health_check_url == f"http://127.0.0.1:{other_port}/readyz"
    assert service.public_url == f"http://127.0.0.1:{other_port}/"
    assert service.repository_url == BASE_DIR.as_uri()
    assert Service.objects.count() == 5
    assert Review.objects.count() == 5
    # One live token; the first run's was revoked.
    assert ServiceToken.objects.filter(revoked_at__isnull=True).count() == 1
    assert ServiceToken.objects.count() == 2
    assert preflight_standings()["http.health"] == "pass"  # checked on the new port


@pytest.mark.django_db(transaction=True)
def test_preflights_own_review_answers_every_item_with_evidence_or_a_reason(demo_port):
    from checklists.models import Item
    from reviews.demo_answers import PREFLIGHT_ANSWERS
    from reviews.models import AnswerStatus, Review

    demo_setup(demo_port)

    review = Review.objects.get(service__slug="preflight")
    refs = set(Item.objects.filter(version=review.checklist_version).values_list("ref", flat=True))
    assert set(PREFLIGHT_ANSWERS) == refs  # every item, and no ref the checklist lacks
    for answer in review.answers.select_related("item").prefetch_related("evidence"):
        assert answer.status != AnswerStatus.NOT_STARTED, answer.item.ref
        if answer.status == AnswerStatus.MET:
            assert answer.evidence.exists(), answer.item.ref
        else:
            assert answer.justification, answer.item.ref
    met = sum(given.status == AnswerStatus.MET for given in PREFLIGHT_ANSWERS.values())
    applicable = sum(
        given.status != AnswerStatus.NOT_APPLICABLE for given in PREFLIGHT_ANSWERS.values()
    )
    assert review.readiness_percent == met * 100 // applicable
    # The README's Quick start quotes the figures: they must stay true.
    quoted = re.search(r"(\d+)% ready\s+with\s+(\d+)\s+open\s+must-haves", README.read_text())
    assert quoted, "the README no longer quotes Preflight's readiness"
    assert (int(quoted[1]), int(quoted[2])) == (review.readiness_percent, review.open_must_haves)


# --- the demo's console: plain-text log lines ---------------------------------------------------


@pytest.mark.django_db
def test_text_logs_write_one_readable_line_per_request_with_its_request_id(lead):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("preflight.request")
    logger.addHandler(handler)
    client = Client()
    client.force_login(lead)
    try:
        client.get("/portfolio/", HTTP_X_REQUEST_ID="demo-request-0001")
        client.get("/no%0Asuch-page/", HTTP_X_REQUEST_ID="demo-request-0002")
    finally:
        logger.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO preflight\.request GET /portfolio/ 200 "
        rf"[\d.]+ms request=demo-request-0001 user={lead.pk}",
        first,
    ), first
    # A line break in the path is escaped: one request is one line, whatever it asks for.
    assert "GET /no\\x0asuch-page/ 404" in second and "request=demo-request-0002" in second


def test_the_log_format_is_json_unless_set_and_a_bad_one_stops_start_up(tmp_path):
    def settings_with(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c",
             "from django.conf import settings; "
             "print(settings.LOGGING['handlers']['stdout']['formatter'])"],
            cwd=BASE_DIR,
            env={"PATH": os.environ["PATH"], "PREFLIGHT_DATA_DIR": str(tmp_path), **env},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert settings_with().stdout.strip() == "json"
    assert settings_with(LOG_FORMAT="text").stdout.strip() == "text"
    refused = settings_with(LOG_FORMAT="xml")
    assert refused.returncode != 0
    assert "LOG_FORMAT='xml' must be one of json, text" in refused.stderr
