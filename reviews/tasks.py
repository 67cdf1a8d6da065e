"""Background jobs for reviews."""

from __future__ import annotations

from celery import shared_task

# Celery's autodiscovery imports this module: the sweep tasks live with the checks, the
# snapshot with the portfolio.
from reviews.checks.tasks import finish_run, run_chunk, sweep
from reviews.portfolio.tasks import snapshot_readiness
from reviews.waivers import waivers_expire

__all__ = ["expire_waivers", "finish_run", "run_chunk", "snapshot_readiness", "sweep"]


@shared_task(name="reviews.expire_waivers", acks_late=True, time_limit=300, soft_time_limit=240)
def expire_waivers() -> dict[str, int]:
    """Beat, hourly: expire exceptions past their date and send reminders."""
    expired, reminded = waivers_expire()
    return {"expired": expired, "reminded": reminded}
