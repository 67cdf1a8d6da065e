"""The record leaving the portal: the lines of a filter as CSV or as JSON, streamed.

Both carry every field of a line, its hashes included, so an export can be checked
against the chain (``portal.audit.ledger``). Lines are read in keyset chunks
(``feed.every_line``): an export of millions of lines never holds them in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from portal.audit import registry
from portal.audit.feed import change_words, every_line
from portal.audit.models import Entry

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

HEADER = [
    "When (UTC)",
    "Kind of record",
    "Record",
    "Record id",
    "Change",
    "Changes",
    "Reason",
    "By",
    "Request id",
    "IP address",
    "Belongs to",
    "Within",
    "Line",
    "Content hash",
    "Previous hash",
    "Chain hash",
]
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def as_dict(entry: Entry) -> dict[str, Any]:
    """One line, every field, as the JSON export writes it."""
    return {
        "id": entry.pk,
        "at": entry.at.isoformat(),
        "record_type": entry.record_type,
        "record_kind": registry.noun(entry.record_type),
        "record_id": entry.record_id,
        "record_label": entry.record_label,
        "change": entry.change,
        "change_label": change_words(entry.change),
        "changes": entry.changes,
        "reason": entry.reason,
        "actor_id": entry.actor_id,
        "actor": entry.actor_label,
        "request_id": entry.request_id,
        "ip_address": entry.ip_address,
        "root": entry.root,
        "branch": entry.branch,
        "content_hash": entry.content_hash,
        "prev_hash": entry.prev_hash,
        "chain_hash": entry.chain_hash,
    }


def as_row(entry: Entry) -> list[str]:
    """One line as a CSV row, in the order of ``HEADER``."""
    values = [
        entry.at.isoformat(),
        registry.noun(entry.record_type),
        entry.record_label,
        entry.record_id,
        change_words(entry.change),
        json.dumps(entry.changes, sort_keys=True, ensure_ascii=False),
        entry.reason,
        entry.actor_label,
        entry.request_id,
        entry.ip_address or "",
        entry.root,
        entry.branch,
        str(entry.pk),
        entry.content_hash,
        entry.prev_hash,
        entry.chain_hash,
    ]
    return [_inert(value) for value in values]


def _inert(value: str) -> str:
    """Text a spreadsheet shows as text: typed values reach the record verbatim."""
    return f"'{value}" if value.startswith(_FORMULA) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv(found: QuerySet[Entry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    for entry in every_line(found):
        yield writer.writerow(as_row(entry))


def _json(found: QuerySet[Entry]) -> Iterator[str]:
    """A JSON array, one line per element: valid JSON however many lines."""
    yield "[\n"
    separator = ""
    for entry in every_line(found):
        yield separator + json.dumps(as_dict(entry), ensure_ascii=False, sort_keys=True)
        separator = ",\n"
    yield "\n]\n"


def streamed(found: QuerySet[Entry], fmt: str, name: str) -> StreamingHttpResponse:
    """``found`` as a download: ``name``-<date>.csv or .json."""
    body = _csv(found) if fmt == "csv" else _json(found)
    response = StreamingHttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{timezone.now():%Y-%m-%d}.{fmt}"'
    )
    return response
