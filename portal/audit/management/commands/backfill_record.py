from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.audit.backfill import backfill


class Command(BaseCommand):
    help = (
        "Bring history written before the shared record existed into it (once, after "
        "upgrading); running it again adds nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        added = backfill()
        self.stdout.write(f"Added {added} lines to the record.")
