"""Settings come from the environment, fail loudly on bad values, and are safe in production."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env

BASE_DIR = Path(__file__).resolve().parent.parent


def manage(*args: str, tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process with only the given settings environment."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PREFLIGHT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "PREFLIGHT_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "preflight.example.gov",
    "SITE_URL": "https://preflight.example.gov",
}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    settings = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", tmp_path=tmp_path, **settings)
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_production_refuses_a_weak_secret_key(tmp_path):
    result = manage("check", tmp_path=tmp_path, **{**PRODUCTION, "SECRET_KEY": "changeme"})
    assert result.returncode != 0
    assert "SECRET_KEY is too short" in result.stderr


def test_production_reads_the_secret_key_from_a_file(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(secrets.token_urlsafe(64) + "\n")
    settings = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", tmp_path=tmp_path, SECRET_KEY_FILE=str(key_file), **settings)
    assert result.returncode == 0, result.stderr


def test_production_refuses_debug(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="true", **PRODUCTION)
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_refuses_single_sign_on_without_tls(tmp_path):
    result = manage(
        "check",
        tmp_path=tmp_path,
        OIDC_SERVER_URL="http://idp.example.gov",
        OIDC_CLIENT_ID="preflight",
        **PRODUCTION,
    )
    assert result.returncode != 0
    assert "OIDC_SERVER_URL must be an https:// URL" in result.stderr


def test_production_needs_allowed_hosts(tmp_path):
    settings = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = manage("check", tmp_path=tmp_path, **settings)
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_a_bad_value_stops_start_up_with_its_name(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_zero_configuration_is_the_embedded_mode(tmp_path):
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG, "
        "s.SESSION_COOKIE_SECURE)",
        tmp_path=tmp_path,
        DATABASE_URL="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True", "False", "False"]
    # The development secret key is generated beside the data, never committed.
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_the_embedded_database_takes_concurrent_saves(tmp_path):
    """WAL, a busy timeout and immediate transactions: concurrent requests wait for the
    write lock instead of failing with "database is locked"."""
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.db import connection as c; c.ensure_connection(); "
        "cursor = c.cursor(); cursor.execute('PRAGMA journal_mode'); "
        "print(cursor.fetchone()[0], c.settings_dict['OPTIONS']['transaction_mode'], "
        "c.settings_dict['OPTIONS']['timeout'])",
        tmp_path=tmp_path,
        DATABASE_URL="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "IMMEDIATE", "20"]


def test_production_cookies_are_secure_and_hsts_is_on(tmp_path):
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_SSL_REDIRECT)",
        tmp_path=tmp_path,
        **PRODUCTION,
    )
    assert result.stdout.split() == ["True", "True", "31536000", "True"], result.stderr


def test_the_proxy_ssl_header_is_configurable(tmp_path):
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)",
        tmp_path=tmp_path,
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto=https",
    )
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')", result.stderr
    bad = manage("check", tmp_path=tmp_path, SECURE_PROXY_SSL_HEADER="nonsense")
    assert "SECURE_PROXY_SSL_HEADER must look like" in bad.stderr


@pytest.mark.django_db
def test_every_page_carries_a_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"


# --- the typed helpers themselves ------------------------------------------------------


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    for raw, expected in [("true", True), ("1", True), ("on", True), ("no", False), ("", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert env.env_bool("FLAG") is expected
    monkeypatch.delenv("FLAG")
    assert env.env_bool("FLAG", True) is True


def test_env_int_rejects_garbage_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="N='ten' is not an integer"):
        env.env_int("N", 1)
    monkeypatch.setenv("N", "-1")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env.env_int("N", 1, minimum=0)


def test_env_list_and_mapping(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , ,b.example ")
    assert env.env_list("HOSTS") == ["a.example", "b.example"]
    monkeypatch.setenv("MAP", "idp-leads=product_lead, idp-sec=security_reviewer")
    assert env.env_mapping("MAP") == {"idp-leads": "product_lead", "idp-sec": "security_reviewer"}
    monkeypatch.setenv("MAP", "no-equals-sign")
    with pytest.raises(ImproperlyConfigured, match="key=value"):
        env.env_mapping("MAP")


def test_env_choice_names_the_choices(monkeypatch):
    monkeypatch.setenv("MODE", "staging")
    with pytest.raises(ImproperlyConfigured, match="one of development, production"):
        env.env_choice("MODE", ("development", "production"), "development")


def test_env_secret_prefers_the_file_and_reports_an_unreadable_one(monkeypatch, tmp_path):
    (tmp_path / "s").write_text("from-file\n")
    monkeypatch.setenv("TOKEN", "from-env")
    assert env.env_secret("TOKEN") == "from-env"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "s"))
    assert env.env_secret("TOKEN") == "from-file"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.env_secret("TOKEN")
