"""The relay, which beat runs every OUTBOX_RELAY_SECONDS."""

from __future__ import annotations

from celery import shared_task

from portal.outbox.relay import relay


# Not acks_late: a relay lost with its worker is simply the next one's work.
@shared_task(name="outbox.relay", acks_late=False, time_limit=120, soft_time_limit=100)
def relay_outbox() -> int:
    """Send the tasks kept in the outbox while the broker was away."""
    return relay()
