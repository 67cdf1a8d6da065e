"""The Verify page: auditors (and admins) check on demand that the record has not been
altered behind the application's back (``portal.audit.verify``).

Verifying only reads, so the button is not a change to anything; it is a POST (with
CSRF protection) because it starts a walk over the whole record, which no link, crawler
or prefetch should start. The walk runs in the background (``portal.audit.verify_runs``);
the page shows the last result and, while a run is going, says so (and, with htmx,
refreshes itself until it finishes).
"""

from __future__ import annotations

import logging
from contextlib import suppress

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from portal.audit import verify_runs
from portal.audit.tasks import verify_record_task
from portal.permissions import permission_required

logger = logging.getLogger("preflight.audit")


UNAVAILABLE = (
    "The verification could not start: the task queue is unavailable. "
    "Run manage.py verify_record on the server instead."
)


def _start(request: HttpRequest) -> None:
    by = str(getattr(request.user, "email", ""))
    try:
        run = verify_runs.claim(by=by)
    except RedisError:  # the shared cache is down
        logger.warning("verify: could not claim a run", exc_info=True)
        messages.error(request, UNAVAILABLE)
        return
    if run is None:
        messages.warning(request, "A verification is already running.")
        return
    try:
        # The page reads the outcome from the cache, not the result store.
        verify_record_task.apply_async(
            kwargs={"by": run.by, "at": run.at.isoformat()}, ignore_result=True
        )
    except (RedisError, OperationalError):  # the broker is down
        logger.warning("verify: could not queue a run", exc_info=True)
        with suppress(RedisError):  # the cache may be down with it
            verify_runs.release()
        messages.error(request, UNAVAILABLE)
        return
    messages.info(request, "Verification started.")


@permission_required("audit.verify_record")
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _start(request)
        return redirect("audit:verify")
    try:
        running, last = verify_runs.running(), verify_runs.last()
    except RedisError:  # without the cache there is no run to show; the button still shows
        logger.warning("verify: could not read the runs", exc_info=True)
        running, last = None, None
    context = {"running": running, "last": last}
    if getattr(request, "htmx", False):
        return render(request, "audit/_verify_status.html", context)
    return render(request, "audit/verify.html", context)
