"""Writes for launch audits and journal notes: validated, in one transaction, with one
attributed history row (who, and why) per record that changed and none for the rest.

Both are edited optimistically: the editor sends the ``revision`` it started from. A
different revision with different content is a conflict (the caller shows both
versions); a resubmission of what is already stored (a double click, a re-sent form) is
a success that changes nothing. Recording the same audit or note twice returns the first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone

from checklists.models import Item
from portal.accounts.models import User
from reviews.models import (
    AuditDecision,
    AuditSession,
    DecisionOutcome,
    JournalNote,
    Review,
    Service,
)

# A note identical to the author's last one on the same record, this soon after it, is
# the same note sent twice (a double submit), not a new one.
RESUBMIT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class SessionDetails:
    """What a launch audit says besides its decisions."""

    title: str
    held_at: datetime
    as_of: datetime
    attendees: tuple[User, ...]
    other_attendees: str
    minutes: str


@dataclass(frozen=True)
class DecisionInput:
    """One decision as the form gives it: ``decision_id`` is the stored one it edits
    (None for a new one); ``remove`` takes a stored one out (its history stays)."""

    outcome: str
    text: str
    item: Item | None = None
    decision_id: int | None = None
    remove: bool = False


class AuditConflict(Exception):
    """Someone saved the launch audit since the editor loaded it."""

    def __init__(self, current: AuditSession) -> None:
        self.current = current
        super().__init__("Someone else changed this launch audit while you were editing it.")


class NoteConflict(Exception):
    """The note was saved (from another tab, say) since the editor loaded it."""

    def __init__(self, current: JournalNote) -> None:
        self.current = current
        super().__init__("This note changed while you were editing it.")


def _attributed(record: Any, by: User, reason: str) -> None:
    # Said on the record itself, so its history row is attributed outside a request too
    # (the demo, a shell) and never to whoever else the middleware saw.
    record._history_user = by
    record._change_reason = reason


def _check_session(review: Review, details: SessionDetails, decisions: list[DecisionInput]) -> None:
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    if details.held_at > now:
        errors.setdefault("held_at", []).append("A launch audit is recorded once it was held.")
    if details.as_of > now:
        errors.setdefault("as_of", []).append("The record has no moment later than now.")
    elif details.as_of < review.created_at:
        errors.setdefault("as_of", []).append(
            "The review did not exist yet then: choose a moment after it was started "
            f"({review.created_at:%Y-%m-%d %H:%M} UTC)."
        )
    version_id = review.checklist_version_id
    if any(d.item is not None and d.item.version_id != version_id for d in decisions):
        errors.setdefault("__all__", []).append(
            "A decision can concern only an item of this review's checklist."
        )
    if any(d.outcome not in DecisionOutcome.values for d in decisions):
        errors.setdefault("__all__", []).append("Choose each decision's outcome from the list.")
    if errors:
        raise ValidationError(errors)


def _session_fields(session: AuditSession, details: SessionDetails) -> None:
    session.title = details.title.strip()
    session.held_at = details.held_at
    session.as_of = details.as_of
    session.other_attendees = details.other_attendees.strip()
    session.minutes = details.minutes.strip()


def _content(
    details: tuple[str, datetime, datetime, str, str],
    attendee_ids: set[int],
    decisions: Counter[tuple[str, str, int | None]],
) -> tuple[Any, ...]:
    return (details, frozenset(attendee_ids), decisions)


def _stored_content(session: AuditSession) -> tuple[Any, ...]:
    return _content(
        (session.title, session.held_at, session.as_of, session.other_attendees, session.minutes),
        set(session.attendees.values_list("pk", flat=True)),
        Counter(session.decisions.values_list("outcome", "text", "item_id")),
    )


def _submitted_content(details: SessionDetails, decisions: list[DecisionInput]) -> tuple[Any, ...]:
    """What an edit says the audit holds: the edit form lists every decision, so a form
    sent again after it was saved (a double submit) says what is stored. Decisions are
    compared by content, since a new one has no id in either submission."""
    probe = AuditSession()
    _session_fields(probe, details)
    return _content(
        (probe.title, probe.held_at, probe.as_of, probe.other_attendees, probe.minutes),
        {u.pk for u in details.attendees},
        Counter(
            (d.outcome, d.text.strip(), d.item.pk if d.item else None)
            for d in decisions
            if not d.remove
        ),
    )


def audit_session_record(
    *, review: Review, by: User, details: SessionDetails, decisions: list[DecisionInput]
) -> AuditSession:
    """Record a launch audit of ``review`` held with ``details``, and its decisions.

    The same audit recorded twice (same review, title and time held) is the first one,
    returned unchanged. Raises ValidationError for bad input.
    """
    _check_session(review, details, decisions)
    if any(d.decision_id is not None for d in decisions):
        raise ValidationError("A decision of another launch audit cannot be edited here.")
    with transaction.atomic():
        # Locked, so two submissions of one form cannot both find no audit and both add one.
        Review.objects.select_for_update().get(pk=review.pk)
        same = review.audit_sessions.filter(
            title=details.title.strip(), held_at=details.held_at
        ).first()
        if same is not None:
            return same
        session = AuditSession(review=review, recorded_by=by)
        _session_fields(session, details)
        session.full_clean(exclude=["review", "recorded_by", "attendees"])
        # One history row for the new audit, attendees included: the row is inserted
        # quietly, its attendees added, and only then is the insert announced, which is
        # when simple-history writes the row (and takes the attendees' snapshot).
        session.save_without_historical_record()  # type: ignore[attr-defined]
        session.skip_history_when_saving = True  # type: ignore[attr-defined]
        try:
            session.attendees.set(details.attendees)
        finally:
            del session.skip_history_when_saving  # type: ignore[attr-defined]
        _attributed(session, by, "Launch audit recorded")
        post_save.send(
            sender=AuditSession,
            instance=session,
            created=True,
            update_fields=None,
            raw=False,
            using=session._state.db,
        )
        _write_decisions(session, decisions, by)
    return session


def audit_session_update(
    *,
    session: AuditSession,
    by: User,
    details: SessionDetails,
    decisions: list[DecisionInput],
    based_on_revision: int,
) -> AuditSession:
    """Save an edit of a launch audit made from revision ``based_on_revision``.

    Raises AuditConflict (with the stored audit) when it changed since and this edit
    would change it again, ValidationError for bad input. Saves nothing when nothing
    changes.
    """
    _check_session(session.review, details, decisions)
    with transaction.atomic():
        current = AuditSession.objects.select_for_update().get(pk=session.pk)
        current.review = session.review
        stored = {d.pk: d for d in current.decisions.all()}
        decisions = _still_there(current, stored, decisions)
        unchanged = _submitted_content(details, decisions) == _stored_content(current)
        if unchanged:
            return current
        if current.revision != based_on_revision:
            raise AuditConflict(current)
        _session_fields(current, details)
        current.revision += 1
        current.full_clean(exclude=["review", "recorded_by", "attendees"])
        wanted = {u.pk for u in details.attendees}
        if wanted != set(current.attendees.values_list("pk", flat=True)):
            # Recorded by the save below, in the same history row as the other fields.
            current.skip_history_when_saving = True  # type: ignore[attr-defined]
            try:
                current.attendees.set(details.attendees)
            finally:
                del current.skip_history_when_saving  # type: ignore[attr-defined]
        _attributed(current, by, "Launch audit edited")
        current.save()
        _write_decisions(current, decisions, by, stored=stored)
    return current


def _still_there(
    session: AuditSession, stored: dict[int, AuditDecision], decisions: list[DecisionInput]
) -> list[DecisionInput]:
    """The edit's decisions, less removals of decisions already gone (a removal sent
    twice). Raises AuditConflict when a decision this edit changes was removed since, and
    ValidationError for an id that was never this audit's."""
    gone = {d.decision_id for d in decisions if d.decision_id is not None} - set(stored)
    if not gone:
        return decisions
    ours = set(
        AuditDecision.history.filter(id__in=gone, session_id=session.pk).values_list(
            "id", flat=True
        )
    )
    if gone - ours:
        raise ValidationError("A decision of another launch audit cannot be edited here.")
    if any(d.decision_id in gone and not d.remove for d in decisions):
        raise AuditConflict(session)
    return [d for d in decisions if d.decision_id not in gone]


def _write_decisions(
    session: AuditSession,
    decisions: list[DecisionInput],
    by: User,
    stored: dict[int, AuditDecision] | None = None,
) -> None:
    """Add, change or remove decisions: each one that changes gets one history row."""
    stored = stored or {}
    for given in decisions:
        text = given.text.strip()
        item_id = given.item.pk if given.item else None
        if given.decision_id is None:
            if given.remove:
                continue
            decision = AuditDecision(session=session, outcome=given.outcome, text=text)
            decision.item = given.item
            reason = "Decision recorded at the launch audit"
        else:
            decision = stored[given.decision_id]
            if given.remove:
                _attributed(decision, by, "Decision taken out of the launch audit")
                decision.delete()
                continue
            if (decision.outcome, decision.text, decision.item_id) == (
                given.outcome,
                text,
                item_id,
            ):
                continue
            decision.outcome, decision.text, decision.item = given.outcome, text, given.item
            reason = "Decision edited"
        decision.full_clean(exclude=["session", "item"])
        _attributed(decision, by, reason)
        decision.save()


# --- the journal -------------------------------------------------------------------------


def journal_note_add(
    *, service: Service, review: Review | None = None, by: User, body: str
) -> JournalNote:
    """Write a note on ``service`` (or on its ``review``), attributed to ``by``.

    The author's identical last note on the same record, written moments ago, is this
    one sent twice: it is returned and nothing new is stored.
    """
    if review is not None and review.service_id != service.pk:
        raise ValidationError({"review": "That review is not one of this service's."})
    note = JournalNote(service=service, review=review, author=by, body=body.strip())
    note.full_clean(exclude=["service", "review", "author"])
    with transaction.atomic():
        Service.objects.select_for_update().get(pk=service.pk)
        last = (
            JournalNote.objects.filter(service=service, review=review, author=by)
            .order_by("-created_at", "-id")
            .first()
        )
        if (
            last is not None
            and last.body == note.body
            and last.created_at >= timezone.now() - RESUBMIT_WINDOW
        ):
            return last
        _attributed(note, by, "Journal note written")
        note.save()
    return note


def journal_note_update(
    *, note: JournalNote, by: User, body: str, based_on_revision: int
) -> JournalNote:
    """Save an edit of a note made from revision ``based_on_revision``; only its author
    edits it. Raises NoteConflict (with the stored note) when it changed since and this
    edit would change it again, ValidationError for bad input."""
    body = body.strip()
    with transaction.atomic():
        current = JournalNote.objects.select_for_update().get(pk=note.pk)
        if current.author_id != by.pk:
            raise ValidationError("Only the author of a note edits it.")
        if current.body == body:
            return current
        if current.revision != based_on_revision:
            raise NoteConflict(current)
        current.body = body
        current.revision += 1
        current.full_clean(exclude=["service", "review", "author"])
        _attributed(current, by, "Journal note edited")
        current.save()
    return current
