"""Beat: the daily readiness snapshot behind the trends."""

from __future__ import annotations

from celery import shared_task

from reviews.portfolio.snapshots import snapshots_take


@shared_task(
    name="portfolio.snapshot_readiness", acks_late=True, time_limit=600, soft_time_limit=540
)
def snapshot_readiness() -> int:
    """Once a day (and safe to repeat): today's figures for every service's current review."""
    return snapshots_take()
