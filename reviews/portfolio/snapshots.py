"""Daily readiness snapshots: each service's current review, as its stored summary stands.

Beat takes them once a day; taking them again the same day replaces that day's figures,
so a rerun (or a second beat) never adds a row.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviews.models import ReadinessSnapshot, Review
from reviews.portfolio.cache import bump_on_commit

SNAPSHOT_FIELDS = (
    "state",
    "readiness_percent",
    "met_count",
    "applicable_count",
    "open_must_haves",
    "failing_checks",
    "pending_exceptions",
)


def snapshot_of(review: Review, day: date) -> ReadinessSnapshot:
    return ReadinessSnapshot(
        review=review,
        service_id=review.service_id,
        date=day,
        **{name: getattr(review, name) for name in SNAPSHOT_FIELDS},
    )


def snapshots_take(*, today: date | None = None, batch: int = 1000) -> int:
    """Record today's figures for every service's current review. Returns how many."""
    today = today or timezone.localdate()
    # The reviews that are their service's current one.
    reviews = Review.objects.filter(service__current_review=F("pk")).only(
        "pk", "service_id", *SNAPSHOT_FIELDS
    )
    taken = 0
    pending: list[ReadinessSnapshot] = []
    with transaction.atomic():
        for review in reviews.iterator(chunk_size=batch):
            pending.append(snapshot_of(review, today))
            if len(pending) >= batch:
                taken += _upsert(pending)
                pending = []
        taken += _upsert(pending)
        bump_on_commit()  # the trends show them; snapshots have no history of their own
    return taken


def _upsert(rows: list[ReadinessSnapshot]) -> int:
    if rows:
        ReadinessSnapshot.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["review", "date"],
            update_fields=list(SNAPSHOT_FIELDS),
        )
    return len(rows)


def climb(review: Review, day: date, days_back: int, days: int) -> ReadinessSnapshot:
    """A made-up snapshot for demos and benchmarks: readiness that climbed to today's
    over ``days`` (30% of it at the start). Never used for real history."""
    share = 0.3 + 0.7 * (1 - days_back / max(days, 1))
    snapshot = snapshot_of(review, day)
    snapshot.readiness_percent = int(review.readiness_percent * share)
    snapshot.met_count = int(review.met_count * share)
    return snapshot


def backfill(reviews: list[Review], *, days: int, today: date | None = None) -> int:
    """Made-up history (``climb``) for ``days`` before today, for reviews without any:
    the demo's charts have a shape at the first sign-in."""
    today = today or timezone.localdate()
    bare = [r for r in reviews if not ReadinessSnapshot.objects.filter(review=r).exists()]
    rows = [
        climb(review, today - timedelta(days=back), back, days)
        for review in bare
        for back in range(1, days + 1)
    ]
    ReadinessSnapshot.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    bump_on_commit()
    return len(rows)
