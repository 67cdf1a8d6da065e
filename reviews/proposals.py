"""Answers the automated checks propose: "Checks pass: mark as met"."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from portal.accounts.models import User
from reviews.checks.selectors import ItemCheck, item_checks, standings
from reviews.evidence import evidence_add
from reviews.models import Answer, AnswerStatus, EvidenceKind, Review
from reviews.services import AnswerChange, answer_update, review_content_changed

CHECKS_DISAGREE = (
    "Not every automated check of this item passes now, so it cannot be marked met from "
    "them: open the item and answer it yourself."
)


def passing_checks(answer: Answer) -> list[ItemCheck]:
    """The item's bound checks when every one of them passes now, else []."""
    checks = item_checks(answer.item.checks, standings(answer.review.service))
    if checks and all(check.standing and check.standing.passes for check in checks):
        return checks
    return []


def _result_link(check: ItemCheck) -> str:
    assert check.standing is not None and check.standing.standing is not None
    path = reverse("reviews:check_run", args=[check.standing.standing.run_id])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def mark_met_from_checks(*, answer: Answer, by: User, based_on_revision: int) -> Answer:
    """Set the answer to met and link each passing result as its evidence, in one
    transaction. Refused (ValidationError) unless every bound check passes now;
    AnswerConflict when the answer changed since ``based_on_revision``."""
    with transaction.atomic():
        # Rows first, the record's chain last (portal.audit.ledger).
        review = Review.objects.select_for_update().get(pk=answer.review_id)
        answer = Answer.objects.select_related("item", "owner", "review__service").get(pk=answer.pk)
        checks = passing_checks(answer)
        if not checks:
            raise ValidationError(CHECKS_DISAGREE)
        resent = answer.revision == based_on_revision + 1 and answer.updated_by_id == by.pk
        if answer.status == AnswerStatus.MET and resent:
            return answer  # the same click, sent twice
        saved = answer_update(
            answer=answer,
            change=AnswerChange(
                status=AnswerStatus.MET,
                justification=answer.justification,
                notes=answer.notes,
                owner=answer.owner,
            ),
            based_on_revision=based_on_revision,
            by=by,
            settle_review=False,
        )
        for check in checks:
            result = check.standing.standing  # type: ignore[union-attr]
            assert result is not None
            evidence_add(
                answer=saved,
                by=by,
                kind=EvidenceKind.LINK,
                url=_result_link(check),
                note=(
                    f"Automated check “{check.binding.title}” passed: {result.explanation} "
                    f"(checked {result.checked_at:%Y-%m-%d %H:%M} UTC)."
                )[:10000],
                effective_date=result.checked_at.date(),
                settle_review=False,
            )
        # One change of the review for the one click: its summary, digest and history.
        review_content_changed(
            review=review, by=by, reason="Marked met: every automated check of the item passes"
        )
    return saved
