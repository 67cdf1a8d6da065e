"""The sweep: beat (or "check now") plans it, chunks of checks run concurrently in
workers, and a chord callback counts the run, refreshes readiness and reports
regressions. Tasks take ids and JSON, and call the selectors and services."""

from __future__ import annotations

import logging

from celery import chord, shared_task
from django.conf import settings

from reviews.checks import selectors, services
from reviews.checks.collectors.runner import run_jobs
from reviews.checks.notifications import checks_regressed
from reviews.models import CheckRun, CheckRunTrigger
from reviews.services import readiness_refresh

logger = logging.getLogger(__name__)


@shared_task(name="checks.sweep", acks_late=True, time_limit=120, soft_time_limit=100)
def sweep(run_id: int | None = None, service_ids: list[int] | None = None) -> int:
    """Plan a sweep and fan it out: chunks of checks run in parallel, then a summary.

    With no arguments, a scheduled run of every service; "check now" passes a prepared
    run and one service. Returns the run id.
    """
    run = (
        CheckRun.objects.get(pk=run_id)
        if run_id is not None
        else CheckRun.objects.create(trigger=CheckRunTrigger.SCHEDULE)
    )
    jobs = selectors.plan(service_ids)
    run.job_count = len(jobs)
    run.save(update_fields=["job_count"])
    size = settings.CHECK_CHUNK_SIZE
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    if not chunks:
        finish_run.delay([], run.pk)
        return run.pk
    chord(run_chunk.s(run.pk, chunk) for chunk in chunks)(finish_run.s(run.pk))
    return run.pk


@shared_task(name="checks.sweep_scheduled", acks_late=True, time_limit=120, soft_time_limit=100)
def sweep_scheduled() -> int | None:
    """Beat's tick: sweep every service, unless another beat's sweep of the same tick got
    there first (see services.scheduled_sweep_claim). Returns the run id, or None."""
    if not services.scheduled_sweep_claim():
        logger.info("Scheduled sweep stood down: another began within the interval")
        return None
    return sweep(None, None)


@shared_task(
    name="checks.run_chunk",
    acks_late=True,
    # Redelivered after a lost worker: storing is idempotent, so re-running is safe.
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=3,
    time_limit=300,
    soft_time_limit=240,
)
def run_chunk(run_id: int, payload: list[dict[str, object]]) -> dict[str, list[int]]:
    """Run one chunk of checks concurrently and store the outcomes."""
    run = CheckRun.objects.get(pk=run_id)
    jobs = selectors.jobs_from(payload)
    outcomes = run_jobs(
        jobs, concurrency=settings.CHECK_CONCURRENCY, timeout=settings.CHECK_TIMEOUT_SECONDS
    )
    regressed = services.outcomes_store(run, jobs, outcomes)
    return {
        "services": sorted({job.target.service_id for job in jobs}),
        "regressed": regressed,
    }


@shared_task(name="checks.finish_run", acks_late=True, time_limit=300, soft_time_limit=240)
def finish_run(chunk_results: list[dict[str, list[int]]], run_id: int) -> dict[str, int]:
    """Chord callback: count the run, refresh readiness, notify regressions once."""
    run = services.run_finish(CheckRun.objects.get(pk=run_id))
    touched = {sid for chunk in chunk_results for sid in chunk["services"]}
    regressed = {sid for chunk in chunk_results for sid in chunk["regressed"]}
    readiness_refresh(service_ids=touched)
    for service_id in sorted(regressed):
        checks_regressed(service_id, run)
    return {"passed": run.passed, "failed": run.failed, "errored": run.errored}
