"""Daily readiness snapshots: each service's current review, as its stored summary stands.

Beat takes them once a day; taking them again the same day replaces that day's figures,
so a rerun (or a second beat) never adds a row.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviews.models import ReadinessSnapshot, Review

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
