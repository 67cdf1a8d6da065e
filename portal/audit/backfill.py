"""Bringing history written before the shared record existed into it.

A database that kept simple-history rows and security events before the record began
(migration ``audit.0004``) has rows no line records, which verification would report
as slipped in. ``backfill()`` appends a line for each, oldest first, through the same
``ledger`` code as every other line. It is idempotent: run it again and it finds
nothing. ``manage.py backfill_record`` runs it; upgrading is the only time it is needed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef

from portal.audit import ledger
from portal.audit.models import AuditEvent, Entry
from portal.audit.verify import sources

BATCH = 500


def _unrecorded(model: Any) -> Any:
    lines = Entry.objects.filter(source_table=model._meta.db_table, source_id=OuterRef("pk"))
    return model._base_manager.filter(~Exists(lines))


def _when(row: Any) -> Any:
    return row.at if isinstance(row, AuditEvent) else row.history_date


def _line(row: Any) -> Entry | None:
    if isinstance(row, AuditEvent):
        return ledger.event_line(row)
    return ledger.line_for(row.instance, row)


def backfill(batch: int = BATCH) -> int:
    """Append the missing lines, oldest first; returns how many were added."""
    rows: list[Any] = []
    for source in sources().values():
        rows.extend(_unrecorded(source.model).order_by("pk").iterator(chunk_size=batch))
    rows.sort(key=lambda row: (_when(row), row._meta.db_table, row.pk))
    added = 0
    for start in range(0, len(rows), batch):
        lines = [line for row in rows[start : start + batch] if (line := _line(row))]
        with transaction.atomic():
            ledger.append_many(lines)
        added += len(lines)
    return added
