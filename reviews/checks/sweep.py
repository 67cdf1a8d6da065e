"""Sweeps: which checks apply to which services, running them, storing what they found.

A check applies to a service when an item of the checklist version of one of its open
reviews binds it (``Item.checks``). Results are stored idempotently (one per run,
service and check), an error never replaces the last real result, and a regression from
pass to fail notifies the team and reviewers once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from checklists.models import Item
from reviews.checks.base import Credentials, Outcome, Result, Target, binding_id, check_type
from reviews.checks.runner import Job
from reviews.connections import all_credentials, credentials_for
from reviews.models import (
    CheckResult,
    CheckRun,
    Review,
    Service,
    ServiceCheck,
)
from reviews.workflow import OPEN_STATES


def target_for(
    service: Service, credentials: dict[tuple[str, int | None], Credentials] | None = None
) -> Target:
    """What the checks read about ``service``; pass ``all_credentials()`` when making many."""
    if credentials is None:
        credentials = all_credentials()
    return Target(
        service_id=service.pk,
        health_check_url=service.health_check_url,
        public_url=service.public_url,
        status_page_url=service.status_page_url,
        environments=tuple(service.environment_list),
        cloud_account_id=service.cloud_account_id,
        cloud_region=service.cloud_region,
        cloud_role_arn=service.cloud_role_arn,
        project_tag=service.project_tag,
        repository_url=service.repository_url,
        prometheus_url=service.prometheus_url,
        alertmanager_url=service.alertmanager_url,
        pagerduty_service_id=service.pagerduty_service_id,
        cloud_foundry_space=service.cloud_foundry_space,
        credentials=credentials_for(service.team_id, credentials),
    )


def bindings(
    service_ids: Iterable[int] | None = None,
) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """Each service's bound checks, (key, params) without repeats (two queries)."""
    reviews = Review.objects.filter(state__in=OPEN_STATES)
    if service_ids is not None:
        reviews = reviews.filter(service_id__in=list(service_ids))
    versions_by_service: dict[int, set[int]] = defaultdict(set)
    for service_id, version_id in reviews.values_list("service_id", "checklist_version_id"):
        versions_by_service[service_id].add(version_id)
    all_versions = {v for versions in versions_by_service.values() for v in versions}
    checks_by_version: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for version_id, checks in (
        Item.objects.filter(version_id__in=all_versions)
        .exclude(checks=[])
        .values_list("version_id", "checks")
    ):
        checks_by_version[version_id].extend(checks)
    result: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for service_id, versions in versions_by_service.items():
        seen: dict[str, tuple[str, dict[str, Any]]] = {}
        for version_id in versions:
            for binding in checks_by_version[version_id]:
                if binding["key"].startswith("ci."):
                    continue  # pushed by the service's pipeline, never run here
                params = binding.get("params") or {}
                seen[binding["key"] + json.dumps(params, sort_keys=True)] = (binding["key"], params)
        if seen:
            result[service_id] = list(seen.values())
    return result


def plan(service_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The jobs of a sweep as JSON-ready dicts: {"service_id", "key", "params"}."""
    return [
        {"service_id": service_id, "key": key, "params": params}
        for service_id, checks in sorted(bindings(service_ids).items())
        for key, params in checks
    ]


def jobs_from(payload: Sequence[dict[str, Any]]) -> list[Job]:
    services = Service.objects.in_bulk({item["service_id"] for item in payload})
    credentials = all_credentials()
    targets = {pk: target_for(service, credentials) for pk, service in services.items()}
    return [
        Job(key=item["key"], target=targets[item["service_id"]], params=item["params"])
        for item in payload
        if item["service_id"] in services
    ]


def store_outcomes(run: CheckRun, jobs: Sequence[Job], outcomes: Sequence[Outcome]) -> list[int]:
    """Store results (idempotently) and move each service's standing result.

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
            for s in ServiceCheck.objects.select_for_update().filter(
                service_id__in=service_ids, binding__in={b for _, b in stored}
            )
        }
        created: list[ServiceCheck] = []
        changed: list[ServiceCheck] = []
        for (service_id, binding), result in stored.items():
            status = existing.get((service_id, binding))
            if status is None:
                status = ServiceCheck(
                    service_id=service_id,
                    check_key=result.check_key,
                    binding=binding,
                    latest=result,
                )
                created.append(status)
            elif status.latest_id == result.pk:
                continue  # this run was stored before
            else:
                changed.append(status)
                status.updated_at = now  # bulk_update skips auto_now
            status.latest = result
            if result.result != Result.ERROR:
                if status.standing_result == Result.PASS and result.result == Result.FAIL:
                    regressed.add(service_id)
                status.standing = result
                status.standing_result = result.result
        # In bulk: a sweep stores thousands of results.
        ServiceCheck.objects.bulk_create(created)
        ServiceCheck.objects.bulk_update(
            changed, ["latest", "standing", "standing_result", "updated_at"]
        )
    return sorted(regressed)


def record_run_counts(run: CheckRun) -> CheckRun:
    from django.db.models import Count, Q

    counts = run.results.aggregate(
        total=Count("id"),
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


def refresh_reviews(service_ids: Iterable[int]) -> None:
    """Re-summarise the open reviews of services whose results changed."""
    from reviews.readiness import refresh_summary

    for review in Review.objects.filter(service_id__in=list(service_ids), state__in=OPEN_STATES):
        with transaction.atomic():
            locked = Review.objects.select_for_update().get(pk=review.pk)
            refresh_summary(locked)
            locked._change_reason = "Automated check results"  # type: ignore[attr-defined]
            locked.save()
