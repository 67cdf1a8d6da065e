"""Writes of automated evidence: storing what sweeps and pipelines found, moving each
check's standing result (one rule for both), and CI tokens.

An error never replaces the last real result (``latest`` moves on every result, the
standing result only on pass, fail or not applicable), and a regression from pass to fail
is reported once. Results are stored idempotently: one per run, service and binding, and
one per idempotency key of a push.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.history import attributed
from portal.tokens import SHOWN_PREFIX_LENGTH, token_hash, token_new
from reviews.checks.collectors.base import Outcome, Result, binding_id, check_type
from reviews.checks.collectors.runner import Job
from reviews.checks.notifications import checks_regressed
from reviews.checks.pushed import (
    TOKEN_PREFIX,
    IdempotencyKeyReused,
    PushedEvidence,
    refuse_control,
    same_push,
)
from reviews.models import (
    CheckResult,
    CheckRun,
    CheckRunTrigger,
    CheckStanding,
    Service,
    ServiceToken,
)
from reviews.pagecache import WORKSPACE
from reviews.services import readiness_refresh

logger = logging.getLogger(__name__)

# --- the standing result: one rule for sweeps and pushes ---------------------------------------


def standing_record(standing: CheckStanding, result: CheckResult) -> bool:
    """Move ``standing`` to ``result`` (in memory; the caller saves). Returns whether the
    check regressed: it passed and now fails.

    ``latest`` always moves; the standing result moves only on a real answer, so an
    error (an unreachable target) never erases what was last known.
    """
    standing.latest = result
    if result.result == Result.ERROR:
        return False
    regressed = standing.standing_result == Result.PASS and result.result == Result.FAIL
    standing.standing = result
    standing.standing_result = result.result
    return regressed


# --- sweeps -----------------------------------------------------------------------------------


# The lease a scheduled sweep takes in the shared cache (Redis in production).
SCHEDULED_SWEEP_LEASE = "checks:scheduled-sweep"


def scheduled_sweep_claim() -> bool:
    """Claim this tick of the sweep schedule. False when a scheduled sweep already started
    less than four fifths of ``CHECK_SWEEP_SECONDS`` ago: this one must stand down.

    Every host may run the whole Procfile, beat included, and each beat sends every tick:
    the first sweep to arrive takes the lease and the others stand down. A lease rather
    than a slot of the clock, because two beats tick out of phase (a slot boundary falls
    between their sends); four fifths, so a sweep that waited in the queue a little longer
    than the one before still runs. When the cache cannot be reached the sweep runs: a
    doubled sweep stores its own results, a lost one leaves standings stale.
    """
    lease = settings.CHECK_SWEEP_SECONDS * 4 / 5
    try:
        claimed = cache.add(SCHEDULED_SWEEP_LEASE, timezone.now().isoformat(), timeout=lease)
    except Exception:
        logger.exception("The scheduled sweep's lease could not be taken; sweeping anyway")
        return True
    # A cache that ignores its errors (django-redis) answers None when Redis is away.
    return claimed is not False


def outcomes_store(run: CheckRun, jobs: Sequence[Job], outcomes: Sequence[Outcome]) -> list[int]:
    """Store a chunk's results (idempotently) and move each service's standing results.

    Returns the ids of services whose standing result regressed from pass to fail.
    """
    now = timezone.now()
    rows = [
        CheckResult(
            run=run,
            service_id=job.target.service_id,
            check_key=job.key,
            binding=binding_id(job.key, job.params),
            params=job.params,
            result=outcome.result,
            explanation=outcome.explanation[:2000],
            observed=outcome.observed,
            expected=outcome.expected,
            duration_ms=outcome.duration_ms,
            checked_at=now,
            fresh_until=now + timedelta(seconds=check_type(job.key).fresh_for_seconds),
        )
        for job, outcome in zip(jobs, outcomes, strict=True)
    ]
    regressed: set[int] = set()
    with transaction.atomic():
        # A redelivered chunk finds its rows already there: nothing is added twice.
        CheckResult.objects.bulk_create(rows, ignore_conflicts=True)
        service_ids = {job.target.service_id for job in jobs}
        stored = {
            (r.service_id, r.binding): r
            for r in CheckResult.objects.filter(run=run, service_id__in=service_ids)
        }
        existing = {
            (s.service_id, s.binding): s
            for s in CheckStanding.objects.select_for_update().filter(
                service_id__in=service_ids, binding__in={b for _, b in stored}
            )
        }
        created: list[CheckStanding] = []
        changed: list[CheckStanding] = []
        for (service_id, binding), result in stored.items():
            standing = existing.get((service_id, binding))
            if standing is None:
                standing = CheckStanding(
                    service_id=service_id, check_key=result.check_key, binding=binding
                )
                created.append(standing)
            elif standing.latest_id == result.pk:
                continue  # this run was stored before
            else:
                changed.append(standing)
                standing.updated_at = now  # bulk_update skips auto_now
            if standing_record(standing, result):
                regressed.add(service_id)
        # In bulk: a sweep stores thousands of results.
        CheckStanding.objects.bulk_create(created)
        CheckStanding.objects.bulk_update(
            changed, ["latest", "standing", "standing_result", "updated_at"]
        )
        if created or changed:
            WORKSPACE.bump_on_commit()  # review pages show standings; they have no history
    return sorted(regressed)


def run_finish(run: CheckRun) -> CheckRun:
    """Count the run's results and mark it finished."""
    counts = run.results.aggregate(
        passed=Count("id", filter=Q(result=Result.PASS)),
        failed=Count("id", filter=Q(result=Result.FAIL)),
        errored=Count("id", filter=Q(result=Result.ERROR)),
        na=Count("id", filter=Q(result=Result.NOT_APPLICABLE)),
    )
    run.passed, run.failed = counts["passed"], counts["failed"]
    run.errored, run.not_applicable = counts["errored"], counts["na"]
    run.finished_at = timezone.now()
    run.save()
    return run


# --- pushes -----------------------------------------------------------------------------------


def _earlier_push(service: Service, payload: PushedEvidence) -> CheckResult | None:
    """The result recorded under the payload's idempotency key, if any.

    Raises IdempotencyKeyReused when that result came from a different body.
    """
    if not payload.idempotency_key:
        return None
    earlier = CheckResult.objects.filter(
        service=service, idempotency_key=payload.idempotency_key
    ).first()
    if earlier is not None and not same_push(earlier, payload):
        raise IdempotencyKeyReused(
            f"The idempotency key “{payload.idempotency_key}” was already used with a "
            "different body; use a new key for a new result."
        )
    return earlier


def evidence_push(*, service: Service, payload: PushedEvidence) -> tuple[CheckResult, bool]:
    """Record a pushed result. Returns (result, created).

    Repeating an idempotency key with the same body returns the first result and records
    nothing; with a different body it raises IdempotencyKeyReused.
    """
    earlier = _earlier_push(service, payload)
    if earlier is not None:
        return earlier, False
    now = timezone.now()
    try:
        with transaction.atomic():
            run = CheckRun.objects.create(
                trigger=CheckRunTrigger.PUSH, service=service, job_count=1, finished_at=now
            )
            result = CheckResult.objects.create(
                run=run,
                service=service,
                check_key=payload.check,
                binding=binding_id(payload.check, None),
                result=payload.result,
                explanation=payload.summary,
                observed=payload.observed,
                checked_at=now,
                fresh_until=now + timedelta(days=payload.fresh_for_days),
                link=payload.link,
                idempotency_key=payload.idempotency_key,
            )
            run_finish(run)
            standing, _ = CheckStanding.objects.select_for_update().get_or_create(
                service=service,
                binding=result.binding,
                defaults={"check_key": payload.check, "latest": result},
            )
            regressed = standing_record(standing, result)
            standing.save()
            WORKSPACE.bump_on_commit()
            if regressed:
                checks_regressed(service.pk, run)
    except IntegrityError:
        # The same key pushed twice at once: the other push won. Only a row under this
        # key proves that; any other integrity error is a real fault and must surface.
        earlier = _earlier_push(service, payload)
        if earlier is None:
            raise
        return earlier, False
    readiness_refresh(service_ids=[service.pk])
    return result, True


# --- CI tokens ------------------------------------------------------------------------------------


def token_create(*, service: Service, name: str, by: User) -> tuple[ServiceToken, str]:
    """A new token; the plain token is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("Name the token (at most 100 characters), e.g. “GitHub Actions”.")
    refuse_control(name)
    plain = token_new(TOKEN_PREFIX)
    token = ServiceToken(
        service=service,
        name=name,
        prefix=plain[:SHOWN_PREFIX_LENGTH],
        token_hash=token_hash(plain),
        created_by=by,
    )
    try:
        token.full_clean()
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from exc
    attributed(token, by=by, reason="CI token created")
    with transaction.atomic():
        token.save()
    return token, plain


def token_revoke(*, service: Service, token: ServiceToken, by: User) -> ServiceToken:
    """Revoke ``service``'s token: pushes with it are refused from now on.

    The token must be the service's own: the service is how the caller was allowed in.
    """
    if token.service_id != service.pk:
        raise ValueError("That token belongs to another service.")
    with transaction.atomic():
        current = ServiceToken.objects.select_for_update().get(pk=token.pk)
        if current.revoked_at is None:
            current.revoked_at = timezone.now()
            current.revoked_by = by
            attributed(current, by=by, reason="CI token revoked")
            current.save()
    return current


def token_used(token: ServiceToken) -> None:
    """Note when a token last pushed. Not history: the field is left out of the token's
    history (every push would add a row), so this write goes straight to the row."""
    ServiceToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
