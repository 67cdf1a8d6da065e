"""Exceptions (risk acceptances): request, decide, expire and remind."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.history import attributed
from portal.permissions import can
from reviews import notifications
from reviews.models import Answer, Review, Waiver, WaiverState
from reviews.services import review_content_changed
from reviews.workflow import OPEN_STATES, ensure_allowed


def waiver_request(
    *,
    answer: Answer,
    by: User,
    rationale: str,
    compensating_controls: str,
    expires_on: date,
    today: date | None = None,
) -> Waiver:
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    if not rationale.strip():
        errors["rationale"] = "Explain why the risk is acceptable."
    if not compensating_controls.strip():
        errors["compensating_controls"] = "Describe what reduces the risk meanwhile."
    latest = today + timedelta(days=settings.WAIVER_MAX_DAYS)
    if expires_on <= today:
        errors["expires_on"] = "The expiry date must be in the future."
    elif expires_on > latest:
        errors["expires_on"] = (
            f"An exception lasts at most {settings.WAIVER_MAX_DAYS} days (until {latest})."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=answer.review_id)
        ensure_allowed(review, "exception_request")
        current = Answer.objects.get(pk=answer.pk)
        if not current.may_have_exception:
            raise ValidationError("Exceptions are for items that are not met (or partially met).")
        open_ones = current.waivers.filter(Q(state=WaiverState.REQUESTED) | Waiver.valid_on(today))
        if open_ones.exists():
            raise ValidationError("This item already has a pending or valid exception.")
        waiver = Waiver(
            answer=current,
            requested_by=by,
            rationale=rationale.strip(),
            compensating_controls=compensating_controls.strip(),
            expires_on=expires_on,
        )
        waiver.full_clean(exclude=["answer", "requested_by", "decided_by"])
        attributed(waiver, by=by, reason="Exception requested")
        waiver.save()
        review_content_changed(review=review, by=by, reason="Exception requested", editor=False)
    return waiver


def waiver_decide(*, waiver: Waiver, by: User, approve: bool, comment: str = "") -> Waiver:
    """Approve or refuse. Security reviewers and managers decide, never the requester."""
    if not can(by, "reviews.decide_waiver", waiver):
        raise PermissionDenied("Only security reviewers and managers decide exceptions.")
    if waiver.requested_by_id == by.pk:
        raise PermissionDenied("Nobody may approve or refuse their own exception.")
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=waiver.answer.review_id)
        ensure_allowed(review, "exception_decision")
        current = Waiver.objects.select_for_update().get(pk=waiver.pk)
        if current.state != WaiverState.REQUESTED:
            raise ValidationError(
                f"This exception is already {current.get_state_display().lower()}."
            )
        current.state = WaiverState.APPROVED if approve else WaiverState.REFUSED
        current.decided_by = by
        current.decided_at = timezone.now()
        current.decision_comment = comment.strip()
        current.full_clean(exclude=["answer", "requested_by", "decided_by"])
        attributed(current, by=by, reason=f"Exception {current.get_state_display().lower()}")
        current.save()
        review_content_changed(
            review=review,
            by=by,
            reason=f"Exception {current.get_state_display().lower()}",
            editor=False,
        )
        notifications.waiver_event(current, current.state)
    return current


def waivers_expire(*, today: date | None = None) -> tuple[int, int]:
    """Expire approved exceptions past their date and send 14- and 3-day reminders.

    Returns (expired, reminded). Safe to run as often as beat likes: each reminder is
    recorded on the exception and sent once. Withdrawn reviews are left as they were
    withdrawn: nothing changes them, and nobody is reminded about them.
    """
    today = today or timezone.localdate()
    expired = 0
    for waiver_id in Waiver.objects.filter(
        state=WaiverState.APPROVED,
        expires_on__lt=today,
        answer__review__state__in=OPEN_STATES,
    ).values_list("pk", flat=True):
        with transaction.atomic():
            waiver = Waiver.objects.select_for_update().select_related("answer").get(pk=waiver_id)
            if waiver.state != WaiverState.APPROVED:
                continue
            review = Review.objects.select_for_update().get(pk=waiver.answer.review_id)
            if review.state not in OPEN_STATES:  # withdrawn since the list was read
                continue
            waiver.state = WaiverState.EXPIRED
            waiver._change_reason = "Exception expired"  # type: ignore[attr-defined]
            waiver.save()
            review_content_changed(review=review, by=None, reason="Exception expired", editor=False)
            notifications.waiver_event(waiver, "expired")
            expired += 1
    reminded = 0
    horizon = today + timedelta(days=max(settings.WAIVER_REMINDER_DAYS))
    for waiver in Waiver.objects.filter(
        state=WaiverState.APPROVED,
        expires_on__gte=today,
        expires_on__lte=horizon,
        answer__review__state__in=OPEN_STATES,
    ).select_related("answer__review__service", "answer__item", "requested_by"):
        days_left = (waiver.expires_on - today).days
        due = [
            d
            for d in settings.WAIVER_REMINDER_DAYS
            if days_left <= d and d not in waiver.reminders_sent
        ]
        if not due:
            continue
        with transaction.atomic():
            waiver.reminders_sent = sorted({*waiver.reminders_sent, *due}, reverse=True)
            waiver._change_reason = f"Reminder: {days_left} days left"  # type: ignore[attr-defined]
            waiver.save(update_fields=["reminders_sent"])
            notifications.waiver_event(waiver, "expiring", days_left=days_left)
        reminded += 1
    return expired, reminded
