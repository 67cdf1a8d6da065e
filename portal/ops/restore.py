"""``manage.py restore``: put an archive back, then prove the result.

In order, changing nothing until the step that must: check every member against the
manifest (``portal.ops.archive``); refuse a backup made by newer code, client programs
too old for the dump, and a database that is not empty (unless ``force``); restore the
database in one transaction (``portal.ops.postgres``); put the evidence files back into
the default storage; bring an older backup's schema up to date with ``migrate``; check
every file the rows name is in storage and the backup's chain head is in the record;
run ``manage.py verify_record`` against the restored database.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.migrations.loader import MigrationLoader
from psycopg import sql

from portal.audit.models import Entry
from portal.ops.archive import CHUNK, DUMP, MANIFEST, BackupProblem, extract_verified, file_sha256
from portal.ops.backup import file_fields
from portal.ops.postgres import (
    Database,
    Version,
    check_restore_clients,
    client_program,
    pg_restore_into,
)


@dataclass
class RestoreResult:
    """What one restore did and found. ``problems`` is empty when every row and file came
    back and the record verified."""

    manifest: dict[str, Any]
    archive_sha256: str
    files_written: int = 0
    files_present: int = 0
    migrated: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    verify_output: str = ""
    problems: list[str] = field(default_factory=list)


def backup_restore(
    *,
    archive: Path,
    database: Database,
    force: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> RestoreResult:
    """Restore ``archive`` into ``database`` and the default storage, then verify.

    Raises BackupProblem, with nothing changed, when the archive does not match its
    manifest, was made by newer code, or the database is not empty (without ``force``);
    and when loading the database fails (rolled back). Once the data is in, what goes
    wrong is reported in the result's ``problems``.
    """
    if not archive.is_file():
        raise BackupProblem(f"{archive} is not a file.")
    pg_restore, restore_version = client_program("pg_restore")
    psql, psql_version = client_program("psql")
    with tempfile.TemporaryDirectory(prefix="preflight-restore-") as temporary:
        work = Path(temporary)
        manifest = extract_verified(archive, work)
        entries = manifest["files"]
        say(
            f"Archive verified: {len(entries)} files match its manifest "
            f"(backup of {manifest.get('created_at')})."
        )
        dumped_by = _version(manifest.get("database", {}).get("pg_dump_version"))
        check_restore_clients(dumped_by=dumped_by, pg_restore=restore_version, psql=psql_version)
        unknown, _ = _migration_gap(_recorded_migrations(manifest.get("migrations")))
        if unknown:
            raise BackupProblem(
                f"The backup was made by newer code: its database has migrations this code "
                f"does not know ({', '.join(unknown[:5])}). Restore it with the release that "
                f"made it, or a later one."
            )

        relations = database.relations()
        if relations and not force:
            raise BackupProblem(
                f"The {database.label} is not empty ({relations} tables, views or "
                f"sequences). Restore into a new, empty database, or pass --force to "
                f"replace everything in it."
            )
        pg_restore_into(pg_restore, psql, database, work / DUMP, force=force, work=work)
        (work / DUMP).unlink()
        result = RestoreResult(manifest, file_sha256(archive))
        say(f"Database restored into the {database.label}.")

        for entry in entries:
            if entry["path"] == DUMP:
                continue
            try:
                written = _put_back(entry["path"], work / entry["path"], entry["sha256"])
            except (OSError, BackupProblem) as exc:  # the data is in: report, go on
                result.problems.append(f"{entry['path']} could not be stored: {exc}")
                continue
            result.files_written += written
            result.files_present += not written
        say(
            f"Evidence files: {result.files_written} written, {result.files_present} "
            f"already in storage."
        )

    env = {**os.environ, "DATABASE_URL": database.url()}
    with database.connect() as target:
        _, behind = _migration_gap(_applied_in(target))
    if behind:
        say(f"The backup predates {len(behind)} migrations of this code: running migrate.")
        migrate = _manage(env, "migrate", "--noinput")
        if migrate.returncode != 0:
            output = (migrate.stderr.strip() or migrate.stdout.strip()).splitlines()
            result.problems.append(f"migrate failed: {' '.join(output[-3:])}")
            return result  # the code's models do not match the tables: nothing to verify
        result.migrated = behind

    with database.connect() as target:
        result.missing_files = _missing_from_storage(target)
        if result.missing_files:
            result.problems.append(
                f"evidence files missing from storage: {len(result.missing_files)}"
            )
        if head_problem := _head_problem(target, manifest):
            result.problems.append(head_problem)
    verify = _manage(env, "verify_record")
    result.verify_output = (verify.stdout + verify.stderr).strip()
    if verify.returncode != 0:
        result.problems.append("the record did not verify (see above)")
    return result


def _version(text: Any) -> Version:
    found = re.fullmatch(r"(\d+)\.(\d+)", str(text or ""))
    if found is None:
        raise BackupProblem(f"{MANIFEST} does not say which pg_dump made the dump.")
    return Version(int(found[1]), int(found[2]))


def _recorded_migrations(recorded: Any) -> set[tuple[str, str]]:
    """The manifest's migration state as ``{(app label, name)}``."""
    if not isinstance(recorded, dict) or not all(
        isinstance(names, list) and all(isinstance(name, str) for name in names)
        for names in recorded.values()
    ):
        raise BackupProblem(f"{MANIFEST} has no readable migration state.")
    return {(app, name) for app, names in recorded.items() for name in names}


def _migration_gap(applied: set[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Against this code's migrations: those applied that it does not know (newer code
    made the database) and those it has that were not applied (older code made it)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.graph.nodes)
    applied = set(applied)
    for key, migration in loader.replacements.items():  # squashed: either form counts
        known.update(migration.replaces)
        if set(migration.replaces) <= applied:
            applied.add(key)
    unknown = sorted(
        f"{app}.{name}"
        for app, name in applied - known
        if app in loader.migrated_apps  # an app since removed leaves harmless rows
    )
    behind = sorted(f"{app}.{name}" for app, name in set(loader.graph.nodes) - applied)
    return unknown, behind


def _applied_in(target: psycopg.Connection[Any]) -> set[tuple[str, str]]:
    if target.execute("SELECT to_regclass('django_migrations')").fetchone() == (None,):
        return set()
    return {(app, name) for app, name in target.execute("SELECT app, name FROM django_migrations")}


def _put_back(name: str, source: Path, sha256: str) -> bool:
    """Store one evidence file under its own name; False when storage already holds it."""
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as existing:
            digest = hashlib.sha256()
            while chunk := existing.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() == sha256:
            return False
        default_storage.delete(name)  # not what was backed up: the archive's copy wins
    with source.open("rb") as content:
        stored = default_storage.save(name, File(content))
    if stored != name:
        raise BackupProblem(f"Storage saved {name} as {stored}; evidence names must not change.")
    return True


def _missing_from_storage(target: psycopg.Connection[Any]) -> list[str]:
    """The files the restored rows refer to that storage does not hold."""
    missing: set[str] = set()
    for model, file_field in file_fields():
        query = sql.SQL("SELECT DISTINCT {column} FROM {table} WHERE {column} <> ''").format(
            column=sql.Identifier(file_field.column), table=sql.Identifier(model._meta.db_table)
        )
        for (name,) in target.execute(query):
            if not default_storage.exists(name):
                missing.add(name)
    return sorted(missing)


def _head_problem(target: psycopg.Connection[Any], manifest: dict[str, Any]) -> str:
    """Whether the restored record holds the backup's chain head as its own line."""
    head = (manifest.get("record") or {}).get("chain_head")
    if not head:
        return ""
    if not isinstance(head, dict) or type(head.get("line")) is not int:
        return f"{MANIFEST} names no readable chain head"
    query = sql.SQL("SELECT chain_hash FROM {table} WHERE id = %s").format(
        table=sql.Identifier(Entry._meta.db_table)
    )
    row = target.execute(query, [head["line"]]).fetchone()
    if row is None:
        return f"the backup's chain head, line {head['line']}, is not in the restored record"
    if row[0] != head["hash"]:
        return f"line {head['line']} of the restored record differs from the backup's chain head"
    return ""


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in its own process, on the restored database (``env``)."""
    return subprocess.run(  # noqa: S603 (this interpreter and this project's manage.py)
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
