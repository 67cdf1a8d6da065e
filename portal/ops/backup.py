"""``manage.py backup``: one archive of the PostgreSQL database and the evidence files.

The dump and the facts the manifest states about it (migration state per app, the
record's chain head, the files the rows refer to) come from one snapshot: a REPEATABLE
READ transaction exports its snapshot and ``pg_dump --snapshot`` reads the same one.
Files are copied after the dump: evidence is append-only and a file is stored before its
row commits, so every file a dumped row names is already in storage.

Only PostgreSQL: the embedded SQLite default is one file (the refusal says which).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder

from portal.audit.models import ChainHead
from portal.ops.archive import (
    DUMP,
    FORMAT,
    MANIFEST,
    MEDIA_DIRS,
    ArchiveWriter,
    BackupProblem,
    file_sha256,
)
from portal.ops.postgres import Database, Version, check_pg_dump, client_program, run_pg_dump


@dataclass
class BackupResult:
    """What one backup wrote."""

    path: Path
    sha256: str
    size: int
    database: str
    server: Version
    pg_dump: Version
    dump_size: int
    evidence_files: int
    evidence_bytes: int
    chain_head: dict[str, Any] | None
    missing_files: list[str]


def backup_create(*, output: Path) -> BackupResult:
    """Write one archive of the configured database and the evidence files to ``output``.

    The archive appears at ``output`` only when complete (written beside it, then
    renamed); an existing file is never replaced.
    """
    database = Database.configured()
    if output.exists():
        raise BackupProblem(f"{output} already exists; a backup never replaces a file.")
    if not output.parent.is_dir():
        raise BackupProblem(f"The directory {output.parent} does not exist.")
    pg_dump, client = client_program("pg_dump")
    if connection.in_atomic_block:
        raise BackupProblem("A backup takes its own snapshot: run it outside a transaction.")
    with tempfile.TemporaryDirectory(prefix=".preflight-backup-", dir=output.parent) as work:
        dump = Path(work) / DUMP
        with transaction.atomic():
            # One snapshot for the dump and the facts the manifest states about it.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(
                    "SELECT pg_export_snapshot(), current_setting('server_version_num')::int, "
                    "now()"  # the transaction's start: the moment the archive holds
                )
                snapshot, server_number, taken_at = cursor.fetchone()
                server = Version.from_number(server_number)
                check_pg_dump(server=server, client=client)
                tables = set(connection.introspection.table_names(cursor))
                migrations = _migration_state()
                chain_head = _chain_head(cursor, tables)
                referenced = _referenced_files(cursor, tables)
            run_pg_dump(pg_dump, database, snapshot=snapshot, into=dump)

        partial = Path(work) / "archive.zip"
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            writer = ArchiveWriter(archive)
            with dump.open("rb") as source:  # already compressed by pg_dump
                dump_size = writer.add(DUMP, source, compress=zipfile.ZIP_STORED)
            dump.unlink()  # the disk it took is needed for the files
            stored, evidence_bytes = set(), 0
            for name in _stored_files():
                with default_storage.open(name, "rb") as source:
                    evidence_bytes += writer.add(name, source, compress=zipfile.ZIP_DEFLATED)
                stored.add(name)
            missing = sorted(referenced - stored)
            manifest = {
                "format": FORMAT,
                "created_at": taken_at.astimezone(UTC).isoformat(),
                "database": {
                    "name": database.name,
                    "server_version": str(server),
                    "pg_dump_version": str(client),
                },
                "migrations": migrations,
                "record": {"chain_head": chain_head},
                "evidence": {
                    "directories": list(MEDIA_DIRS),
                    "files": len(stored),
                    "bytes": evidence_bytes,
                    "missing_from_storage": missing,
                },
                "files": writer.files,
            }
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        partial.chmod(0o600)  # people's data, password hashes, MFA secrets
        os.replace(partial, output)
    return BackupResult(
        path=output,
        sha256=file_sha256(output),
        size=output.stat().st_size,
        database=database.label,
        server=server,
        pg_dump=client,
        dump_size=dump_size,
        evidence_files=len(stored),
        evidence_bytes=evidence_bytes,
        chain_head=chain_head,
        missing_files=missing,
    )


def file_fields() -> Iterator[tuple[type[models.Model], models.FileField]]:
    """Every concrete file field kept in the default storage (evidence files)."""
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, models.FileField) and model_field.storage is default_storage:
                yield model, model_field


def _referenced_files(cursor: Any, tables: set[str]) -> set[str]:
    """The storage names the database's rows refer to, in the caller's snapshot. Raw SQL
    on the tables and columns that exist: a database behind the code (backed up before
    ``migrate``) is backed up too."""
    names: set[str] = set()
    for model, file_field in file_fields():
        table = model._meta.db_table
        if table not in tables:
            continue
        columns = {c.name for c in connection.introspection.get_table_description(cursor, table)}
        if file_field.column not in columns:
            continue
        quoted = connection.ops.quote_name
        cursor.execute(
            f"SELECT DISTINCT {quoted(file_field.column)} FROM {quoted(table)} "  # noqa: S608 (names from the models)
            f"WHERE {quoted(file_field.column)} <> ''"
        )
        names.update(name for (name,) in cursor.fetchall())
    return names


def _stored_files() -> Iterator[str]:
    """Every file the default storage holds under the backed-up directories."""

    def walk(directory: str) -> Iterator[str]:
        try:
            directories, files = default_storage.listdir(directory)
        except FileNotFoundError:
            return
        for name in sorted(files):
            yield f"{directory}/{name}"
        for name in sorted(directories):
            yield from walk(f"{directory}/{name}")

    for directory in MEDIA_DIRS:
        yield from walk(directory)


def _migration_state() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = defaultdict(list)
    for app_label, name in MigrationRecorder(connection).applied_migrations():
        applied[app_label].append(name)
    return {app_label: sorted(names) for app_label, names in sorted(applied.items())}


def _chain_head(cursor: Any, tables: set[str]) -> dict[str, Any] | None:
    table = ChainHead._meta.db_table
    if table not in tables:
        return None
    cursor.execute(f"SELECT last_id, last_hash, count FROM {table} WHERE id = 1")  # noqa: S608
    row = cursor.fetchone()
    if row is None or not row[0]:
        return None
    return {"line": row[0], "hash": row[1], "lines": row[2]}
