"""Reading the shared record: the feed's lines, filtered, a page at a time; a record's
timeline with everything that belongs to it rolled up; and every line of a filter, in
chunks, for the exports.

Pages go "older than this moment": the cursor is the last line shown (its time and id),
never an OFFSET and never a COUNT(*), so a page deep in millions of lines costs what the
first does. Each query is an index range scan that stops after a page: (at, id) for the
whole feed, (root, at) for a service, (branch, at) for a review, (record, at) for one
record, (actor, at) for a person.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, DateTimeField, Model, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse

from portal.accounts.roles import role_label
from portal.audit import registry
from portal.audit.models import AuditKind, Entry

PAGE_SIZE = 50
CHUNK = 1000  # lines per query when exporting

CHANGES = {"created": "Created", "changed": "Changed", "deleted": "Deleted"}
CHANGE_WORDS = {**CHANGES, **{str(k): str(v) for k, v in AuditKind.choices}}

# A security event's details, in words; the ones the change's name already says are left
# out of the list ("Role granted (Product lead)").
_DETAIL_WORDS = {
    "attempted_username": "Name tried",
    "authenticator": "Authenticator",
    "api_url": "API address",
    "secret_changed": "Secret changed",
    "platform": "Platform",
    "created": "New",
    "enabled": "Enabled",
    "name": "Name",
    "team": "Team",
}
_IN_SUMMARY = {"role", "team_name", "group"}

_CURSOR = re.compile(r"(?P<at>[0-9T:.Z+\-]{10,40})\|(?P<id>[0-9]{1,18})")


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the time and id of its oldest line. Pages after it hold the
    lines strictly older in (time, id) order, so equal times never lose or repeat one."""

    at: datetime
    id: int

    def __str__(self) -> str:
        # UTC with a Z: nothing in it needs escaping in a URL.
        return f"{self.at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z|{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor written by ``str()``; ValueError for anything else."""
        found = _CURSOR.fullmatch(text)
        if found is None:
            raise ValueError("not a cursor")
        at = datetime.fromisoformat(found["at"])
        if at.tzinfo is None:
            raise ValueError("a cursor's time names its zone")
        return cls(at, int(found["id"]))


@dataclass(frozen=True)
class Filters:
    """What the feed is narrowed to; every part optional."""

    root: str = ""  # "reviews.service:5": the lines of one service
    actor_id: int | None = None
    record_type: str = ""
    change: str = ""
    request_id: str = ""
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def lines(filters: Filters) -> QuerySet[Entry]:
    """The lines matching ``filters``, newest first."""
    found = Entry.objects.all()
    if filters.root:
        found = found.filter(root=filters.root)
    if filters.actor_id is not None:
        found = found.filter(actor_id=filters.actor_id)
    if filters.record_type:
        found = found.filter(record_type=filters.record_type)
    if filters.change:
        found = found.filter(change=filters.change)
    if filters.request_id:
        found = found.filter(request_id=filters.request_id)
    if filters.since is not None:
        found = found.filter(at__gte=filters.since)
    if filters.until is not None:
        found = found.filter(at__lt=filters.until)
    return found.order_by("-at", "-id")


def rooted_in(found: QuerySet[Entry], records: QuerySet[Any]) -> QuerySet[Entry]:
    """Only the lines rooted at one of ``records`` (the services someone may read), in
    SQL: the roots are built from the records' ids, never listed in Python."""
    label = records.model._meta.label_lower
    keys = records.order_by().annotate(
        _record_key=Concat(Value(f"{label}:"), Cast("pk", output_field=CharField()))
    )
    return found.filter(root__in=keys.values("_record_key"))


def older_than(found: QuerySet[Entry], cursor: Cursor | None) -> QuerySet[Entry]:
    """The lines strictly older than ``cursor``. ``at <= t`` bounds the index range; the
    rest breaks ties between equal times by id."""
    if cursor is None:
        return found
    return found.filter(Q(at__lt=cursor.at) | Q(at=cursor.at, id__lt=cursor.id), at__lte=cursor.at)


# --- a page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line as a page shows it, in words."""

    entry: Entry
    noun: str
    change: str
    fields: list[tuple[str, str, str]]  # (field, old, new)
    details: list[tuple[str, str]]  # a security event's
    timeline_url: str
    is_event: bool


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    older: Cursor | None  # the cursor of the next (older) page, if there is one
    newest: bool  # whether this is the first page

    @property
    def before(self) -> str | None:
        """The older page's ``before`` parameter."""
        return str(self.older) if self.older is not None else None


def page(arms: Iterable[QuerySet[Entry]], before: Cursor | None, size: int = PAGE_SIZE) -> Page:
    """One page of lines older than ``before``: one query, ``size + 1`` rows (the extra
    one says whether an older page exists). Several ``arms`` (a record's own lines, its
    root's, its branch's) are each cut to a page before they are merged, so each stays
    an index range scan however long the record."""
    cut = [older_than(arm, before).order_by("-at", "-id")[: size + 1] for arm in arms]
    if len(cut) == 1:
        found = list(cut[0])
    elif connection.features.supports_slicing_ordering_in_compound:
        found = list(cut[0].union(*cut[1:]).order_by("-at", "-id")[: size + 1])
    else:  # SQLite (the demo) cannot cut the arms of a UNION: merge them here
        merged = {entry.pk: entry for arm in cut for entry in arm}
        found = sorted(merged.values(), key=lambda e: (e.at, e.pk), reverse=True)[: size + 1]
    shown = found[:size]
    older = Cursor(shown[-1].at, shown[-1].pk) if len(found) > size else None
    return Page([present(entry) for entry in shown], older, before is None)


def every_line(found: QuerySet[Entry], chunk: int = CHUNK) -> Iterator[Entry]:
    """Every line of ``found``, newest first, ``chunk`` at a time (each chunk a keyset
    query: an export of millions of lines never holds them all, nor a transaction)."""
    cursor = None
    while True:
        batch = list(older_than(found, cursor).order_by("-at", "-id")[:chunk])
        yield from batch
        if len(batch) < chunk:
            return
        cursor = Cursor(batch[-1].at, batch[-1].pk)


def present(entry: Entry) -> Line:
    is_event = entry.record_type == registry.EVENTS
    return Line(
        entry=entry,
        noun=registry.noun(entry.record_type),
        change=change_words(entry.change, entry.changes if is_event else None),
        fields=[] if is_event else _fields(entry.record_type, entry.changes),
        details=_details(entry.changes) if is_event else [],
        timeline_url=reverse("audit:timeline", args=[entry.record_type, entry.record_id]),
        is_event=is_event,
    )


def change_words(change: str, details: Any = None) -> str:
    """ "Changed", "Sign-in failed", "Role granted (Product lead)"."""
    words = CHANGE_WORDS.get(change) or change.replace("_", " ").capitalize()
    if isinstance(details, dict):
        said = [role_label(str(details["role"]))] if details.get("role") else []
        if details.get("team_name"):
            said.append(str(details["team_name"]))
        if said:
            words += f" ({', '.join(said)})"
    return words


def value_text(value: Any) -> str:
    """A stored value as a page shows it ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _fields(record_type: str, changes: Any) -> list[tuple[str, str, str]]:
    if not isinstance(changes, dict):
        return []
    words = _field_words(record_type)
    found = []
    for name, pair in changes.items():
        old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        say = words.get(str(name), value_text)
        found.append((str(name), say(old), say(new)))
    return found


@functools.cache
def _field_words(record_type: str) -> dict[str, Callable[[Any], str]]:
    """How to say each field's stored value of a kind of record, by the field's label (as
    lines key their changes): a choice by its label ("Met", not "met"), a link to another
    record by its kind and id ("user #4"), with no query per line."""
    try:
        model = apps.get_model(record_type)
    except (LookupError, ValueError):
        return {}
    words: dict[str, Callable[[Any], str]] = {}
    for model_field in model._meta.fields:
        label = str(model_field.verbose_name)
        if model_field.choices:
            choices = {str(k): str(v) for k, v in model_field.flatchoices}
            words[label] = _say_choice(choices)
        elif isinstance(model_field, DateTimeField):
            words[label] = _say_moment
        elif model_field.is_relation and model_field.related_model is not None:
            related = model_field.related_model
            words[label] = _say_link(registry.noun(related._meta.label_lower))
    return words


def _say_choice(choices: dict[str, str]) -> Callable[[Any], str]:
    return lambda value: choices.get(str(value), value_text(value)) if value is not None else ""


def _say_moment(value: Any) -> str:
    """A stored moment as the pages show times: UTC, to the second."""
    try:
        return f"{datetime.fromisoformat(str(value)).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    except ValueError:
        return value_text(value)


def _say_link(noun: str) -> Callable[[Any], str]:
    return lambda value: f"{noun} #{value}" if value not in (None, "") else ""


def _details(details: Any) -> list[tuple[str, str]]:
    if not isinstance(details, dict):
        return []
    return [
        (_DETAIL_WORDS.get(name, name.replace("_", " ").capitalize()), value_text(value))
        for name, value in details.items()
        if name not in _IN_SUMMARY and value not in (None, "")
    ]


# --- a record's timeline -------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A record a timeline is about, found through its lines (so a deleted record keeps
    its timeline): its kind, id, name, the record it belongs to (its root) and its page."""

    record_type: str
    record_id: str
    label: str
    root_key: str
    root: Model | None  # None: no root, or the root is gone
    page_url: str | None = None
    is_root: bool = field(default=False)

    @property
    def key(self) -> str:
        return registry.key(self.record_type, self.record_id)

    @property
    def noun(self) -> str:
        return registry.noun(self.record_type)

    @property
    def read_by_role(self) -> bool:
        """Whether the lines are read by whoever may read the root (a service, a checklist)
        rather than by auditors alone."""
        return self.root is not None and registry.reader(self.root._meta.label_lower) is not None


def record(record_type: str, record_id: str) -> Record | None:
    """The record ``record_type``/``record_id`` if the record holds a line about it or
    belonging to it; None otherwise. One query for a record with lines of its own."""
    key = registry.key(record_type, record_id)
    own = (
        Entry.objects.filter(record_type=record_type, record_id=record_id)
        .order_by("-at", "-id")
        .values_list("record_label", "root")
        .first()
    )
    if own is not None:
        label, root_key = own
    elif Entry.objects.filter(root=key).exists():
        label, root_key = "", key
    else:
        below = Entry.objects.filter(branch=key).values_list("root", flat=True).first()
        if below is None:
            return None
        label, root_key = "", below
    itself = instance(key)
    root = itself if root_key == key else instance(root_key)
    return Record(
        record_type=record_type,
        record_id=record_id,
        label=label or (str(itself) if itself is not None else ""),
        root_key=root_key,
        root=root,
        page_url=registry.page_url(itself) if itself is not None else None,
        is_root=root_key == key,
    )


def timeline(found: Record, *, own_only: bool) -> list[QuerySet[Entry]]:
    """The arms of a record's timeline: its own lines and, rolled up, every line rooted
    or branched at it (a service's reviews, answers, evidence...; a review's answers)."""
    base = Entry.objects.all()
    own = base.filter(record_type=found.record_type, record_id=found.record_id)
    if own_only:
        return [own]
    return [own, base.filter(root=found.key), base.filter(branch=found.key)]


def instance(key: str) -> Model | None:
    """The live record at ``key`` ("reviews.service:5"), if it still exists."""
    label, _, pk = key.rpartition(":")
    if not label or not pk:
        return None
    try:
        model = apps.get_model(label)
        found: Model | None = model._default_manager.filter(pk=pk).first()
    except (LookupError, ValueError, TypeError, ValidationError):
        return None
    return found
