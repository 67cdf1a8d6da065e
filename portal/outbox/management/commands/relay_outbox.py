"""Send the tasks the outbox kept while the broker was away (beat does this on its own)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal.outbox.relay import relay, waiting


class Command(BaseCommand):
    help = "Send the tasks the outbox kept while the broker was away."

    def handle(self, *args: Any, **options: Any) -> None:
        sent = relay(limit=1_000_000)
        left = waiting()
        self.stdout.write(f"Sent {sent} tasks; {left} still waiting.")
        if left:
            raise CommandError(
                f"{left} tasks are still waiting: the broker did not take them. "
                "Is Redis reachable (REDIS_URL / CELERY_BROKER_URL)?"
            )
