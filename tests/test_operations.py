"""Operating Preflight as a newcomer would: the README's commands exist, the dependency
audit answers, and the first admin gets in through `manage.py invite_admin`."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.audit.models import AuditEvent, AuditKind, Entry
from tests.http_servers import LocalServer, closed_port

BASE_DIR = Path(__file__).resolve().parent.parent
README = BASE_DIR / "README.md"
AUDIT_SCRIPT = BASE_DIR / "scripts" / "audit_dependencies.py"
SKIP_LINE = "pip-audit skipped: vulnerability data unreachable ("
NEW_PASSWORD = "a long and new passphrase 7"


def _documents() -> dict[str, str]:
    """The README and every page under docs/, which the README links to."""
    pages = [README, *sorted((BASE_DIR / "docs").glob("**/*.md"))]
    return {str(page.relative_to(BASE_DIR)): page.read_text(encoding="utf-8") for page in pages}


# --- the README names what exists ------------------------------------------------------


def test_the_quick_start_names_exactly_make_demo_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "the README has no Quick start section"
    blocks = re.findall(r"^```sh\n(.*?)^```", section.group(1), re.S | re.M)
    commands = [
        line.split("#")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.split("#")[0].strip()
    ]
    assert commands == ["make demo", "make test"]


def test_every_manage_py_command_the_docs_name_exists() -> None:
    known = set(get_commands())
    named = {
        (page, command)
        for page, text in _documents().items()
        for command in re.findall(r"manage\.py\s+([a-z][a-z0-9_]*)", text)
    }
    assert {command for _, command in named} >= {"invite_admin", "createsuperuser"}
    missing = sorted((page, command) for page, command in named if command not in known)
    assert not missing, f"the docs name commands that do not exist: {missing}"


def test_every_make_target_the_docs_name_exists() -> None:
    makefile = (BASE_DIR / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    named = {
        (page, target)
        for page, text in _documents().items()
        for target in re.findall(r"`(?:[A-Z_]+=\S+ )*make ([a-z][a-z0-9-]*)", text)
    }
    missing = sorted((page, target) for page, target in named if target not in targets)
    assert not missing, f"the docs name make targets that do not exist: {missing}"


def test_the_operations_page_quotes_the_procfiles_three_commands() -> None:
    procfile = (BASE_DIR / "Procfile").read_text(encoding="utf-8")
    commands = dict(re.findall(r"^([a-z]+): (.+)$", procfile, re.M))
    assert set(commands) == {"web", "worker", "beat"}
    operations = (BASE_DIR / "docs" / "operations.md").read_text(encoding="utf-8")
    for name, command in commands.items():
        assert f"{name}: {command}\n" in operations, f"docs/operations.md lacks: {name}: {command}"


# --- installs: the demo gets only what runs the portal ---------------------------------


def test_the_demo_installs_only_the_runtime_and_the_tests_install_the_rest() -> None:
    makefile = (BASE_DIR / "Makefile").read_text(encoding="utf-8")
    prerequisites = dict(re.findall(r"^([a-z][a-z0-9-]*):(?! *export)(.*)$", makefile, re.M))
    assert prerequisites["demo"].split() == ["install-runtime"]
    assert "uv sync --frozen --no-dev --inexact" in makefile.replace("$(UV)", "uv")
    assert "npm ci --omit=dev" in makefile
    # `uv run` would sync the development group back in.
    assert re.search(r"^RUN := \$\(UV\) run --frozen --no-sync$", makefile, re.M)
    for target in ("lint", "typecheck", "check-migrations", "pytest", "stack"):
        assert "install" in prerequisites[target].split(), target
    assert "audit" in prerequisites["test"].split()

    pyproject = (BASE_DIR / "pyproject.toml").read_text(encoding="utf-8")
    runtime = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    dev = re.search(r"^dev = \[(.*?)^\]", pyproject, re.S | re.M)
    assert runtime and dev
    for tool in ("honcho", "pip-audit", "moto", "playwright", "mypy", "pytest"):
        assert f'"{tool}' not in runtime.group(1), tool
        assert f'"{tool}' in dev.group(1), tool
    package = json.loads((BASE_DIR / "package.json").read_text(encoding="utf-8"))
    assert "axe-core" in package["devDependencies"]


def test_beat_is_started_without_a_schedule_file_the_database_scheduler_ignores() -> None:
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    procfile = (BASE_DIR / "Procfile").read_text(encoding="utf-8")
    beat = re.search(r"^beat: (.*)$", procfile, re.M)
    assert beat and "--schedule" not in beat.group(1) and " -s " not in beat.group(1)


# --- the dependency audit ----------------------------------------------------------------


def _audit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(AUDIT_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        cwd=BASE_DIR,
    )


def _audit_osv(
    tmp_path: Path, pin: str, osv_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Audit the one locked package ``pin`` against the OSV service at ``osv_url``."""
    requirements = str(_requirements(tmp_path, pin))
    return _audit("--requirements", requirements, "--service", "osv", "--osv-url", osv_url, *args)


def _requirements(tmp_path: Path, line: str) -> Path:
    # Exact pins with hashes, as `uv export` writes them; nothing is downloaded.
    path = tmp_path / "requirements.txt"
    path.write_text(f"{line} --hash=sha256:{'0' * 64}\n", encoding="utf-8")
    return path


def test_make_audit_prints_a_result_or_says_why_it_skipped() -> None:
    make = subprocess.run(
        ["make", "--no-print-directory", "audit", "AUDIT_TIMEOUT=100"],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=BASE_DIR,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    lines = make.stdout.splitlines()
    result = [line for line in lines if line.startswith(("pip-audit: no known", SKIP_LINE))]
    findings = [line for line in lines if line.startswith("pip-audit found")]
    assert result or findings, make.stdout + make.stderr
    # A finding fails the target (and so `make test`); a result or a skip passes it.
    assert (make.returncode != 0) == bool(findings), make.stdout + make.stderr


def test_a_known_vulnerability_fails_the_audit_and_is_named(tmp_path) -> None:
    vulnerable = {
        "vulns": [
            {
                "id": "GHSA-test-0001",
                "aliases": ["CVE-2099-0001"],
                "summary": "SQL injection in a test",
                "affected": [
                    {
                        "package": {"name": "django", "ecosystem": "PyPI"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": "3.2.1"}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    with LocalServer.running() as osv:
        url = osv.route(
            "/v1/query", headers={"Content-Type": "application/json"}, body=json.dumps(vulnerable)
        )
        done = _audit_osv(tmp_path, "django==3.2.0", url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pip-audit found 1 known vulnerabilities" in done.stdout
    # pip-audit names the CVE first when there is one.
    assert "django 3.2.0: CVE-2099-0001 (GHSA-test-0001); fixed in 3.2.1" in done.stdout
    # pip-audit asked about the pinned package, by name and version.
    asked = json.loads(osv.received[0].body)
    assert asked == {"package": {"name": "django", "ecosystem": "PyPI"}, "version": "3.2.0"}


def test_a_package_without_known_vulnerabilities_passes(tmp_path) -> None:
    with LocalServer.running() as osv:
        url = osv.route("/v1/query", headers={"Content-Type": "application/json"}, body="{}")
        done = _audit_osv(tmp_path, "django==5.2.19", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pip-audit: no known vulnerabilities in 1 locked packages (osv)" in done.stdout


def test_an_unreachable_vulnerability_service_skips_the_audit_with_the_reason(tmp_path) -> None:
    with closed_port() as port:
        done = _audit_osv(tmp_path, "django==5.2.19", f"http://127.0.0.1:{port}/v1/query")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(SKIP_LINE), done.stdout
    assert "ConnectionError" in done.stdout


def test_a_service_that_does_not_answer_in_time_skips_the_audit(tmp_path) -> None:
    with LocalServer.running() as osv:
        url = osv.route("/v1/query", body="{}", delay=30)
        done = _audit_osv(tmp_path, "django==5.2.19", url, "--timeout", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(SKIP_LINE), done.stdout


def test_a_service_error_fails_the_audit_rather_than_passing_it(tmp_path) -> None:
    with LocalServer.running() as osv:
        url = osv.route("/v1/query", status=500, body="down for maintenance")
        done = _audit_osv(tmp_path, "django==5.2.19", url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip-audit failed" in done.stderr


# --- the first admin ---------------------------------------------------------------------


def _invite(email: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("invite_admin", email, stdout=out)
    text = out.getvalue()
    link = re.search(r"^  (\S+)$", text, re.M)
    assert link, text
    return text, link.group(1)


def _set_password_through(link: str, settings) -> Client:
    """Open the link as the new admin would and set a password on the page it leads to."""
    assert link.startswith(f"{settings.SITE_URL}/accounts/password/reset/key/")
    client = Client()
    # allauth keeps the key in the session and moves the form to a "set-password" address.
    opened = client.get(link.removeprefix(settings.SITE_URL))
    assert opened.status_code == 302, opened.content
    form = client.get(opened["Location"])
    assert form.status_code == 200 and b"password1" in form.content
    done = client.post(opened["Location"], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302, done.content
    return client


@pytest.mark.django_db
def test_invite_admin_creates_an_admin_whose_link_sets_a_password_once(settings) -> None:
    settings.SITE_URL = "https://preflight.example.gov"
    text, link = _invite("Ada@Example.gov")
    assert "ada@example.gov is an admin (a new account)" in text
    assert "within 3 days" in text
    ada = User.objects.get(email="ada@example.gov")
    assert ada.is_staff and ada.is_superuser and ada.is_active
    assert ada.roles == {Role.ADMIN}
    assert not ada.has_usable_password()

    _set_password_through(link, settings)
    # The new password signs in, and the administration opens.
    client = Client()
    signed_in = client.post(
        "/accounts/login/", {"login": "ada@example.gov", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200

    # The same link again: refused, and the password stays.
    again = Client().get(link.removeprefix(settings.SITE_URL), follow=True)
    assert b"password1" not in again.content
    ada.refresh_from_db()
    assert ada.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_the_record_shows_the_invited_admin_and_the_password_they_set(settings) -> None:
    _, link = _invite("ada@example.gov")
    ada = User.objects.get(email="ada@example.gov")
    created = ada.history.get(history_type="+")
    assert created.history_change_reason == "Admin invited from the command line (invite_admin)"
    assert Entry.objects.filter(source_table=created._meta.db_table, source_id=created.pk).exists()
    granted = AuditEvent.objects.get(kind=AuditKind.ROLE_GRANTED, subject_user=ada)
    assert granted.details["role"] == Role.ADMIN.value

    _set_password_through(link, settings)
    assert AuditEvent.objects.filter(kind=AuditKind.PASSWORD_SET, subject_user=ada).exists()


@pytest.mark.django_db
def test_invite_admin_makes_an_existing_person_admin_and_keeps_their_roles(lead, settings) -> None:
    before = User.objects.count()
    text, link = _invite("LEAD@example.com")
    assert "lead@example.com is an admin (an existing account)" in text
    assert User.objects.count() == before
    lead = User.objects.get(pk=lead.pk)
    assert lead.roles == {Role.PRODUCT_LEAD, Role.ADMIN}
    assert lead.is_superuser
    assert lead.history.latest().history_change_reason == (
        "Admin invited from the command line (invite_admin)"
    )
    _set_password_through(link, settings)
    lead.refresh_from_db()
    assert lead.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_invite_admin_reactivates_a_deactivated_account(lead) -> None:
    lead.is_active = False
    lead.save()
    _invite("lead@example.com")
    lead.refresh_from_db()
    assert lead.is_active and lead.is_staff


@pytest.mark.django_db
def test_invite_admin_refuses_an_address_that_is_not_one_and_writes_nothing() -> None:
    with pytest.raises(CommandError, match="is not an email address"):
        call_command("invite_admin", "ada at example", stdout=io.StringIO())
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_the_link_lapses_after_the_password_reset_timeout(settings) -> None:
    settings.PASSWORD_RESET_TIMEOUT = 3600
    text, link = _invite("ada@example.gov")
    assert "within 1 hour" in text
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        page = Client().get(link.removeprefix(settings.SITE_URL), follow=True)
    assert b"password1" not in page.content
    assert not User.objects.get(email="ada@example.gov").has_usable_password()


@pytest.mark.django_db
def test_createsuperuser_is_in_the_record_too() -> None:
    call_command(
        "createsuperuser", "--noinput", "--email", "root@example.gov", stdout=io.StringIO()
    )
    root = User.objects.get(email="root@example.gov")
    created = root.history.get(history_type="+")
    assert Entry.objects.filter(source_table=created._meta.db_table, source_id=created.pk).exists()
    assert AuditEvent.objects.filter(kind=AuditKind.ROLE_GRANTED, subject_user=root).exists()
