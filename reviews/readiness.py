"""Readiness: one function computes it, and its result is stored on the review.

A review is ready when every applicable must-have is met or covered by a valid
exception, and every required sign-off role has a current approval. Readiness % is
met ÷ applicable items. ``refresh_summary`` writes all of it onto the review in the
caller's transaction, so lists and dashboards read stored numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q
from django.utils import timezone

from checklists.models import Item
from reviews.checks.collectors.base import bindings_of
from reviews.checks.selectors import failing_bindings
from reviews.models import (
    Answer,
    AnswerStatus,
    Evidence,
    Review,
    SignOff,
    Waiver,
    WaiverState,
)

A = AnswerStatus


@dataclass(frozen=True)
class Readiness:
    item_count: int
    applicable_count: int
    met_count: int
    must_have_count: int
    must_haves_done: int
    waived_must_haves: int
    not_started_count: int

    @property
    def readiness_percent(self) -> int:
        """Met ÷ applicable items, rounded down (100 only when all are met)."""
        if not self.applicable_count:
            return 0
        return self.met_count * 100 // self.applicable_count

    @property
    def open_must_haves(self) -> int:
        return self.must_have_count - self.must_haves_done - self.waived_must_haves


def compute_readiness(review: Review, today: date | None = None) -> Readiness:
    """Counted in SQL with one aggregate query."""
    today = today or timezone.localdate()
    covered = Waiver.covering(today)
    must = Q(item__must_have=True)
    applicable_must = must & ~Q(status=A.NOT_APPLICABLE)
    counts = Answer.objects.filter(review=review).aggregate(
        items=Count("id"),
        applicable=Count("id", filter=~Q(status=A.NOT_APPLICABLE)),
        met=Count("id", filter=Q(status=A.MET)),
        must_haves=Count("id", filter=applicable_must),
        must_haves_done=Count("id", filter=must & Q(status=A.MET)),
        waived=Count("id", filter=applicable_must & ~Q(status=A.MET) & Q(covered)),
        not_started=Count("id", filter=Q(status=A.NOT_STARTED)),
    )
    return Readiness(
        item_count=counts["items"],
        applicable_count=counts["applicable"],
        met_count=counts["met"],
        must_have_count=counts["must_haves"],
        must_haves_done=counts["must_haves_done"],
        waived_must_haves=counts["waived"],
        not_started_count=counts["not_started"],
    )


def content_digest(review: Review) -> str:
    """A digest of what a sign-off vouches for: answers, current evidence, exceptions."""
    answers = list(
        Answer.objects.filter(review=review)
        .order_by("id")
        .values_list("id", "status", "justification", "notes", "owner_id")
    )
    evidence = list(
        Evidence.objects.filter(answer__review=review, withdrawn_at__isnull=True)
        .exclude(superseded_by__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)
    )
    waivers = [
        (pk, state, expires.isoformat())
        for pk, state, expires in Waiver.objects.filter(answer__review=review)
        .order_by("id")
        .values_list("id", "state", "expires_on")
    ]
    canonical = json.dumps([answers, evidence, waivers], separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def current_signoffs(review: Review) -> dict[str, SignOff]:
    """The latest non-stale sign-off for each role (one query)."""
    latest: dict[str, SignOff] = {}
    for signoff in review.signoffs.current(review.content_digest).select_related("reviewer"):
        latest.setdefault(signoff.role, signoff)  # ordered newest first
    return latest


def missing_approvals(review: Review) -> list[str]:
    """Required sign-off roles without a current approval."""
    current = current_signoffs(review)
    return [
        role
        for role in review.checklist_version.required_signoff_roles
        if role not in current or not current[role].approves
    ]


def is_ready(review: Review) -> bool:
    """Every must-have met or excepted, no must-have check failing without an exception,
    and every required role approved (current)."""
    return (
        review.open_must_haves == 0
        and review.failing_must_haves == 0
        and not missing_approvals(review)
    )


def failing_must_haves(
    review: Review, today: date | None = None, failing: set[str] | None = None
) -> int:
    """Must-haves whose bound automated check fails, not covered by a valid exception."""
    failing = failing_bindings(review.service_id) if failing is None else failing
    if not failing:
        return 0
    today = today or timezone.localdate()
    rows = (
        Answer.objects.filter(review=review, item__must_have=True)
        .exclude(status=A.NOT_APPLICABLE)
        .exclude(item__checks=[])
        .annotate(covered=Waiver.covering(today))
        .filter(covered=False)
        .values_list("item__checks", flat=True)
    )
    return sum(1 for checks in rows if any(b.id in failing for b in bindings_of(checks)))


def failing_checks(review: Review, failing: set[str]) -> int:
    """Distinct checks bound by the review's items that fail now (``failing``: the
    service's failing binding ids)."""
    if not failing:
        return 0
    bound = {
        binding.id
        for checks in Item.objects.filter(version_id=review.checklist_version_id)
        .exclude(checks=[])
        .values_list("checks", flat=True)
        for binding in bindings_of(checks)
    }
    return len(bound & failing)


# The counts compute_readiness makes.
SUMMARY_FIELDS = (
    "item_count",
    "applicable_count",
    "met_count",
    "readiness_percent",
    "must_have_count",
    "must_haves_done",
    "waived_must_haves",
    "open_must_haves",
    "not_started_count",
)
# Everything refresh_summary writes onto a review.
STORED_FIELDS = (
    *SUMMARY_FIELDS,
    "failing_must_haves",
    "failing_checks",
    "pending_exceptions",
    "awaiting_roles",
    "pending_signoffs",
    "content_digest",
)


def summary_of(review: Review) -> tuple[object, ...]:
    """The stored summary as it stands on ``review``, to tell whether a refresh changed it."""
    return tuple(getattr(review, name) for name in STORED_FIELDS)


def refresh_summary(review: Review, today: date | None = None) -> Readiness:
    """Recompute the stored summary and content digest onto ``review`` (caller saves):
    the counts, failing checks, pending exceptions and the roles still to sign."""
    readiness = compute_readiness(review, today)
    for name in SUMMARY_FIELDS:
        setattr(review, name, getattr(readiness, name))
    failing = failing_bindings(review.service_id)
    review.failing_must_haves = failing_must_haves(review, today, failing)
    review.failing_checks = failing_checks(review, failing)
    review.pending_exceptions = Waiver.objects.filter(
        answer__review=review, state=WaiverState.REQUESTED
    ).count()
    review.content_digest = content_digest(review)
    awaiting = missing_approvals(review)
    review.awaiting_roles = f",{','.join(awaiting)}," if awaiting else ""
    review.pending_signoffs = len(awaiting)
    return readiness
