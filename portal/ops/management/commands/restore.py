"""``manage.py restore FILE [--database-url URL] [--force]``: put a backup back.

Checks the whole archive against its manifest first, refuses a database that is not
empty unless ``--force``, restores the database in one transaction and the evidence
files into the configured storage (MEDIA_ROOT), then verifies the shared record.
Exits 0 only when everything came back and the record verifies intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.ops.archive import BackupProblem
from portal.ops.postgres import Database
from portal.ops.restore import backup_restore

SHOWN_MISSING = 20


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup`: verify the archive, restore the "
        "database and the evidence files, then verify the record."
    )
    # The database may be empty or the one being replaced; nothing here needs it checked.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The archive `manage.py backup` wrote.")
        parser.add_argument(
            "--database-url",
            help="The PostgreSQL database to restore into (default: the configured one, "
            "DATABASE_URL). It must exist, and be empty unless --force.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace every table in a database that is not empty (in the restore's "
            "one transaction: a failed restore leaves it as it was).",
        )

    def handle(self, *args: Any, file: Path, database_url: str | None, force: bool,
               **options: Any) -> None:  # fmt: skip
        try:
            database = Database.from_url(database_url) if database_url else Database.configured()
            result = backup_restore(
                archive=file, database=database, force=force, say=self.stdout.write
            )
        except BackupProblem as exc:
            raise CommandError(f"Restore NOT done: {exc}") from None
        self.stdout.write(f"Archive SHA-256: {result.archive_sha256}")
        if result.migrated:
            self.stdout.write(f"Migrated: {', '.join(result.migrated)}")
        known = set(result.manifest.get("evidence", {}).get("missing_from_storage", []))
        for name in result.missing_files[:SHOWN_MISSING]:
            why = " (missing already when the backup was made)" if name in known else ""
            self.stderr.write(f"Missing from storage: {name}{why}")
        if result.verify_output:
            self.stdout.write(result.verify_output)
        if result.problems:
            raise CommandError(f"Restored, with problems: {'; '.join(result.problems)}.")
        head = (result.manifest.get("record") or {}).get("chain_head")
        if head:
            self.stdout.write(
                f"The restored record holds the backup's chain head: line {head['line']}, "
                f"hash {head['hash']}."
            )
        self.stdout.write(self.style.SUCCESS("Restore complete."))
