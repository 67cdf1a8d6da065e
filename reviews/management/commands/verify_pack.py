"""`manage.py verify_pack FILE`: check an audit pack offline against its manifest.

Needs no database (and touches none): a pack exported years ago is checked with the
code alone. Exits 0 with "Pack verified: N files", or non-zero naming the first problem.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviews.record.manifest import PackProblem, verify


class Command(BaseCommand):
    help = "Check an audit pack (ZIP) offline: every file against the manifest's SHA-256."
    # The system checks may reach the database; a pack check must not need one.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The audit pack (.zip) to check.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = verify(options["file"])
        except PackProblem as exc:
            raise CommandError(f"Pack NOT verified: {exc}") from None
        self.stdout.write(f"Pack verified: {count} files")
