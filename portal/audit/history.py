"""The history every followed model keeps: simple-history's, attributed.

``recorded()`` is ``HistoricalRecords()`` whose rows also carry the request id and the
IP address (``AttributedChange``), so every history row says who, when, why, in which
request and from where.

``acting(by=..., reason=...)`` names who and why for the history rows a write makes of
records the caller never holds: the sections and items a deleted draft takes with it
(Django's cascade loads them itself), so they are attributed like the draft.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import models
from simple_history.models import HistoricalRecords

from portal.audit.models import AttributedChange


def recorded(**options: Any) -> HistoricalRecords:
    # Reasons are sentences ("Sign-off: approved by …"): not cut at simple-history's 100.
    return HistoricalRecords(
        bases=[AttributedChange],
        history_change_reason_field=models.TextField(null=True),
        **options,
    )


@dataclass(frozen=True)
class Acting:
    by: Any
    reason: str


_acting: ContextVar[Acting | None] = ContextVar("acting", default=None)


@contextmanager
def acting(*, by: Any, reason: str) -> Iterator[None]:
    """History rows written inside name ``by`` and ``reason`` unless they say their own
    (``portal.audit.receivers`` fills them in)."""
    token = _acting.set(Acting(by=by, reason=reason))
    try:
        yield
    finally:
        _acting.reset(token)


def acting_now() -> Acting | None:
    return _acting.get()


def attributed(instance: Any, *, by: Any, reason: str) -> None:
    """Name who and why for the history row the next save of ``instance`` writes: the
    person a service acts for, in a request or not (a command, the demo, a task acting
    for someone); without one, the request's user, if any."""
    instance._change_reason = reason
    if getattr(by, "pk", None) is not None:
        instance._history_user = by
