"""Writes for services, reviews and answers: validated, in one transaction, with history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from checklists.models import ChecklistVersion, VersionStatus
from portal.accounts.models import Team, User
from portal.audit import ledger
from portal.audit.history import attributed
from reviews import notifications
from reviews.models import (
    Answer,
    AnswerStatus,
    Comment,
    Evidence,
    Review,
    ReviewKind,
    ReviewState,
    Service,
)
from reviews.readiness import STORED_FIELDS, refresh_summary, summary_of
from reviews.workflow import OPEN_STATES, IllegalTransition, apply_transition, ensure_allowed

# A service's fields, in the groups its form and page show them in.
SERVICE_BASICS = ("name", "slug", "team", "description", "hosting", "impact_level", "environments")
SERVICE_LINKS = ("repository_url", "runbook_url", "dashboard_url", "status_page_url")
# What the automated checks read.
SERVICE_INTEGRATIONS = (
    "health_check_url",
    "public_url",
    "cloud_account_id",
    "cloud_region",
    "cloud_role_arn",
    "project_tag",
    "prometheus_url",
    "alertmanager_url",
    "pagerduty_service_id",
    "cloud_foundry_space",
)
SERVICE_FIELDS = SERVICE_BASICS + SERVICE_LINKS + SERVICE_INTEGRATIONS


def service_create(*, by: User, **fields: Any) -> Service:
    service = Service(created_by=by, **{k: v for k, v in fields.items() if k in SERVICE_FIELDS})
    service.full_clean()
    attributed(service, by=by, reason="Service created")
    with transaction.atomic():
        service.save()
    return service


def service_update(*, service: Service, by: User, **fields: Any) -> Service:
    for name, value in fields.items():
        if name in SERVICE_FIELDS:
            setattr(service, name, value)
    service.full_clean()
    attributed(service, by=by, reason="Service edited")
    with transaction.atomic():
        service.save()
    return service


# A new review's target date is at most about five years away.
TARGET_DATE_MAX_DAYS = 5 * 365 + 1


def target_date_error(target_date: date | None, *, today: date | None = None) -> str:
    """What is wrong with a new review's target date ("" when nothing is)."""
    if target_date is None:
        return ""
    today = today or timezone.localdate()
    latest = today + timedelta(days=TARGET_DATE_MAX_DAYS)
    if target_date < today:
        return "The target date cannot be in the past."
    if target_date > latest:
        return f"The target date can be at most five years away (until {latest})."
    return ""


def review_start(
    *,
    service: Service,
    checklist_version: ChecklistVersion,
    kind: str = ReviewKind.LAUNCH,
    target_date: date | None = None,
    by: User,
    carry_over: bool = True,
) -> Review:
    """A draft review with one answer per item of a published version.

    With ``carry_over`` (a re-review), answers and current evidence come over from the
    service's latest review for items whose reference id and text are unchanged; items
    whose text changed are flagged for a re-check.
    """
    if checklist_version.status != VersionStatus.PUBLISHED:
        raise ValidationError("Reviews use published checklist versions only.")
    if problem := target_date_error(target_date):
        raise ValidationError({"target_date": problem})
    with transaction.atomic():
        # Rows first, the record's chain last (portal.audit.ledger): the service row is
        # locked before the first history row locks the chain.
        Service.objects.select_for_update().filter(pk=service.pk).first()
        review = Review(
            service=service,
            checklist_version=checklist_version,
            kind=kind,
            target_date=target_date,
            created_by=by,
        )
        review.full_clean()
        # One history row for the new review, written below once its answers and summary
        # are in place (two saves would record the start as two changes).
        review.skip_history_when_saving = True  # type: ignore[attr-defined]
        review.save()
        previous = (
            service.reviews.exclude(pk=review.pk)
            .exclude(state=ReviewState.WITHDRAWN)
            .order_by("-created_at")
            .first()
            if carry_over
            else None
        )
        old_answers = (
            {a.item.ref: a for a in previous.answers.select_related("item", "owner")}
            if previous is not None
            else {}
        )
        answers = []
        for item in checklist_version.items.all():
            old = old_answers.get(item.ref)
            answer = Answer(review=review, item=item)
            if old is not None and old.item.text == item.text:
                answer.status = old.status
                answer.justification = old.justification
                answer.notes = old.notes
                answer.owner = old.owner
                answer.carried_from = old
            elif old is not None:
                answer.needs_recheck = True
                answer.carried_from = old
            answers.append(answer)
        ledger.bulk_create_recorded(answers, Answer, by=by, reason="Review started")
        _carry_evidence(answers, by=by)
        review.previous_review = previous
        review.last_activity_at = timezone.now()
        refresh_summary(review)
        review.save(update_fields=[*STORED_FIELDS, "previous_review", "last_activity_at"])
        del review.skip_history_when_saving  # type: ignore[attr-defined]
        # Dated when the review began, so it comes before its answers in the record.
        review._history_date = review.created_at  # type: ignore[attr-defined]
        ledger.history_recorded(
            [review], Review, by=by, reason=f"Review started on {checklist_version}"
        )
        # The portfolio shows a service's newest review. A derived pointer, left out of
        # the service's history, so it is written straight to the row.
        Service.objects.filter(pk=service.pk).update(current_review=review)
        service.current_review = review
    return review


def _carry_evidence(answers: list[Answer], *, by: User) -> None:
    """Copy the current evidence of carried-over answers (same files, new rows)."""
    carried = {a.carried_from_id: a for a in answers if a.carried_from_id and not a.needs_recheck}
    if not carried:
        return
    copies = []
    for old in Evidence.objects.filter(
        answer_id__in=carried, withdrawn_at__isnull=True, superseded_by__isnull=True
    ):
        copies.append(
            Evidence(
                answer=carried[old.answer_id],
                kind=old.kind,
                url=old.url,
                file=old.file.name,
                original_name=old.original_name,
                content_type=old.content_type,
                size=old.size,
                sha256=old.sha256,
                note=old.note,
                effective_date=old.effective_date,
                fresh_until=old.fresh_until,
                created_by=old.created_by,
            )
        )
    ledger.bulk_create_recorded(copies, Evidence, by=by, reason="Carried over from the last review")


def review_transition(*, review: Review, action: str, by: User, reason: str = "") -> Review:
    """Move a review along the workflow (see reviews.workflow). Raises IllegalTransition."""
    with transaction.atomic():
        locked = Review.objects.select_for_update().get(pk=review.pk)
        previous = apply_transition(locked, action)
        locked.last_activity_at = locked.state_changed_at
        attributed(locked, by=by, reason=reason or (f"{previous} → {locked.state} by {by.email}"))
        locked.save()
        if locked.state == ReviewState.SUBMITTED:
            notifications.review_submitted(locked)
    return locked


def comment_add(*, answer: Answer, by: User, body: str) -> Comment:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write a comment."})
    if len(body) > 5000:
        raise ValidationError({"body": "A comment is at most 5,000 characters."})
    comment = Comment(answer=answer, author=by, body=body)
    comment.full_clean(exclude=["answer", "author"])
    attributed(comment, by=by, reason="Comment added")
    with transaction.atomic():
        # Locked, so the review cannot be withdrawn between the check and the comment.
        ensure_allowed(Review.objects.select_for_update().get(pk=answer.review_id), "comment")
        comment.save()
    return comment


class AnswerConflict(Exception):
    """Someone saved the answer since the editor loaded it."""

    def __init__(self, current: Answer) -> None:
        self.current = current
        super().__init__("Someone else changed this answer while you were editing it.")


@dataclass(frozen=True)
class AnswerChange:
    status: str
    justification: str
    notes: str
    owner: User | None


def answer_errors(answer: Answer, change: AnswerChange) -> dict[str, str]:
    """What is wrong with ``change`` for this answer's item (empty when it is fine)."""
    errors: dict[str, str] = {}
    if change.status not in AnswerStatus.values:
        errors["status"] = "Choose a status from the list."
    needs_reason = change.status == AnswerStatus.NOT_APPLICABLE or (
        answer.item.must_have
        and change.status in (AnswerStatus.NOT_MET, AnswerStatus.PARTIALLY_MET)
    )
    if needs_reason and not change.justification.strip():
        errors["justification"] = (
            "Say why this item does not apply."
            if change.status == AnswerStatus.NOT_APPLICABLE
            else "A must-have that is not met needs a justification."
        )
    return errors


def answer_update(
    *,
    answer: Answer,
    change: AnswerChange,
    based_on_revision: int,
    by: User,
    settle_review: bool = True,
) -> Answer:
    """Save an answer unless it changed since revision ``based_on_revision``.

    Raises AnswerConflict (with the current answer) when someone saved in between,
    ValidationError for bad input, and IllegalTransition when the review is not open to
    edits. Editing an approved review reopens it. The review's summary is updated in
    the same transaction, unless ``settle_review`` is False: then the caller, changing
    more in the same transaction, calls ``review_content_changed`` once at its end.
    """
    errors = answer_errors(answer, change)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=answer.review_id)
        current = Answer.objects.select_related("item", "owner").get(pk=answer.pk)
        unchanged = (
            current.status == change.status
            and current.justification == change.justification
            and current.notes == change.notes
            and current.owner_id == (change.owner.pk if change.owner else None)
        )
        if current.revision != based_on_revision:
            # The same person sending the same change of the same revision again (the
            # htmx save on leaving a field, then the row's button) saved it already.
            resent = (
                unchanged
                and current.revision == based_on_revision + 1
                and current.updated_by_id == by.pk
            )
            if resent:
                return current
            raise AnswerConflict(current)
        ensure_allowed(review, "answer")
        if unchanged:
            return current
        current.status = change.status
        current.justification = change.justification
        current.notes = change.notes
        current.owner = change.owner
        # The review row is locked above, so saves of its answers are serialised and a
        # plain increment is safe.
        current.revision += 1
        current.updated_by = by
        current.full_clean(
            exclude=["review", "item", "owner", "carried_from", "updated_by"],
            validate_unique=False,
            validate_constraints=False,
        )
        attributed(current, by=by, reason=f"Answered: {AnswerStatus(change.status).label}")
        current.save()
        if settle_review:
            review_content_changed(review=review, by=by, reason="Answer changed")
    return current


def review_content_changed(
    *, review: Review, by: User | None, reason: str, editor: bool = True
) -> None:
    """After answers, evidence or exceptions change: reopen, re-summarise, save.

    ``review`` must be locked (select_for_update) by the caller's transaction. An
    approved review goes back to draft; sign-offs on the old content turn stale because
    the digest changes. ``editor``: ``by`` changed the content, so may not sign it off.
    """
    if review.state == ReviewState.APPROVED:
        apply_transition(review, "reopen")
    if editor and by is not None and not review.editors.filter(pk=by.pk).exists():
        # Recorded by the save below, in the same history row as the content it changed:
        # adding to a tracked many-to-many would otherwise write a row of its own.
        review.skip_history_when_saving = True  # type: ignore[attr-defined]
        try:
            review.editors.add(by)
        finally:
            del review.skip_history_when_saving  # type: ignore[attr-defined]
    review.content_revision += 1
    review.last_activity_at = timezone.now()
    refresh_summary(review)
    attributed(review, by=by, reason=reason)
    review.save()


def readiness_refresh(*, service_ids: Iterable[int]) -> int:
    """Re-summarise the open reviews of these services after their automated results
    changed. A review whose summary comes out the same is not saved, so it writes no
    history: the record shows only real changes. Returns how many reviews changed."""
    changed = 0
    for pk in Review.objects.filter(
        service_id__in=list(service_ids), state__in=OPEN_STATES
    ).values_list("pk", flat=True):
        with transaction.atomic():
            locked = Review.objects.select_for_update().get(pk=pk)
            before = summary_of(locked)
            refresh_summary(locked)
            if summary_of(locked) == before:
                continue
            locked._change_reason = "Automated check results changed"  # type: ignore[attr-defined]
            locked.save(update_fields=list(STORED_FIELDS))
            changed += 1
    return changed


__all__ = [
    "AnswerChange",
    "AnswerConflict",
    "IllegalTransition",
    "answer_errors",
    "answer_update",
    "readiness_refresh",
    "review_content_changed",
    "review_start",
    "review_transition",
    "service_create",
    "service_update",
]


def teams_for(user: User) -> list[Team]:
    """The teams a user may put new services in: their own (admins do not add services;
    see portal.permissions)."""
    return list(user.teams.order_by("name"))
