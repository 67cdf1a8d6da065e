"""`make demo`: the README's first command serves the portal with a sign-in per role."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from portal.accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from portal.accounts.models import Team, User
from portal.audit.models import AuditEvent
from tests.processes import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


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


@pytest.mark.django_db
def test_demo_setup_creates_services_with_reviews_in_every_state(capsys):
    from reviews.models import Review, ReviewState, SignOff, Waiver

    call_command("load_builtin_checklists")
    call_command("demo_setup")
    call_command("demo_setup")  # a second run adds nothing
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
    try:
        deadline = time.monotonic() + 120
        body = ""
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/", timeout=2
                ) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert "Sign in to Preflight" in body
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert f"sign in at http://127.0.0.1:{port}/" in output
    for person in DEMO_PEOPLE:
        assert person.email in output
    assert (tmp_path / "preflight.sqlite3").exists()
