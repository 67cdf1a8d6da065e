"""Backup and restore (issue 14, item 6): ``manage.py backup`` writes one archive of the
database (the machine's real pg_dump) and the evidence files; ``manage.py restore`` puts
it back into a fresh database (the real pg_restore and psql), and every row and file
comes back, with a record that verifies. A tampered archive, a database that is not
empty, a backup from newer code and the embedded SQLite database are refused in words.

The tests are transactional: pg_dump reads only what is committed. pytest-django empties
the test database after each; the scratch databases are dropped by their fixture.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone
from psycopg import sql

from portal.audit.models import ChainHead
from portal.ops.archive import BackupProblem
from portal.ops.postgres import Database, Version, check_pg_dump, check_restore_clients
from portal.storage import evidence_storage
from reviews import evidence, services, signoffs, waivers
from reviews.models import AnswerStatus, EvidenceKind, Review
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parent.parent
DOC = BASE_DIR / "docs" / "backup-and-restore.md"
PDF = b"%PDF-1.4\n% restore drill report\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
LOG = "Restore drill, 3 March: 41 tables, 2 files, chain intact. ✓\n".encode()


# --- databases and files ----------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def scratch_database(transactional_db) -> Iterator[Callable[..., Database]]:
    """Makes databases beside the test database, empty or a copy of it (named after it,
    so parallel runs never meet), and drops them afterwards."""
    test_database = Database.configured()
    prefix = test_database.name.removeprefix("test_")
    made: list[str] = []

    def admin() -> psycopg.Connection[Any]:
        return dataclasses.replace(test_database, name="postgres").connect()

    def make(*, copy_of_test_database: bool = False) -> Database:
        name = f"{prefix}_restore_{uuid.uuid4().hex[:8]}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if copy_of_test_database:  # PostgreSQL copies only a database nobody is connected to
            connection.close()
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(test_database.name))
        with admin() as server:
            server.execute(create)
        made.append(name)
        return dataclasses.replace(test_database, name=name)

    yield make
    with admin() as server:
        for name in made:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def row_counts(database: Database) -> dict[str, int]:
    """Every table of the public schema with its number of rows."""
    with database.connect() as reading:
        tables = reading.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        count = sql.SQL("SELECT count(*) FROM {}")
        return {
            name: reading.execute(count.format(sql.Identifier(name))).fetchall()[0][0]
            for (name,) in tables
        }


def relations(database: Database) -> int:
    with database.connect() as target:
        found = target.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'S')"
        ).fetchone()
    return found[0] if found else 0


def files_under(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in its own process, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TEST_DATABASE_NAME"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env={**env, **environment},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def restore(archive: Path, database: Database, *extra: str) -> str:
    out = io.StringIO()
    call_command("restore", str(archive), "--database-url", database.url(), *extra, stdout=out)
    return out.getvalue()


def backup(path: Path) -> str:
    out = io.StringIO()
    call_command("backup", "--output", str(path), stdout=out)
    return out.getvalue()


def answered(answer: Any, status: str, by: Any, justification: str = "") -> Any:
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(status, justification, "", None),
        based_on_revision=answer.revision,
        by=by,
    )


@pytest.fixture
def record(review, lead, reviewer, media) -> SimpleNamespace:
    """A review's life through the real services: answers, two uploaded files (one later
    withdrawn), a note, an approved exception, a submission, a sign-off and sign-ins."""
    answers = {a.item.text: a for a in review.answers.select_related("item")}
    backups = answered(answers["Backups run"], AnswerStatus.MET, lead)
    dashboards = answered(answers["Dashboards exist"], AnswerStatus.NOT_MET, lead, "Not yet.")
    today = timezone.localdate()

    def upload(name: str, content: bytes) -> Any:
        return evidence.evidence_add(
            answer=backups, by=lead, kind=EvidenceKind.FILE,
            upload=SimpleUploadedFile(name, content), effective_date=today,
        )  # fmt: skip

    report, log = upload("drill.pdf", PDF), upload("drill.log", LOG)
    evidence.evidence_withdraw(evidence=log, by=lead, reason="The report says it all.")
    evidence.evidence_add(answer=backups, by=lead, kind=EvidenceKind.NOTE,
                          note="Restored into a fresh database.", effective_date=today)  # fmt: skip
    waiver = waivers.waiver_request(
        answer=dashboards, by=lead, rationale="Dashboards come with the second release.",
        compensating_controls="Alerts page the on-call engineer.",
        expires_on=today + timedelta(days=30),
    )  # fmt: skip
    waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True, comment="Fine for launch.")
    services.review_transition(review=review, action="submit", by=lead)
    signoffs.signoff_record(
        review=Review.objects.get(pk=review.pk), by=reviewer, role="security_reviewer",
        decision="approve", comment="Good to go.",
    )  # fmt: skip
    Client().post("/accounts/login/", {"login": lead.email, "password": PASSWORD})
    Client().post("/accounts/login/", {"login": lead.email, "password": "not the password"})
    return SimpleNamespace(report=report, log=log)


# --- the round trip ---------------------------------------------------------------------------


def test_every_row_and_file_comes_back_in_a_fresh_database_and_the_record_verifies(
    record, media, scratch_database, tmp_path, settings
):
    archive = tmp_path / "preflight.zip"
    head = ChainHead.objects.get()
    before = row_counts(Database.configured())
    files = files_under(media)
    assert len(files) == 2 and before["audit_entry"] == head.count > 0

    printed = backup(archive)

    assert f"Backup written: {archive}" in printed
    assert f"line {head.last_id}, hash {head.last_hash}" in printed
    assert "evidence files: 2 " in printed
    assert archive.stat().st_mode & 0o777 == 0o600  # people's data: its owner's only
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        assert sorted(opened.namelist()) == sorted(["database.pgdump", "manifest.json", *files])
        assert opened.read(record.report.file.name) == PDF
    assert manifest["record"]["chain_head"] == {
        "line": head.last_id, "hash": head.last_hash, "lines": head.count
    }  # fmt: skip
    applied = MigrationRecorder(connection).applied_migrations()
    assert sum(len(names) for names in manifest["migrations"].values()) == len(applied)
    assert "0001_initial" in manifest["migrations"]["audit"]
    assert {entry["path"] for entry in manifest["files"]} == {"database.pgdump", *files}
    assert manifest["evidence"]["missing_from_storage"] == []
    assert manifest["created_at"] and manifest["database"]["pg_dump_version"]

    # Wipe: a new, empty database and an empty media directory.
    fresh = scratch_database()
    settings.MEDIA_ROOT = tmp_path / "restored-media"

    printed = restore(archive, fresh)

    assert "Archive verified: 3 files match its manifest" in printed
    assert "Evidence files: 2 written, 0 already in storage." in printed
    assert f"Record intact: {head.count} lines" in printed
    assert f"line {head.last_id}, hash {head.last_hash}" in printed
    assert "Restore complete." in printed
    assert row_counts(fresh) == before
    assert files_under(settings.MEDIA_ROOT) == files

    # An operator's own check, in its own process, against the restored copy.
    verified = manage("verify_record", DATABASE_URL=fresh.url())
    assert verified.returncode == 0, verified.stderr
    assert f"chain head line {head.last_id}, hash {head.last_hash}" in verified.stdout


def test_evidence_in_a_bucket_comes_back_into_another_bucket(
    aws, review, lead, scratch_database, tmp_path, settings, monkeypatch
):
    """With EVIDENCE_STORAGE=s3 (moto standing in for S3), both commands go through the
    configured storage: the files are read from one bucket and restored into another."""
    s3 = boto3.client("s3", region_name="eu-west-2", endpoint_url=aws)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the storage reaches moto through its setting

    def use_bucket(bucket: str) -> None:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        for name, value in {
            "EVIDENCE_STORAGE": "s3",
            "EVIDENCE_S3_BUCKET": bucket,
            "EVIDENCE_S3_REGION": "eu-west-2",
            "EVIDENCE_S3_ENDPOINT_URL": aws,
        }.items():
            monkeypatch.setenv(name, value)
        settings.STORAGES = {**settings.STORAGES, "default": evidence_storage(production=False)}

    def objects(bucket: str) -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}

    use_bucket("preflight-backup-from")
    answer = review.answers.select_related("item").get(item__text="Backups run")
    report = evidence.evidence_add(answer=answer, by=lead, kind=EvidenceKind.FILE,
                                   upload=SimpleUploadedFile("drill.pdf", PDF),
                                   effective_date=timezone.localdate())  # fmt: skip
    archive = tmp_path / "preflight.zip"
    assert "evidence files: 1 " in backup(archive)

    use_bucket("preflight-backup-to")
    printed = restore(archive, scratch_database())

    assert "Evidence files: 1 written, 0 already in storage." in printed
    assert "Restore complete." in printed
    assert objects("preflight-backup-to") == objects("preflight-backup-from")
    assert objects("preflight-backup-to") == {report.file.name: PDF}


def test_a_tampered_archive_is_refused_by_name_before_anything_is_restored(
    record, scratch_database, tmp_path, settings
):
    archive = tmp_path / "preflight.zip"
    backup(archive)
    with zipfile.ZipFile(archive) as opened:
        members = {name: opened.read(name) for name in opened.namelist()}
    file_name = record.report.file.name

    def tampered(label: str, change: Callable[[dict[str, bytes]], None]) -> Path:
        copy = dict(members)
        change(copy)
        path = tmp_path / f"{label}.zip"
        with zipfile.ZipFile(path, "w") as rewritten:  # a well-formed ZIP: only hashes tell
            for name, content in copy.items():
                rewritten.writestr(name, content)
        return path

    def altered_file(copy: dict[str, bytes]) -> None:
        copy[file_name] = PDF.replace(b"restore drill", b"RESTORE DRILL")

    def altered_dump(copy: dict[str, bytes]) -> None:
        dump = bytearray(copy["database.pgdump"])
        dump[len(dump) // 2] ^= 0xFF
        copy["database.pgdump"] = bytes(dump)

    def added(copy: dict[str, bytes]) -> None:
        copy["evidence/zz/planted.pdf"] = PDF

    def removed(copy: dict[str, bytes]) -> None:
        del copy[file_name]

    cases = {
        "altered-file": (altered_file, f"{file_name} was altered: its SHA-256 differs"),
        "altered-dump": (altered_dump, "database.pgdump was altered: its SHA-256 differs"),
        "added": (added, "evidence/zz/planted.pdf is in the archive but not in its manifest"),
        "removed": (removed, f"{file_name} is missing from the archive"),
    }
    fresh = scratch_database()
    settings.MEDIA_ROOT = tmp_path / "restored-media"
    for label, (change, words) in cases.items():
        with pytest.raises(CommandError, match=re.escape(words)) as refused:
            restore(tampered(label, change), fresh)
        assert str(refused.value).startswith("Restore NOT done: "), label
        assert relations(fresh) == 0, label
        assert not settings.MEDIA_ROOT.exists(), label

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(CommandError, match=r"junk\.zip is not a readable ZIP archive"):
        restore(junk, fresh)


def test_a_file_lost_before_the_backup_is_named_by_both_commands(
    record, media, scratch_database, tmp_path, settings
):
    lost = record.report.file.name
    (media / lost).unlink()
    archive = tmp_path / "preflight.zip"
    errors = io.StringIO()

    call_command("backup", "--output", str(archive), stdout=io.StringIO(), stderr=errors)

    assert f"Warning: the database refers to {lost}, which storage lacks." in errors.getvalue()
    with zipfile.ZipFile(archive) as opened:
        manifest = json.loads(opened.read("manifest.json"))
    assert manifest["evidence"]["missing_from_storage"] == [lost]

    fresh = scratch_database()
    settings.MEDIA_ROOT = tmp_path / "restored-media"
    errors = io.StringIO()
    problems = "Restored, with problems: evidence files missing from storage: 1."
    with pytest.raises(CommandError, match=re.escape(problems)):
        call_command("restore", str(archive), "--database-url", fresh.url(),
                     stdout=io.StringIO(), stderr=errors)  # fmt: skip
    assert (
        f"Missing from storage: {lost} (missing already when the backup was made)"
        in errors.getvalue()
    )
    assert row_counts(fresh) == row_counts(Database.configured())  # the rows are all back


def test_a_database_that_is_not_empty_is_refused_unless_forced(
    record, scratch_database, tmp_path, settings
):
    archive = tmp_path / "preflight.zip"
    backup(archive)
    before = row_counts(Database.configured())
    target = scratch_database()
    settings.MEDIA_ROOT = tmp_path / "restored-media"
    restore(archive, target)
    with target.connect() as restored:
        restored.execute("CREATE TABLE leftover (id int)")
        restored.execute("DELETE FROM audit_auditevent WHERE kind = 'login_failed'")
    changed = row_counts(target)
    assert changed != before

    with pytest.raises(CommandError, match=r"is not empty \(\d+ tables, views or sequences\)"):
        restore(archive, target)
    assert row_counts(target) == changed

    printed = restore(archive, target, "--force")

    assert "Evidence files: 0 written, 2 already in storage." in printed
    assert "Restore complete." in printed
    assert row_counts(target) == before  # the leftover table is gone too


def test_a_backup_from_newer_code_is_refused(record, scratch_database, tmp_path):
    archive = tmp_path / "preflight.zip"
    backup(archive)
    with zipfile.ZipFile(archive) as opened:
        members = {name: opened.read(name) for name in opened.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["migrations"]["reviews"].append("9999_from_the_future")
    members["manifest.json"] = json.dumps(manifest).encode()
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(newer, "w") as rewritten:
        for name, content in members.items():
            rewritten.writestr(name, content)
    fresh = scratch_database()

    with pytest.raises(CommandError, match=r"made by newer code.*reviews\.9999_from_the_future"):
        restore(newer, fresh)
    assert relations(fresh) == 0


def test_a_backup_from_older_code_is_migrated_then_verified(
    record, media, scratch_database, tmp_path
):
    """A database one migration behind this code (a backup taken before an upgrade's
    migrate), backed up and restored by this code: restore brings it up to date with
    migrate, as starting the web container would, and the record still verifies."""
    head = ChainHead.objects.get()
    old = scratch_database(copy_of_test_database=True)
    fresh = scratch_database()
    env = {"DATABASE_URL": old.url(), "MEDIA_ROOT": str(media)}
    unapplied = manage("migrate", "checklists", "0003", "--noinput", **env)
    assert unapplied.returncode == 0, unapplied.stderr
    archive = tmp_path / "old.zip"
    made = manage("backup", "--output", str(archive), **env)
    assert made.returncode == 0, made.stderr

    restored = manage("restore", str(archive), "--database-url", fresh.url(),
                      MEDIA_ROOT=str(tmp_path / "restored-media"))  # fmt: skip

    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "The backup predates 1 migrations of this code: running migrate." in restored.stdout
    assert "Migrated: checklists.0004_long_change_reasons" in restored.stdout
    assert f"Record intact: {head.count} lines" in restored.stdout
    assert files_under(tmp_path / "restored-media") == files_under(media)


# --- refusals in words ------------------------------------------------------------------------


def test_the_embedded_sqlite_database_is_refused_with_what_to_copy(tmp_path):
    result = manage(
        "backup", "--output", str(tmp_path / "x.zip"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", PREFLIGHT_DATA_DIR=str(tmp_path),
    )  # fmt: skip

    assert result.returncode == 1
    assert "Backup NOT written: The database is the embedded SQLite file" in result.stderr
    assert "stop the portal and copy that file and MEDIA_ROOT" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_a_backup_never_replaces_a_file(tmp_path):
    existing = tmp_path / "preflight.zip"
    existing.write_bytes(b"yesterday's backup")

    with pytest.raises(CommandError, match="already exists; a backup never replaces a file"):
        backup(existing)
    assert existing.read_bytes() == b"yesterday's backup"


def test_restore_needs_a_reachable_database(tmp_path, record, scratch_database):
    archive = tmp_path / "preflight.zip"
    backup(archive)
    missing = dataclasses.replace(scratch_database(), name="preflight_no_such_database")

    with pytest.raises(CommandError, match="Cannot connect to the database preflight_no_such"):
        restore(archive, missing)


@pytest.mark.django_db(transaction=False)
def test_client_programs_older_than_the_server_are_refused_in_words():
    with pytest.raises(BackupProblem, match=re.escape(
        "The PostgreSQL server is 16.4, newer than this machine's pg_dump (15.20): pg_dump "
        "cannot dump a server newer than itself. Install the client programs of PostgreSQL "
        "16 (Debian: postgresql-client-16)"
    )):  # fmt: skip
        check_pg_dump(server=Version(16, 4), client=Version(15, 20))
    check_pg_dump(server=Version(15, 20), client=Version(15, 20))
    check_pg_dump(server=Version(15, 2), client=Version(17, 0))  # newer clients dump older

    with pytest.raises(BackupProblem, match=r"dumped by pg_dump 17\.1; this machine's pg_restore"):
        check_restore_clients(
            dumped_by=Version(17, 1), pg_restore=Version(15, 20), psql=Version(15, 20)
        )
    with pytest.raises(BackupProblem, match=r"psql is 15\.13 but pg_restore is 15\.20"):
        check_restore_clients(
            dumped_by=Version(15, 20), pg_restore=Version(15, 20), psql=Version(15, 13)
        )


# --- the procedure, as documented -------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_the_procedure_names_only_commands_and_targets_that_exist():
    text = DOC.read_text(encoding="utf-8")
    commands = set(re.findall(r"manage\.py ([a-z_]+)", text))
    targets = set(re.findall(r"\bmake ([a-z][a-z-]*)", text))
    makefile = (BASE_DIR / "Makefile").read_text(encoding="utf-8")

    assert {"backup", "restore", "verify_record", "migrate"} <= commands
    known = get_commands()
    assert not commands - known.keys(), f"the doc names unknown commands: {commands - known.keys()}"
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


@pytest.mark.django_db(transaction=False)
def test_the_readme_points_to_the_procedure():
    readme = (BASE_DIR / "README.md").read_text(encoding="utf-8")
    assert "(docs/backup-and-restore.md)" in readme
