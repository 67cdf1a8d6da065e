"""Writing the shared record: one line for every history row of a followed model and
for every security event, in the same transaction, chained.

Every history row django-simple-history writes for a registered model becomes a line
(``from_history``, called by the receiver in ``portal.audit.receivers``, and by bulk
writes through ``from_history_rows``); every ``AuditEvent`` too (``from_event``). A line
holds the digest of the row it records and the digest of the line before. Appending
locks the one chain head row until the transaction commits: lines are numbered in commit
order and the chain never forks (one chain, serialised, rather than one per partition:
the portal writes far fewer changes than it reads, and a single chain is one thing to
verify and to quote in an audit).

The lock order that keeps this free of deadlocks: a write transaction locks the rows it
changes first (``select_for_update`` of the review, the service …) and the chain last,
which the first history row does by itself. A transaction that holds the chain never
waits for a row another writer holds while waiting for the chain.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from allauth.core.internal.httpkit import get_client_ip
from django.db import models, transaction
from simple_history.models import HistoricalRecords

from portal.audit import registry
from portal.audit.models import AuditEvent, ChainHead, Entry
from portal.logs import current_request_id
from portal.validators import without_control_characters

GENESIS = "0" * 64
CHANGES = {"+": "created", "~": "changed", "-": "deleted"}
VALUE_LIMIT = 500  # characters of one value kept in a line's changes


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)  # files (their name), UUIDs, addresses


def canonical(value: Any) -> str:
    """The one text form every digest is taken of (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def row_content(row: models.Model) -> dict[str, Any]:
    """A stored row's content, field by field (and a history row's tracked
    many-to-many values), as digested."""
    content = {f.attname: _plain(f.value_from_object(row)) for f in row._meta.concrete_fields}
    for field in getattr(row, "_history_m2m_fields", ()):  # a history row's snapshots
        content[field.name] = _m2m_ids(row, field)
    return content


def _m2m_ids(history_row: Any, field: Any) -> list[Any]:
    """The ids a history row's snapshot of a many-to-many field holds (e.g. editors)."""
    snapshot = getattr(history_row, field.name)
    column = next(
        f.attname
        for f in snapshot.model._meta.concrete_fields
        if f.is_relation and f.related_model is field.related_model
    )
    return sorted(snapshot.values_list(column, flat=True))


def line_content(entry: Entry) -> dict[str, Any]:
    """What a line's own digest covers: every field but the digest itself."""
    return {
        "at": entry.at.isoformat(),
        "record_type": entry.record_type,
        "record_id": entry.record_id,
        "record_label": entry.record_label,
        "change": entry.change,
        "changes": entry.changes,
        "reason": entry.reason,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "request_id": entry.request_id,
        "ip_address": entry.ip_address,
        "root": entry.root,
        "branch": entry.branch,
        "source_table": entry.source_table,
        "source_id": entry.source_id,
        "content_hash": entry.content_hash,
        "prev_hash": entry.prev_hash,
    }


def append(entry: Entry) -> Entry:
    """Chain ``entry`` after the newest line and store it, in the caller's transaction
    (whose commit releases the chain)."""
    return append_many([entry])[0]


def append_many(entries: list[Entry]) -> list[Entry]:
    """Chain ``entries``, in order, after the newest line: one lock, one insert."""
    if not entries:
        return entries
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        previous = head.last_hash or GENESIS
        for entry in entries:
            entry.prev_hash = previous
            entry.chain_hash = previous = digest(line_content(entry))
        if len(entries) == 1:
            entries[0].save(force_insert=True)
        else:
            entries = Entry.objects.bulk_create(entries)
        head.last_id, head.last_hash = entries[-1].pk, entries[-1].chain_hash
        head.count += len(entries)
        head.save(update_fields=["last_id", "last_hash", "count"])
    return entries


def current_request() -> Any:
    """The request being served, if any: simple-history's middleware keeps it at hand."""
    return getattr(HistoricalRecords.context, "request", None)


def client_ip(request: Any) -> str | None:
    """The address a request came from (allauth's reading of the trusted proxies)."""
    if request is None:
        return None
    try:
        found = get_client_ip(request)
    except Exception:  # a malformed forwarded header must not lose the line
        return None
    return str(found) if found else None


def _short(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, str) and len(value) > VALUE_LIMIT:
        return value[:VALUE_LIMIT] + "…"
    return value


def field_changes(history_row: Any) -> dict[str, list[Any]]:
    """Field by field, what this history row changed: {"Status": [old, new]}; for a new
    record every field that has a value."""
    model = history_row.instance_type
    labels = {f.name: str(f.verbose_name) for f in model._meta.fields}
    previous = history_row.prev_record if history_row.history_type != "+" else None
    if previous is not None:
        delta = history_row.diff_against(previous)
        return {
            labels.get(change.field, change.field): [_short(change.old), _short(change.new)]
            for change in delta.changes
        }
    found = {}
    for field in model._meta.fields:
        if field.primary_key:
            continue
        value = getattr(history_row, field.attname, None)
        if value not in (None, "", [], {}):
            found[labels[field.name]] = [None, _short(value)]
    return found


def line_for(instance: Any, history_row: Any) -> Entry | None:
    """The (unsaved) line for one history row of a registered model; None for others."""
    label = instance._meta.label_lower
    followed = registry.audited(label)
    if followed is None:
        return None
    request = current_request()
    user = history_row.history_user
    return Entry(
        at=history_row.history_date,
        record_type=label,
        record_id=str(instance.pk),
        record_label=without_control_characters(str(instance))[:300],
        change=CHANGES.get(history_row.history_type, history_row.history_type),
        changes=field_changes(history_row),
        reason=history_row.history_change_reason or "",
        actor=user if getattr(user, "pk", None) else None,
        actor_label=str(getattr(user, "email", "") or ""),
        request_id=getattr(history_row, "history_request_id", "") or current_request_id() or "",
        ip_address=getattr(history_row, "history_ip_address", None) or client_ip(request),
        root=followed.root(instance) or "",
        branch=followed.branch(instance) or "",
        source_table=history_row._meta.db_table,
        source_id=history_row.pk,
        content_hash=digest(row_content(history_row)),
    )


def from_history(instance: Any, history_row: Any) -> Entry | None:
    """Record one history row (the receiver of simple-history's signal calls this)."""
    line = line_for(instance, history_row)
    return append(line) if line is not None else None


def bulk_create_recorded(
    objs: list[Any], model: type[models.Model], *, by: Any = None, reason: str = ""
) -> list[Any]:
    """``bulk_create`` with history and the record's lines (simple-history's own bulk
    helper sends no signal, so nothing would reach the record)."""
    created: list[Any] = model._default_manager.bulk_create(objs)
    history_recorded(created, model, by=by, reason=reason)
    return created


def history_recorded(
    objs: list[Any], model: type[models.Model], *, by: Any = None, reason: str = ""
) -> None:
    """One "created" history row (and its line) for each of ``objs``, as they stand now:
    for rows saved with ``skip_history_when_saving`` while they were being put together
    (a new review, its answers and its summary), so the record has one row, complete."""
    rows = model.history.bulk_history_create(  # type: ignore[attr-defined]
        objs,
        default_user=by,
        default_change_reason=reason,
        custom_historical_attrs={
            "history_request_id": current_request_id() or "",
            "history_ip_address": client_ip(current_request()),
        },
    )
    lines = [line_for(instance, row) for instance, row in zip(objs, rows or (), strict=True)]
    append_many([line for line in lines if line is not None])


def from_event(event: AuditEvent) -> Entry:
    """Record a security event."""
    return append(event_line(event))


def event_line(event: AuditEvent) -> Entry:
    """The (unsaved) line for a security event."""
    return Entry(
        at=event.at,
        record_type="audit.event",
        record_id=str(event.pk),
        record_label=without_control_characters(
            f"{event.get_kind_display()}: {event.subject_label}"
            if event.subject_label
            else event.get_kind_display()
        )[:300],
        change=event.kind,
        changes=event.details,
        reason=event.get_kind_display(),
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        request_id=event.request_id,
        ip_address=event.ip_address,
        root="",
        branch=registry.key("accounts.user", event.subject_user_id)
        if event.subject_user_id
        else "",
        source_table=AuditEvent._meta.db_table,
        source_id=event.pk,
        content_hash=digest(row_content(event)),
    )
