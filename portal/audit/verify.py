"""Checking that the shared record has not been altered behind the application's back.

``verify_record()`` re-derives everything the record's chain vouches for (see
``portal.audit.ledger``) and reports the first broken link in words:

1. the chain: every line, in id order, still hashes to its ``chain_hash``, and each
   ``prev_hash`` is the previous line's ``chain_hash`` (``GENESIS`` for the first);
2. the rows: every line's history row (or security event) still exists and still hashes
   to the line's ``content_hash``;
3. the head: ``ChainHead`` names the last line, its hash and the number of lines, so
   lines removed from the end are noticed;
4. coverage: every row of every followed model's history table, and every security
   event, has its line, so rows slipped in without one are noticed.

It reads in chunks of lines (keyset by id) and fetches each chunk's rows with one query
per table, so memory stays bounded at millions of lines. On PostgreSQL it reads one
REPEATABLE READ snapshot, so changes committed while it runs are neither half-seen nor
reported as breaks.

What it cannot prove: someone able to rewrite every table could rebuild a consistent
chain. The head's hash, printed by ``manage.py verify_record`` and shown on the Verify
page, is what an audit writes in its minutes, so a later rebuild shows as a different
head.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef

from portal.audit import ledger, registry
from portal.audit.models import AuditEvent, ChainHead, Entry

CHUNK = 2000  # lines read (and their rows fetched) at a time


@dataclass(frozen=True)
class Break:
    """The first broken link: what is wrong, in words, and where."""

    problem: str
    line_id: int | None = None
    source_table: str = ""
    source_id: int | None = None


@dataclass
class Report:
    """What one verification checked and what it found."""

    lines: int = 0
    history_rows: int = 0
    events: int = 0
    head_id: int | None = None
    head_hash: str = ""
    broken: Break | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def summary(self) -> str:
        """One sentence for the command's output and the Verify page."""
        if self.broken is not None:
            return f"Record broken: {self.broken.problem}."
        head = f"line {self.head_id}, hash {self.head_hash}" if self.head_id else "empty"
        return (
            f"Record intact: {self.lines} lines, {self.history_rows} history rows, "
            f"{self.events} security events, chain head {head}."
        )

    @property
    def head_fingerprint(self) -> str:
        """The head's hash in groups of eight, as people copy it into minutes."""
        return " ".join(self.head_hash[i : i + 8] for i in range(0, len(self.head_hash), 8))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        broken = data.get("broken")
        return cls(**{**data, "broken": Break(**broken) if broken else None})


@dataclass(frozen=True)
class _Source:
    """A table the record's lines point at: a followed model's history, or the events."""

    model: type[models.Model]
    noun: str  # "answer", "security event"
    is_event: bool
    # A history model's many-to-many snapshots: (field name, snapshot model, id column).
    snapshots: tuple[tuple[str, type[models.Model], str], ...] = field(default=())

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def describe(self, pk: Any) -> str:
        if self.is_event:
            return f"security event {self.table} #{pk}"
        return f"history row {self.table} #{pk} ({self.noun})"

    def digests(self, ids: Sequence[int]) -> dict[int, str]:
        """``{row id: digest of its content}`` for the rows among ``ids`` that exist, as
        ``ledger.row_content`` digests them, in one query (plus one per snapshot)."""
        rows = list(self.model._base_manager.filter(pk__in=ids).order_by())
        snapshot_ids: dict[str, dict[int, list[Any]]] = {}
        for name, snapshot_model, column in self.snapshots:
            found: dict[int, list[Any]] = defaultdict(list)
            pairs = snapshot_model._base_manager.filter(history_id__in=ids).values_list(
                "history_id", column
            )
            for history_id, member in pairs:
                found[history_id].append(member)
            snapshot_ids[name] = found
        result = {}
        for row in rows:
            if self.snapshots:
                # The snapshots come from the batch above, not one query per row.
                row._history_m2m_fields = ()  # type: ignore[attr-defined]
            content = ledger.row_content(row)
            for name, found in snapshot_ids.items():
                content[name] = sorted(found.get(row.pk, ()))
            result[row.pk] = ledger.digest(content)
        return result


def _history_source(label: str) -> _Source:
    history = apps.get_model(label).history.model
    snapshots = []
    for m2m in getattr(history, "_history_m2m_fields", ()):
        snapshot_model = getattr(history, m2m.name).model
        column = next(
            f.attname
            for f in snapshot_model._meta.concrete_fields
            if f.is_relation and f.related_model is m2m.related_model
        )
        snapshots.append((m2m.name, snapshot_model, column))
    return _Source(history, registry.noun(label), False, tuple(snapshots))


def sources() -> dict[str, _Source]:
    """Every table the record covers, by name."""
    found = [_history_source(label) for label in registry.audited_labels()]
    found.append(_Source(AuditEvent, "security event", True))
    return {source.table: source for source in found}


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """Read everything from one consistent view of the database."""
    if connection.in_atomic_block:  # inside the caller's transaction: read in it
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _link(line: Entry, previous: Entry | None, head: ChainHead | None) -> Break | None:
    """What is wrong with ``line`` as the link after ``previous``, if anything."""
    if head is not None and line.pk > head.last_id:
        return Break(
            f"line {line.pk} was added behind the application's back "
            f"(it comes after the chain head, line {head.last_id})",
            line_id=line.pk,
        )
    if ledger.digest(ledger.line_content(line)) != line.chain_hash:
        return Break(
            f"line {line.pk} was altered (its content no longer matches its hash)",
            line_id=line.pk,
        )
    expected = previous.chain_hash if previous is not None else ledger.GENESIS
    if line.prev_hash == expected:
        return None
    if previous is None:
        problem = f"the chain does not start at line {line.pk}: the lines before it are missing"
    elif line.pk == previous.pk + 2:
        problem = (
            f"line {line.pk - 1} is missing "
            f"(the chain skips from line {previous.pk} to line {line.pk})"
        )
    elif line.pk > previous.pk + 2:
        problem = (
            f"a line between line {previous.pk} and line {line.pk} is missing "
            f"(the chain skips from one to the other)"
        )
    else:
        problem = (
            f"line {line.pk} does not follow line {previous.pk} "
            f"(its link to the line before was rewritten)"
        )
    return Break(problem, line_id=line.pk)


def _first_bad_row(lines: Sequence[Entry], known: dict[str, _Source]) -> tuple[int, Break] | None:
    """The first of ``lines`` (its index) whose row is gone or no longer what it records."""
    by_table: dict[str, list[tuple[int, Entry]]] = defaultdict(list)
    for index, line in enumerate(lines):
        by_table[line.source_table].append((index, line))
    found: list[tuple[int, Break]] = []
    for table, wanted in by_table.items():
        source = known.get(table)
        if source is None:
            index, line = wanted[0]
            problem = f"line {line.pk} records a row of {table}, a table the record does not keep"
            found.append((index, Break(problem, line.pk, table, line.source_id)))
            continue
        digests = source.digests([line.source_id for _, line in wanted])
        for index, line in wanted:
            digest = digests.get(line.source_id)
            if digest == line.content_hash:
                continue
            what = source.describe(line.source_id)
            problem = (
                f"{what} was deleted (line {line.pk} records it)"
                if digest is None
                else f"{what} differs from what the record holds (line {line.pk})"
            )
            found.append((index, Break(problem, line.pk, table, line.source_id)))
            break
    return min(found, key=lambda pair: pair[0]) if found else None


def _head_break(head: ChainHead | None, last: Entry | None, count: int) -> Break | None:
    if head is None:
        return Break(f"the chain head is missing ({count} lines)") if count else None
    if last is None:
        if head.count or head.last_id:
            return Break(
                f"the chain ends before its recorded head: no lines, the head names "
                f"line {head.last_id}"
            )
        return None
    if last.pk < head.last_id:
        return Break(
            f"the chain ends before its recorded head: the last line is {last.pk}, "
            f"the head names line {head.last_id}",
            line_id=last.pk,
        )
    if last.pk != head.last_id or last.chain_hash != head.last_hash:
        return Break(f"the chain head does not match its last line, line {last.pk}")
    if head.count != count:
        return Break(f"the chain head counts {head.count} lines, the record holds {count}")
    return None


def _unrecorded(known: dict[str, _Source]) -> Break | None:
    """The first row of a covered table that no line records (an anti-join per table)."""
    for table, source in known.items():
        lines = Entry.objects.filter(source_table=table, source_id=OuterRef("pk"))
        missing = (
            source.model._base_manager.filter(~Exists(lines))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if missing is not None:
            return Break(
                f"a {source.describe(missing)} was added behind the application's back "
                f"(no line records it)",
                source_table=table,
                source_id=missing,
            )
    return None


def verify_record(*, chunk: int = CHUNK) -> Report:
    """Check the whole record; the report names the first broken link, if any."""
    started = time.monotonic()
    report = Report()
    known = sources()
    with _one_snapshot():
        head = ChainHead.objects.filter(pk=1).first()
        report.broken = _walk(report, head, known, chunk) or _unrecorded(known)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _walk(
    report: Report, head: ChainHead | None, known: dict[str, _Source], chunk: int
) -> Break | None:
    """Walk the lines in id order, chunk by chunk; then compare the head."""
    previous: Entry | None = None
    event_table = AuditEvent._meta.db_table
    while True:
        after = previous.pk if previous is not None else 0
        lines = list(Entry.objects.filter(pk__gt=after).order_by("pk")[:chunk])
        if not lines:
            break
        chain_break: tuple[int, Break] | None = None
        before = previous
        for index, line in enumerate(lines):
            if broken := _link(line, before, head):
                chain_break = (index, broken)
                break
            before = line
        row_break = _first_bad_row(lines, known)
        breaks = [b for b in (chain_break, row_break) if b is not None]
        if breaks:
            index, broken = min(breaks, key=lambda pair: pair[0])  # the chain's first on a tie
            _count(report, lines[:index], event_table)
            return broken
        _count(report, lines, event_table)
        previous = lines[-1]
    if previous is not None:
        report.head_id, report.head_hash = previous.pk, previous.chain_hash
    return _head_break(head, previous, report.lines)


def _count(report: Report, lines: Sequence[Entry], event_table: str) -> None:
    events = sum(1 for line in lines if line.source_table == event_table)
    report.lines += len(lines)
    report.events += events
    report.history_rows += len(lines) - events
