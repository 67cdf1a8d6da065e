"""What changed in a review between a past moment and now.

``compare`` lines up two ``ReviewAsOf`` (the moment's and now's) record by record;
``highlighted`` marks the moment's view with it, so the page (and an audit projecting it)
sees what differs today without a second page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from reviews.models import Review
from reviews.record.asof import (
    AnswerThen,
    EvidenceThen,
    ExceptionThen,
    FieldChange,
    ReviewAsOf,
    SignOffThen,
    review_as_of,
    review_now,
)


@dataclass(frozen=True)
class ChangesSince:
    """Which parts of the review differ now from how they stood at the moment."""

    review: tuple[FieldChange, ...]
    answers: dict[int, tuple[FieldChange, ...]]  # answer id -> its changed fields
    evidence_added: tuple[EvidenceThen, ...]
    evidence_gone: frozenset[int]  # current then; withdrawn or replaced since
    exceptions_added: tuple[ExceptionThen, ...]
    exceptions_changed: dict[int, tuple[FieldChange, ...]]
    signoffs_added: tuple[SignOffThen, ...]
    signoffs_stale: frozenset[int]  # counted then, no longer

    @property
    def any(self) -> bool:
        return bool(
            self.review
            or self.answers
            or self.evidence_added
            or self.evidence_gone
            or self.exceptions_added
            or self.exceptions_changed
            or self.signoffs_added
            or self.signoffs_stale
        )


def _words(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _differences(
    then: Any, now: Any, labels: dict[str, tuple[str, str]]
) -> tuple[FieldChange, ...]:
    """``labels``: label -> (attribute compared, attribute shown)."""
    return tuple(
        FieldChange(label, _words(getattr(then, shown)), _words(getattr(now, shown)))
        for label, (compared, shown) in labels.items()
        if getattr(then, compared) != getattr(now, compared)
    )


REVIEW_FIELDS = {
    "Service": ("service_name", "service_name"),
    "State": ("state", "state_label"),
    "Kind": ("kind", "kind_label"),
    "Target date": ("target_date", "target_date"),
    "Readiness %": ("readiness_percent", "readiness_percent"),
    "Open must-haves": ("open_must_haves", "open_must_haves"),
    "Exceptions awaiting a decision": ("pending_exceptions", "pending_exceptions"),
    "Sign-offs awaited from": ("awaiting_roles", "awaiting_role_labels"),
}
ANSWER_FIELDS = {
    "Status": ("status", "status_label"),
    "Justification": ("justification", "justification"),
    "Notes": ("notes", "notes"),
    "Owner": ("owner_id", "owner"),
    "Needs a re-check": ("needs_recheck", "needs_recheck"),
}
EXCEPTION_FIELDS = {
    "State": ("state", "state_label"),
    "Counts": ("counts", "counts"),
    "Expires": ("expires_on", "expires_on"),
    "Decision comment": ("decision_comment", "decision_comment"),
}


def compare(then: ReviewAsOf, now: ReviewAsOf) -> ChangesSince:
    answers_now = {a.id: a for a in now.answers}
    evidence_then = {e.id for e in then.evidence}
    evidence_now = {e.id for e in now.evidence}
    exceptions_then = {x.id: x for x in then.exceptions}
    signoffs_now = {s.id: s for s in now.signoffs}
    signoffs_then = {s.id for s in then.signoffs}
    answers: dict[int, tuple[FieldChange, ...]] = {}
    for answer in then.answers:
        if answer.id in answers_now:
            changed = _differences(answer, answers_now[answer.id], ANSWER_FIELDS)
            if changed:
                answers[answer.id] = changed
    exceptions_changed: dict[int, tuple[FieldChange, ...]] = {}
    for exception in now.exceptions:
        if exception.id in exceptions_then:
            changed = _differences(exceptions_then[exception.id], exception, EXCEPTION_FIELDS)
            if changed:
                exceptions_changed[exception.id] = changed
    return ChangesSince(
        review=_differences(then.review, now.review, REVIEW_FIELDS),
        answers=answers,
        evidence_added=tuple(e for e in now.evidence if e.id not in evidence_then),
        evidence_gone=frozenset(evidence_then - evidence_now),
        exceptions_added=tuple(x for x in now.exceptions if x.id not in exceptions_then),
        exceptions_changed=exceptions_changed,
        signoffs_added=tuple(s for s in now.signoffs if s.id not in signoffs_then),
        signoffs_stale=frozenset(
            s.id
            for s in then.signoffs
            if s.current and not (s.id in signoffs_now and signoffs_now[s.id].current)
        ),
    )


def changes_since(review: Review, moment: datetime) -> ChangesSince:
    """What differs between ``review`` at ``moment`` and now (NotInRecord when it did not
    exist then)."""
    return compare(review_as_of(review, moment), review_now(review))


def highlighted(then: ReviewAsOf, now: ReviewAsOf) -> ReviewAsOf:
    """``then``, marked with what differs in ``now``: still equal to ``then``."""
    changes = compare(then, now)

    def mark(answer: AnswerThen) -> AnswerThen:
        return replace(
            answer,
            changed_since=changes.answers.get(answer.id, ()),
            evidence=tuple(
                replace(e, gone_since=e.id in changes.evidence_gone) for e in answer.evidence
            ),
            exceptions=tuple(
                replace(x, changed_since=changes.exceptions_changed.get(x.id, ()))
                for x in answer.exceptions
            ),
            evidence_added_since=tuple(
                e for e in changes.evidence_added if e.answer_id == answer.id
            ),
            exceptions_added_since=tuple(
                x for x in changes.exceptions_added if x.answer_id == answer.id
            ),
        )

    return replace(
        then,
        now=now.moment,
        sections=tuple(
            replace(section, answers=tuple(mark(a) for a in section.answers))
            for section in then.sections
        ),
        signoffs=tuple(
            replace(s, stale_since=s.id in changes.signoffs_stale) for s in then.signoffs
        ),
        review_changed_since=changes.review,
        signoffs_added_since=changes.signoffs_added,
    )


def review_as_of_highlighted(review: Review, moment: datetime) -> ReviewAsOf:
    """What the as-of page shows (and an audit session embeds): the review at ``moment``
    with what changed since marked. Raises NotInRecord when it did not exist then."""
    return highlighted(review_as_of(review, moment), review_now(review))
