"""What changed in a review since a moment, and who changed it.

- ``changed_answer_ids``: which answers changed since a moment, in one query whatever
  the review holds (the overview's "changed since my last visit" and "changed since my
  sign-off" filters)
- ``latest_signoff_moment``: when a person last signed off a review
- ``changes_by_answer``: the "changes since my sign-off" page: what differs
  (``reviews.record.since.compare``) answer by answer, with who changed it and when
  (the history rows' ``history_user``, the evidence's and exceptions' own columns)

"Changed" means written since the moment: an answer edited and then edited back counts
as changed (someone touched it), though nothing differs from how it stood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from reviews.models import Answer, Comment, Evidence, Review, SignOff, Waiver, WaiverState
from reviews.record.asof import (
    AnswerThen,
    EvidenceThen,
    ExceptionThen,
    FieldChange,
    review_as_of,
    review_now,
)
from reviews.record.since import compare

# --- which answers changed -----------------------------------------------------------------


def _lapsed_between(since: datetime, today: date) -> Q:
    """Exceptions that counted at ``since`` by their date and no longer do today: the
    date alone decides (``Waiver.is_valid``), whether or not the expiry job has run."""
    return Q(
        state__in=[WaiverState.APPROVED, WaiverState.EXPIRED],
        expires_on__gte=timezone.localdate(since),
        expires_on__lt=today,
    )


def changed_answer_ids(review: Review, since: datetime) -> set[int]:
    """Ids of the review's answers written since ``since``: their own fields (a history
    row), evidence added or withdrawn, exceptions requested, decided or lapsed, comments.

    One query (a UNION), whatever the review holds. Each part reads by answer (or, for
    the answers' history, by review) through the foreign-key indexes.
    """
    answers = (
        Answer.history.filter(review_id=review.pk, history_date__gt=since)
        .order_by()
        .values_list("id", flat=True)
    )
    evidence = Evidence.objects.filter(
        Q(created_at__gt=since) | Q(withdrawn_at__gt=since), answer__review_id=review.pk
    ).values_list("answer_id")
    exceptions = Waiver.objects.filter(
        Q(created_at__gt=since)
        | Q(decided_at__gt=since)
        | _lapsed_between(since, timezone.localdate()),
        answer__review_id=review.pk,
    ).values_list("answer_id")
    comments = Comment.objects.filter(
        answer__review_id=review.pk, created_at__gt=since
    ).values_list("answer_id")
    # Model orderings would put ORDER BY inside the UNION's parts: cleared.
    parts = [qs.order_by() for qs in (evidence, exceptions, comments)]
    return set(answers.union(*parts))


def latest_signoff_moment(review: Review, user: Any) -> datetime | None:
    """When ``user`` last signed off ``review`` (any decision), or None (one query)."""
    moment: datetime | None = (
        SignOff.objects.filter(review=review, reviewer_id=user.pk)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return moment


# --- what changed, answer by answer, and who changed it --------------------------------------


@dataclass(frozen=True)
class Edit:
    """Someone (or the calendar) did something at a moment, in words."""

    who: str  # a person's name or email ("" for an account deleted since)
    at: datetime
    what: str
    automatic: bool = False  # nobody did it: the calendar did (an exception lapsing)


@dataclass(frozen=True)
class EvidenceGone:
    """Evidence current at the moment, withdrawn or replaced by a correction since."""

    evidence: EvidenceThen
    withdrawn: bool  # else replaced by a correction
    edit: Edit | None  # who and when (``what``: the reason given for a withdrawal)


@dataclass(frozen=True)
class ExceptionSince:
    """An exception requested since, or one whose state changed since (as it is now)."""

    exception: ExceptionThen
    added: bool
    fields: tuple[FieldChange, ...]
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class AnswerSince:
    """Everything that happened to one answer since the moment."""

    answer: AnswerThen  # as it is now
    fields: tuple[FieldChange, ...]  # its own fields: then and now
    edits: tuple[Edit, ...]  # every save of its own fields since, in order
    evidence_added: tuple[EvidenceThen, ...]
    evidence_gone: tuple[EvidenceGone, ...]
    evidence_passing: tuple[Edit, ...]  # added since and already withdrawn or replaced
    exceptions: tuple[ExceptionSince, ...]
    comments: tuple[Edit, ...]

    @property
    def edited_back(self) -> bool:
        """Its fields were saved since, yet read now as they did then."""
        return bool(self.edits) and not self.fields


@dataclass(frozen=True)
class ChangesBy:
    """What changed in a review since ``since``, answer by answer, in the review's order."""

    since: datetime
    answers: tuple[AnswerSince, ...]

    @property
    def people(self) -> list[str]:
        """Everyone who changed something, in the order they first did."""
        acts: list[tuple[datetime, str]] = []
        for answer in self.answers:
            acts += [(e.at, e.who) for e in answer.edits]
            acts += [(e.created_at, e.created_by) for e in answer.evidence_added]
            acts += [(e.edit.at, e.edit.who) for e in answer.evidence_gone if e.edit]
            acts += [(e.at, e.who) for e in answer.evidence_passing]
            acts += [(e.at, e.who) for x in answer.exceptions for e in x.edits]
            acts += [(e.at, e.who) for e in answer.comments]
        # dict keeps the first time each person appears.
        return list(dict.fromkeys(who for _, who in sorted(acts, key=lambda act: act[0]) if who))


def _name(user: Any) -> str:
    return str(user) if user is not None else ""


def _exception_edits(x: ExceptionThen, since: datetime, today: date) -> tuple[Edit, ...]:
    edits: list[Edit] = []
    if x.created_at > since:
        edits.append(Edit(x.requested_by, x.created_at, "Requested"))
    if x.decided_at is not None and x.decided_at > since:
        # Decided means approved or refused; an approval may have expired since.
        decision = "Refused" if x.state == WaiverState.REFUSED else "Approved"
        edits.append(Edit(x.decided_by, x.decided_at, decision))
    lapsed = x.state in (WaiverState.APPROVED, WaiverState.EXPIRED) and (
        timezone.localdate(since) <= x.expires_on < today
    )
    if lapsed:
        day_after = x.expires_on + timedelta(days=1)
        at = timezone.make_aware(datetime.combine(day_after, time.min))
        what = f"No longer counts: its last day was {x.expires_on}"
        edits.append(Edit("", at, what, automatic=True))
    return tuple(edits)


def _saves(review: Review, since: datetime) -> dict[int, list[Edit]]:
    """Every save of each answer's own fields since ``since``, with its author (one query)."""
    saves: dict[int, list[Edit]] = {}
    rows = (
        Answer.history.filter(review_id=review.pk, history_date__gt=since)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    for row in rows:
        what = row.history_change_reason or ("Created" if row.history_type == "+" else "Changed")
        saves.setdefault(row.id, []).append(Edit(_name(row.history_user), row.history_date, what))
    return saves


def _comments(review: Review, since: datetime) -> dict[int, list[Edit]]:
    comments: dict[int, list[Edit]] = {}
    for c in (
        Comment.objects.filter(answer__review_id=review.pk, created_at__gt=since)
        .select_related("author")
        .order_by("created_at", "id")
    ):
        comments.setdefault(c.answer_id, []).append(Edit(_name(c.author), c.created_at, c.body))
    return comments


class _EvidenceWritten:
    """The review's evidence added or withdrawn since ``since`` (one query): who withdrew
    what, which correction replaced what, and what came and went since."""

    def __init__(self, review: Review, since: datetime) -> None:
        self.rows = list(
            Evidence.objects.filter(
                Q(created_at__gt=since) | Q(withdrawn_at__gt=since), answer__review_id=review.pk
            )
            .select_related("created_by", "withdrawn_by")
            .order_by("created_at", "id")
        )
        self.since = since
        self.withdrawn = {
            e.pk: e for e in self.rows if e.withdrawn_at is not None and e.withdrawn_at > since
        }
        self.replaced = {e.supersedes_id: e for e in self.rows if e.supersedes_id}

    def gone(self, pk: int) -> Edit | None:
        """Who withdrew (``what``: the reason given) or replaced evidence ``pk``, and when."""
        withdrawn = self.withdrawn.get(pk)
        if withdrawn is not None and withdrawn.withdrawn_at is not None:
            return Edit(
                _name(withdrawn.withdrawn_by), withdrawn.withdrawn_at, withdrawn.withdrawal_reason
            )
        correction = self.replaced.get(pk)
        if correction is not None:
            return Edit(_name(correction.created_by), correction.created_at, "")
        return None

    def passing(self, current_now: set[int]) -> dict[int, list[Edit]]:
        """Evidence added since and no longer current: neither then's nor now's."""
        passing: dict[int, list[Edit]] = {}
        for e in self.rows:
            if e.created_at <= self.since or e.pk in current_now:
                continue
            what = f"{e.get_kind_display()} “{e.summary}”"
            gone = self.gone(e.pk)
            if gone is not None:
                verb = "withdrawn" if e.pk in self.withdrawn else "replaced by a correction"
                who = gone.who or "someone no longer in Preflight"
                what += f", then {verb} by {who} at {gone.at:%Y-%m-%d %H:%M:%S} UTC"
            edit = Edit(_name(e.created_by), e.created_at, what)
            passing.setdefault(e.answer_id, []).append(edit)
        return passing


def changes_by_answer(review: Review, since: datetime) -> ChangesBy:
    """What differs in ``review`` between ``since`` and now, answer by answer, with who
    did it and when. Raises NotInRecord when the review did not exist at ``since``.

    A fixed number of queries whatever the review holds: the review then and now
    (``review_as_of``, ``review_now``), then its answers' history rows since (with their
    authors), the evidence added or withdrawn since (with theirs) and the comments since.
    """
    then = review_as_of(review, since)
    now = review_now(review)
    changes = compare(then, now)
    today = timezone.localdate(now.moment)
    saves = _saves(review, since)
    written = _EvidenceWritten(review, since)
    passing = written.passing({e.id for e in now.evidence})
    comments = _comments(review, since)

    added_evidence: dict[int, list[EvidenceThen]] = {}
    for added in changes.evidence_added:
        added_evidence.setdefault(added.answer_id, []).append(added)
    gone_evidence: dict[int, list[EvidenceGone]] = {}
    evidence_then = {e.id: e for e in then.evidence}
    for pk in sorted(changes.evidence_gone):
        gone = EvidenceGone(
            evidence_then[pk], withdrawn=pk in written.withdrawn, edit=written.gone(pk)
        )
        gone_evidence.setdefault(gone.evidence.answer_id, []).append(gone)
    exceptions: dict[int, list[ExceptionSince]] = {}
    added_exceptions = {x.id for x in changes.exceptions_added}
    for x in now.exceptions:
        fields = changes.exceptions_changed.get(x.id, ())
        if x.id in added_exceptions or fields:
            exceptions.setdefault(x.answer_id, []).append(
                ExceptionSince(
                    exception=x,
                    added=x.id in added_exceptions,
                    fields=fields,
                    edits=_exception_edits(x, since, today),
                )
            )

    touched = (
        set(changes.answers)
        | set(saves)
        | set(added_evidence)
        | set(gone_evidence)
        | set(passing)
        | set(exceptions)
        | set(comments)
    )
    answers = tuple(
        AnswerSince(
            answer=answer,
            fields=changes.answers.get(answer.id, ()),
            edits=tuple(saves.get(answer.id, ())),
            evidence_added=tuple(added_evidence.get(answer.id, ())),
            evidence_gone=tuple(gone_evidence.get(answer.id, ())),
            evidence_passing=tuple(passing.get(answer.id, ())),
            exceptions=tuple(exceptions.get(answer.id, ())),
            comments=tuple(comments.get(answer.id, ())),
        )
        for answer in now.answers  # the review's order: by section, must-haves first
        if answer.id in touched
    )
    return ChangesBy(since=since, answers=answers)
