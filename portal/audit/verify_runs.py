"""The Verify button's runs: one at a time, in the background, the last result kept for
the next reader.

A run walks the whole record (``portal.audit.verify``): 15-25 s per 100,000 lines on
a busy 2-core machine, so minutes at millions of lines, too long for a web request. The
button queues the ``audit.verify_record`` task instead (in the embedded mode, with no
broker, the task runs at once in the request). Whether a run is going and the last
result live in the cache, which the web processes and the workers share: a run leaves
nothing in the database, since verifying only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from portal.audit.verify import Report

RUNNING = "audit:verify:running"
LAST = "audit:verify:last"
# A run that has not finished after this long (the task's time limit) no longer blocks
# the button.
TIME_LIMIT = 30 * 60


@dataclass(frozen=True)
class Run:
    """A verification someone started: when, by whom, and its report once finished (or
    why it did not finish)."""

    by: str
    at: datetime
    report: Report | None = None
    failure: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "at": self.at.isoformat(),
            "report": self.report.as_dict() if self.report else None,
            "failure": self.failure,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Run | None:
        """None for anything unreadable (kept by an older version, say)."""
        try:
            report = data["report"]
            return cls(
                by=data["by"],
                at=datetime.fromisoformat(data["at"]),
                report=Report.from_dict(report) if report else None,
                failure=data.get("failure", ""),
            )
        except (KeyError, TypeError, ValueError):
            return None


def claim(*, by: str) -> Run | None:
    """Mark a run as started by ``by``; None when one is already running."""
    run = Run(by=by, at=timezone.now())
    return run if cache.add(RUNNING, run.as_dict(), timeout=TIME_LIMIT) else None


def finish(run: Run) -> None:
    """Keep ``run`` (with its report or failure) as the last result; free the button."""
    cache.set(LAST, run.as_dict(), timeout=None)
    cache.delete(RUNNING)


def release() -> None:
    """Free the button without a result (the run could not even be queued)."""
    cache.delete(RUNNING)


def running() -> Run | None:
    return Run.from_dict(cache.get(RUNNING))


def last() -> Run | None:
    return Run.from_dict(cache.get(LAST))
