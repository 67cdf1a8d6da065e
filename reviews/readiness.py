"""Readiness: one function computes it, and its result is stored on the review.

A review is ready when every applicable must-have is met and every required sign-off
role has a current approval. Exceptions and sign-offs join this computation when they
arrive; until then no review is ready without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from reviews.models import AnswerStatus, Review

A = AnswerStatus


@dataclass(frozen=True)
class Readiness:
    item_count: int
    applicable_count: int
    met_count: int
    must_have_count: int
    must_haves_done: int
    not_started_count: int

    @property
    def readiness_percent(self) -> int:
        """Met ÷ applicable items, rounded down (100 only when all are met)."""
        if not self.applicable_count:
            return 0
        return self.met_count * 100 // self.applicable_count

    @property
    def open_must_haves(self) -> int:
        return self.must_have_count - self.must_haves_done


def compute_readiness(review: Review) -> Readiness:
    """Counted in SQL with one aggregate query."""
    must = Q(item__must_have=True)
    applicable_must = must & ~Q(status=A.NOT_APPLICABLE)
    counts = review.answers.aggregate(
        items=Count("id"),
        applicable=Count("id", filter=~Q(status=A.NOT_APPLICABLE)),
        met=Count("id", filter=Q(status=A.MET)),
        must_haves=Count("id", filter=applicable_must),
        must_haves_done=Count("id", filter=must & Q(status=A.MET)),
        not_started=Count("id", filter=Q(status=A.NOT_STARTED)),
    )
    return Readiness(
        item_count=counts["items"],
        applicable_count=counts["applicable"],
        met_count=counts["met"],
        must_have_count=counts["must_haves"],
        must_haves_done=counts["must_haves_done"],
        not_started_count=counts["not_started"],
    )


SUMMARY_FIELDS = (
    "item_count",
    "applicable_count",
    "met_count",
    "readiness_percent",
    "must_have_count",
    "must_haves_done",
    "open_must_haves",
    "not_started_count",
)


def store_readiness(review: Review) -> Readiness:
    """Copy the computed summary onto ``review`` (the caller saves it)."""
    readiness = compute_readiness(review)
    for name in SUMMARY_FIELDS:
        setattr(review, name, getattr(readiness, name))
    return readiness
