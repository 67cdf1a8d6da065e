"""Background work of the record: verification started from the Verify page."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from portal.audit import verify_runs
from portal.audit.verify import verify_record

UNFINISHED = (
    f"The verification did not finish within {verify_runs.TIME_LIMIT // 60 - 1} minutes. "
    "Run manage.py verify_record on the server instead."
)


# acks_late is off on purpose: a run may outlast the broker's visibility timeout (900 s),
# and a lost run is simply started again, while a redelivered one would run twice.
@shared_task(
    name="audit.verify_record",
    acks_late=False,
    time_limit=verify_runs.TIME_LIMIT,
    soft_time_limit=verify_runs.TIME_LIMIT - 60,
)
def verify_record_task(*, by: str, at: str) -> bool:
    """Verify the whole record for ``by``, who pressed the button at ``at`` (ISO 8601),
    and keep the result for the Verify page. Returns whether the record is intact."""
    started = datetime.fromisoformat(at)
    try:
        report = verify_record()
    except SoftTimeLimitExceeded:
        verify_runs.finish(verify_runs.Run(by=by, at=started, failure=UNFINISHED))
        return False
    except BaseException:
        verify_runs.release()  # a crash must not leave the button blocked
        raise
    verify_runs.finish(verify_runs.Run(by=by, at=started, report=report))
    return report.ok
