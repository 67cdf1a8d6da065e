"""A review exactly as it stood at a past moment, rebuilt from the history tables.

The view an in-person launch audit puts on the wall, and the content of an audit pack.
``review_as_of`` reads, for each followed model, the newest history row of every record
written at or before the moment (one query per model, never one per answer) and drops
records whose newest row then was a deletion. ``review_now`` builds the same shape from
the live tables, so the two compare field by field (``reviews.record.since``) and a test
can hold the history to what was live.

Everything is plain, frozen data: equality means "the review stood the same". Fields
marked ``compare=False`` only carry the highlights of what changed since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from checklists.models import ChecklistVersion, Item
from portal.accounts.models import User
from portal.accounts.roles import role_label
from reviews.models import (
    Answer,
    AnswerStatus,
    Evidence,
    EvidenceKind,
    Review,
    ReviewKind,
    ReviewState,
    Service,
    SignOff,
    SignOffDecision,
    Waiver,
    WaiverState,
)


class NotInRecord(LookupError):
    """The review did not exist at that moment (not started yet, or deleted by then)."""

    def __init__(self, message: str, started_at: datetime | None = None) -> None:
        super().__init__(message)
        self.started_at = started_at


@dataclass(frozen=True)
class FieldChange:
    """One value that differs between the moment and now, in words."""

    label: str
    then: str
    now: str


@dataclass(frozen=True)
class ItemThen:
    """A checklist item (items never change once their version is published)."""

    id: int
    ref: str
    text: str
    must_have: bool
    section: str


@dataclass(frozen=True)
class EvidenceThen:
    """Evidence that was current then: neither withdrawn nor superseded."""

    id: int
    answer_id: int
    kind: str
    kind_label: str
    url: str
    file: str  # the stored name (content-addressed)
    original_name: str
    content_type: str
    size: int | None
    sha256: str
    note: str
    effective_date: date
    fresh_until: date | None
    supersedes_id: int | None
    created_at: datetime
    created_by: str
    # Highlight: withdrawn or replaced since the moment.
    gone_since: bool = field(default=False, compare=False)

    @property
    def is_file(self) -> bool:
        return self.kind == EvidenceKind.FILE

    @property
    def is_link(self) -> bool:
        return self.kind == EvidenceKind.LINK

    @property
    def pack_path(self) -> str:
        """Where an audit pack keeps the file: the id keeps equal names apart."""
        name = get_valid_filename(self.original_name or "file") if self.original_name else ""
        return f"evidence/{self.id}-{name or 'file'}"


@dataclass(frozen=True)
class ExceptionThen:
    """An exception (waiver) in the state it had then; ``counts``: valid on that day."""

    id: int
    answer_id: int
    state: str
    state_label: str
    counts: bool
    rationale: str
    compensating_controls: str
    expires_on: date
    requested_by: str
    decided_by: str
    decided_at: datetime | None
    decision_comment: str
    created_at: datetime
    # Highlight: how it differs now.
    changed_since: tuple[FieldChange, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class AnswerThen:
    id: int
    item: ItemThen
    status: str
    status_label: str
    justification: str
    notes: str
    owner_id: int | None
    owner: str
    needs_recheck: bool
    revision: int
    updated_at: datetime
    updated_by: str
    evidence: tuple[EvidenceThen, ...]
    exceptions: tuple[ExceptionThen, ...]
    # Highlights: what differs now, and what was added since.
    changed_since: tuple[FieldChange, ...] = field(default=(), compare=False)
    evidence_added_since: tuple[EvidenceThen, ...] = field(default=(), compare=False)
    exceptions_added_since: tuple[ExceptionThen, ...] = field(default=(), compare=False)

    @property
    def highlighted(self) -> bool:
        return bool(
            self.changed_since
            or self.evidence_added_since
            or self.exceptions_added_since
            or any(e.gone_since for e in self.evidence)
            or any(x.changed_since for x in self.exceptions)
        )


@dataclass(frozen=True)
class SignOffThen:
    """A sign-off recorded by then; ``current``: it saw the review's content of then."""

    id: int
    role: str
    role_label: str
    reviewer: str
    decision: str
    decision_label: str
    approves: bool
    comment: str
    content_digest: str
    created_at: datetime
    current: bool
    # Highlight: it counted then and no longer does.
    stale_since: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class ReviewThen:
    """The review's own fields then, its stored summary included."""

    id: int
    service_id: int
    service_name: str
    kind: str
    kind_label: str
    state: str
    state_label: str
    target_date: date | None
    created_at: datetime
    created_by: str
    state_changed_at: datetime | None
    submitted_at: datetime | None
    content_revision: int
    content_digest: str
    readiness_percent: int
    applicable_count: int
    met_count: int
    must_have_count: int
    must_haves_done: int
    waived_must_haves: int
    open_must_haves: int
    not_started_count: int
    pending_exceptions: int
    awaiting_roles: tuple[str, ...]
    last_activity_at: datetime | None

    @property
    def awaiting_role_labels(self) -> list[str]:
        return [role_label(role) for role in self.awaiting_roles]


@dataclass(frozen=True)
class SectionThen:
    title: str
    answers: tuple[AnswerThen, ...]


@dataclass(frozen=True)
class ReviewAsOf:
    """A review as it stood at ``moment``; equal to another when it stood the same."""

    moment: datetime = field(compare=False)
    review: ReviewThen
    checklist: str  # "Launch readiness v3"
    checklist_version_id: int
    required_roles: tuple[str, ...]
    sections: tuple[SectionThen, ...]
    signoffs: tuple[SignOffThen, ...]
    # Highlights (``reviews.record.since.highlighted``): compared with the record at ``now``.
    now: datetime | None = field(default=None, compare=False)
    review_changed_since: tuple[FieldChange, ...] = field(default=(), compare=False)
    signoffs_added_since: tuple[SignOffThen, ...] = field(default=(), compare=False)

    @property
    def answers(self) -> list[AnswerThen]:
        return [answer for section in self.sections for answer in section.answers]

    @property
    def evidence(self) -> list[EvidenceThen]:
        return [evidence for answer in self.answers for evidence in answer.evidence]

    @property
    def exceptions(self) -> list[ExceptionThen]:
        return [exception for answer in self.answers for exception in answer.exceptions]

    @property
    def required_role_labels(self) -> list[str]:
        return [role_label(role) for role in self.required_roles]

    @property
    def highlighted(self) -> bool:
        """Whether this was compared with now (so unmarked parts are unchanged)."""
        return self.now is not None

    @property
    def changed_since_count(self) -> int:
        """How many parts are marked as changed since (for the page's summary)."""
        return (
            len(self.review_changed_since)
            + len(self.signoffs_added_since)
            + sum(s.stale_since for s in self.signoffs)
            + sum(a.highlighted for a in self.answers)
        )


# --- reading the history ----------------------------------------------------------------


def _history(model: type[models.Model]) -> Any:
    return model.history  # type: ignore[attr-defined]


def _as_of(model: type[models.Model], moment: datetime, **filters: Any) -> Any:
    """The newest history row at or before ``moment`` of each record matching
    ``filters``, without records deleted by then: one query.

    simple-history's own ``as_of`` keeps every row sharing the newest timestamp (two
    saves in one instant, e.g. a review created and summarised in one transaction under
    a frozen clock); the history id breaks such ties here.
    """
    rows = _history(model).filter(history_date__lte=moment, **filters)
    later = _history(model).filter(
        Q(history_date__gt=OuterRef("history_date"))
        | Q(history_date=OuterRef("history_date"), history_id__gt=OuterRef("history_id")),
        id=OuterRef("id"),
        history_date__lte=moment,
    )
    return rows.filter(~Exists(later)).exclude(history_type="-").order_by("id")


def _label(choices: type[models.TextChoices], value: str) -> str:
    return str(choices(value).label) if value in choices.values else value


def _people(ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the people involved (one query); a deleted account reads as ""."""
    wanted = {pk for pk in ids if pk}
    if not wanted:
        return {}
    return {user.pk: str(user) for user in User.objects.filter(pk__in=wanted)}


@dataclass(frozen=True)
class _Rows:
    """One review's rows (history rows or live ones: they share attribute names)."""

    review: Any
    service_name: str
    version: ChecklistVersion
    items: list[Item]
    answers: list[Any]
    evidence: list[Any]
    waivers: list[Any]
    signoffs: list[Any]


def review_as_of(review: Review, moment: datetime) -> ReviewAsOf:
    """``review`` exactly as it stood at ``moment``, from the history tables.

    Nine queries at most, whatever the review holds: the review, its service (for the
    name then), the checklist version, its items, then answers, evidence, exceptions and
    sign-offs (each the newest row per record), and the people named. Raises NotInRecord
    when the review did not exist then.
    """
    found = _as_of(Review, moment, id=review.pk).first()
    if found is None:
        raise NotInRecord(
            "The review did not exist yet at that moment.", started_at=review.created_at
        )
    service_then = _as_of(Service, moment, id=found.service_id).first()
    answers = list(_as_of(Answer, moment, review_id=review.pk))
    answer_ids = [a.id for a in answers]
    rows = _Rows(
        review=found,
        service_name=service_then.name if service_then else review.service.name,
        version=_version(found.checklist_version_id),
        items=_items(found.checklist_version_id),
        answers=answers,
        evidence=list(_as_of(Evidence, moment, answer_id__in=answer_ids)),
        waivers=list(_as_of(Waiver, moment, answer_id__in=answer_ids)),
        signoffs=list(_as_of(SignOff, moment, review_id=review.pk)),
    )
    return _assemble(moment, rows)


def review_now(review: Review) -> ReviewAsOf:
    """The same shape as ``review_as_of``, from the live tables (as many queries)."""
    live = Review.objects.select_related("service").get(pk=review.pk)
    answers = list(Answer.objects.filter(review_id=live.pk).order_by("id"))
    answer_ids = [a.id for a in answers]
    rows = _Rows(
        review=live,
        service_name=live.service.name,
        version=_version(live.checklist_version_id),
        items=_items(live.checklist_version_id),
        answers=answers,
        evidence=list(Evidence.objects.filter(answer_id__in=answer_ids).order_by("id")),
        waivers=list(Waiver.objects.filter(answer_id__in=answer_ids).order_by("id")),
        signoffs=list(SignOff.objects.filter(review_id=live.pk).order_by("id")),
    )
    return _assemble(timezone.now(), rows)


def _version(pk: int) -> ChecklistVersion:
    version: ChecklistVersion = ChecklistVersion.objects.select_related("checklist").get(pk=pk)
    return version


def _items(version_id: int) -> list[Item]:
    # The review page's order: by section, must-haves first.
    return list(
        Item.objects.filter(version_id=version_id)
        .select_related("section")
        .order_by("section__order", "section__id", "-must_have", "order", "id")
    )


# --- putting it together --------------------------------------------------------------------


def _assemble(moment: datetime, rows: _Rows) -> ReviewAsOf:
    r = rows.review
    people = _people(
        [
            r.created_by_id,
            *(a.owner_id for a in rows.answers),
            *(a.updated_by_id for a in rows.answers),
            *(e.created_by_id for e in rows.evidence),
            *(w.requested_by_id for w in rows.waivers),
            *(w.decided_by_id for w in rows.waivers),
            *(s.reviewer_id for s in rows.signoffs),
        ]
    )

    def person(pk: int | None) -> str:
        return people.get(pk, "") if pk else ""

    # Current evidence: not withdrawn, and no row of then supersedes it.
    superseded = {e.supersedes_id for e in rows.evidence if e.supersedes_id}
    evidence: dict[int, list[EvidenceThen]] = {}
    for e in rows.evidence:
        if e.withdrawn_at is None and e.id not in superseded:
            evidence.setdefault(e.answer_id, []).append(_evidence(e, person))
    day = timezone.localdate(moment)
    exceptions: dict[int, list[ExceptionThen]] = {}
    for w in sorted(rows.waivers, key=lambda w: (w.created_at, w.id)):
        exceptions.setdefault(w.answer_id, []).append(_exception(w, day, person))

    by_item = {a.item_id: a for a in rows.answers}
    sections: list[SectionThen] = []
    for item in rows.items:
        row = by_item.get(item.pk)
        if row is None:  # answers are written just after their review starts
            continue
        answer = _answer(row, item, person, evidence.get(row.id, []), exceptions.get(row.id, []))
        if not sections or sections[-1].title != item.section.title:
            sections.append(SectionThen(title=item.section.title, answers=()))
        last = sections[-1]
        sections[-1] = SectionThen(title=last.title, answers=(*last.answers, answer))

    return ReviewAsOf(
        moment=moment,
        review=_review(r, rows.service_name, person),
        checklist=f"{rows.version.checklist.title} v{rows.version.number}",
        checklist_version_id=rows.version.pk,
        required_roles=tuple(rows.version.required_signoff_roles),
        sections=tuple(sections),
        signoffs=tuple(
            _signoff(s, r.content_digest, person)
            for s in sorted(rows.signoffs, key=lambda s: (s.created_at, s.id))
        ),
    )


def _review(r: Any, service_name: str, person: Any) -> ReviewThen:
    return ReviewThen(
        id=r.id,
        service_id=r.service_id,
        service_name=service_name,
        kind=r.kind,
        kind_label=_label(ReviewKind, r.kind),
        state=r.state,
        state_label=_label(ReviewState, r.state),
        target_date=r.target_date,
        created_at=r.created_at,
        created_by=person(r.created_by_id),
        state_changed_at=r.state_changed_at,
        submitted_at=r.submitted_at,
        content_revision=r.content_revision,
        content_digest=r.content_digest,
        readiness_percent=r.readiness_percent,
        applicable_count=r.applicable_count,
        met_count=r.met_count,
        must_have_count=r.must_have_count,
        must_haves_done=r.must_haves_done,
        waived_must_haves=r.waived_must_haves,
        open_must_haves=r.open_must_haves,
        not_started_count=r.not_started_count,
        pending_exceptions=r.pending_exceptions,
        awaiting_roles=tuple(role for role in r.awaiting_roles.split(",") if role),
        last_activity_at=r.last_activity_at,
    )


def _answer(
    a: Any,
    item: Item,
    person: Any,
    evidence: list[EvidenceThen],
    exceptions: list[ExceptionThen],
) -> AnswerThen:
    return AnswerThen(
        id=a.id,
        item=ItemThen(
            id=item.pk,
            ref=item.ref,
            text=item.text,
            must_have=item.must_have,
            section=item.section.title,
        ),
        status=a.status,
        status_label=_label(AnswerStatus, a.status),
        justification=a.justification,
        notes=a.notes,
        owner_id=a.owner_id,
        owner=person(a.owner_id),
        needs_recheck=a.needs_recheck,
        revision=a.revision,
        updated_at=a.updated_at,
        updated_by=person(a.updated_by_id),
        evidence=tuple(evidence),
        exceptions=tuple(exceptions),
    )


def _evidence(e: Any, person: Any) -> EvidenceThen:
    return EvidenceThen(
        id=e.id,
        answer_id=e.answer_id,
        kind=e.kind,
        kind_label=_label(EvidenceKind, e.kind),
        url=e.url,
        file=str(e.file or ""),
        original_name=e.original_name,
        content_type=e.content_type,
        size=e.size,
        sha256=e.sha256,
        note=e.note,
        effective_date=e.effective_date,
        fresh_until=e.fresh_until,
        supersedes_id=e.supersedes_id,
        created_at=e.created_at,
        created_by=person(e.created_by_id),
    )


def _exception(w: Any, day: date, person: Any) -> ExceptionThen:
    # The rule lives on the model: a history row turns into a Waiver for it.
    waiver = w if isinstance(w, Waiver) else w.instance
    return ExceptionThen(
        id=w.id,
        answer_id=w.answer_id,
        state=w.state,
        state_label=_label(WaiverState, w.state),
        counts=waiver.is_valid(day),
        rationale=w.rationale,
        compensating_controls=w.compensating_controls,
        expires_on=w.expires_on,
        requested_by=person(w.requested_by_id),
        decided_by=person(w.decided_by_id),
        decided_at=w.decided_at,
        decision_comment=w.decision_comment,
        created_at=w.created_at,
    )


def _signoff(s: Any, review_digest: str, person: Any) -> SignOffThen:
    signoff = s if isinstance(s, SignOff) else s.instance
    return SignOffThen(
        id=s.id,
        role=s.role,
        role_label=role_label(s.role),
        reviewer=person(s.reviewer_id),
        decision=s.decision,
        decision_label=_label(SignOffDecision, s.decision),
        approves=signoff.approves,
        comment=s.comment,
        content_digest=s.content_digest,
        created_at=s.created_at,
        # SignOff.is_current, against the review's content as it stood then.
        current=s.content_digest == review_digest,
    )


# --- as data ----------------------------------------------------------------------------


def as_data(value: Any) -> Any:
    """Plain JSON-ready data (for review.json): the compared fields only, so the pack holds
    the state, not the page's highlights; dates as ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_data(getattr(value, f.name)) for f in fields(value) if f.compare}
    if isinstance(value, tuple | list):
        return [as_data(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
