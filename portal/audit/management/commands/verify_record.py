"""``manage.py verify_record``: check the shared record has not been altered.

Exits 0 and prints what it checked, with the chain head's hash (worth writing in an
audit's minutes: a record rebuilt later shows a different head), when the record is
intact; exits 1 naming the first broken link otherwise (``portal.audit.verify``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.audit.verify import CHUNK, verify_record


class Command(BaseCommand):
    help = "Check the shared record's hash chain, its rows and its head; report the first break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk",
            type=int,
            default=CHUNK,
            help=f"Lines read at a time (default {CHUNK}).",
        )

    def handle(self, *args: Any, chunk: int, **options: Any) -> None:
        if chunk < 1:
            raise CommandError("--chunk must be at least 1.")
        report = verify_record(chunk=chunk)
        checked = f"Checked {report.lines} lines in {report.seconds:.1f} s."
        if not report.ok:
            self.stdout.write(checked)
            raise CommandError(report.summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(report.summary))
        self.stdout.write(checked)
