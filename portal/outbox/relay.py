"""Queueing tasks through the outbox, and sending what it holds (see the package's doc)."""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

from celery import Task, current_app
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from portal.outbox.models import OutboxTask

logger = logging.getLogger("preflight.outbox")

# Once the broker has refused a task, this process leaves the next ones to the relay for
# this long instead of making each request wait on the broker again.
PAUSE_SECONDS = 15.0
_paused_until = 0.0


def enqueue(task: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Send ``task(*args, **kwargs)`` once the current transaction commits, and keep it
    until the broker has it. Arguments must be JSON (the broker's serializer)."""
    row = OutboxTask.objects.create(task=task.name, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: send(row.pk))


def keep(task: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Leave ``task`` for the relay, outside any transaction: for work found undone after
    a commit because Redis was away (a cache version that could not be bumped). Once:
    the same task with the same arguments already waiting is enough."""
    waiting = OutboxTask.objects.filter(
        task=task.name, args=list(args), kwargs=kwargs, given_up_at=None
    )
    if not waiting.exists():
        OutboxTask.objects.create(task=task.name, args=list(args), kwargs=kwargs)


# What a broker that is away raises (kombu wraps the Redis client's connection errors).
BROKER_AWAY = (KombuOperationalError, RedisError, OSError)


class Sent(enum.Enum):
    SENT = "sent"
    BUSY = "busy"  # another process holds it, or has sent it already
    REFUSED = "refused"  # the broker is away; it stays queued
    GIVEN_UP = "given up"  # it cannot be sent at all; it stays, set aside, for an admin


def send(pk: int, *, even_if_paused: bool = False) -> Sent:
    """Send one queued task now, unless another process is sending it or has sent it, or
    the broker refused this process moments ago (the relay sends it ``even_if_paused``)."""
    global _paused_until
    if not even_if_paused and time.monotonic() < _paused_until:
        return Sent.REFUSED
    with transaction.atomic():
        row = OutboxTask.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is None:
            return Sent.BUSY
        try:
            task = current_app.tasks[row.task]
            eager = bool(task.app.conf.task_always_eager)
            if not eager:
                # No retries: the request that queued it should not wait on the broker;
                # the relay tries again. Nobody waits for the result, so none is kept
                # (and the result store, also Redis, is not asked to listen for one).
                task.apply_async(row.args, row.kwargs, retry=False, ignore_result=True)
        except BROKER_AWAY as exc:
            _paused_until = time.monotonic() + PAUSE_SECONDS
            _failed(row, exc)
            logger.warning(
                "The broker did not take %s; it stays in the outbox for the relay",
                row.task,
                extra={"outbox_task": row.pk, "error": row.last_error},
            )
            return Sent.REFUSED
        except Exception as exc:  # an unknown task, arguments the broker cannot encode
            _failed(row, exc, give_up=True)
            logger.error(
                "%s cannot be sent; the outbox sets it aside",
                row.task,
                exc_info=True,
                extra={"outbox_task": row.pk, "error": row.last_error},
            )
            return Sent.GIVEN_UP
        row.delete()
    if eager:
        # In-process (no broker): the task is the caller's own work, errors and all.
        task.apply_async(row.args, row.kwargs)
    return Sent.SENT


def _failed(row: OutboxTask, exc: Exception, *, give_up: bool = False) -> None:
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:500]
    row.given_up_at = timezone.now() if give_up else None
    row.save(update_fields=["attempts", "last_error", "given_up_at"])


def relay(limit: int = 1000) -> int:
    """Send what the outbox holds, oldest first, until it is empty, ``limit`` tasks are
    sent, or the broker refuses one. Returns how many were sent."""
    sent = 0
    after = 0
    while sent < limit:
        waiting_after = OutboxTask.objects.filter(pk__gt=after, given_up_at=None).order_by("pk")
        pk = waiting_after.values_list("pk", flat=True).first()
        if pk is None:
            break
        after = pk
        outcome = send(pk, even_if_paused=True)
        if outcome is Sent.REFUSED:
            break  # the broker is still away: the next relay tries again
        sent += outcome is Sent.SENT
    if sent:
        logger.info("The outbox relay sent %d tasks kept while the broker was away", sent)
    return sent


def waiting() -> int:
    """How many tasks wait for the broker (those set aside are not waiting)."""
    return OutboxTask.objects.filter(given_up_at=None).count()


def counts() -> dict[str, int]:
    """Waiting and set-aside tasks, for the Administration page: one query."""
    return OutboxTask.objects.aggregate(
        waiting=Count("pk", filter=Q(given_up_at=None)),
        set_aside=Count("pk", filter=Q(given_up_at__isnull=False)),
    )
