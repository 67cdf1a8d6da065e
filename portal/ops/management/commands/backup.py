"""``manage.py backup --output FILE``: one archive of the database and the evidence files.

Prints what it wrote, the record's chain head at that moment and the archive's SHA-256
(worth keeping apart from the archive: the manifest proves the members, the SHA-256
proves the manifest). See ``portal.ops.backup`` and docs/backup-and-restore.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.ops.archive import BackupProblem
from portal.ops.backup import backup_create

SHOWN_MISSING = 20


class Command(BaseCommand):
    help = (
        "Back up the PostgreSQL database (pg_dump) and every evidence file into one ZIP "
        "with a manifest of SHA-256 hashes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            required=True,
            type=Path,
            help="The archive to write (for example preflight-20250101T0200Z.zip); "
            "it must not exist.",
        )

    def handle(self, *args: Any, output: Path, **options: Any) -> None:
        try:
            result = backup_create(output=output)
        except BackupProblem as exc:
            raise CommandError(f"Backup NOT written: {exc}") from None
        for name in result.missing_files[:SHOWN_MISSING]:
            self.stderr.write(f"Warning: the database refers to {name}, which storage lacks.")
        if len(result.missing_files) > SHOWN_MISSING:
            more = len(result.missing_files) - SHOWN_MISSING
            self.stderr.write(f"Warning: and {more} more files storage lacks (see the manifest).")
        head = result.chain_head
        self.stdout.write(self.style.SUCCESS(f"Backup written: {result.path}"))
        self.stdout.write(
            f"  {result.database}: PostgreSQL {result.server}, dumped by pg_dump "
            f"{result.pg_dump} ({result.dump_size:,} bytes)\n"
            f"  evidence files: {result.evidence_files} ({result.evidence_bytes:,} bytes)\n"
            f"  record chain head: "
            + (f"line {head['line']}, hash {head['hash']}" if head else "empty record")
            + f"\n  archive: {result.size:,} bytes, SHA-256 {result.sha256}"
        )
