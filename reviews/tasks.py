"""Background jobs for reviews."""

from __future__ import annotations

from celery import shared_task

from reviews.waivers import waivers_expire


@shared_task(name="reviews.expire_waivers", acks_late=True, time_limit=300, soft_time_limit=240)
def expire_waivers() -> dict[str, int]:
    """Beat, hourly: expire exceptions past their date and send reminders."""
    expired, reminded = waivers_expire()
    return {"expired": expired, "reminded": reminded}
