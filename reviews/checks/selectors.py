"""Reads of automated evidence: which checks apply to which services (the sweep's plan),
what a check reads about a service, which bindings fail, and the standing results pages
show beside answers.

A check applies to a service when an item of the checklist version of one of its open
reviews binds it (``Item.checks``); a binding is identified by ``Binding.id`` everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from checklists.models import Item
from portal.tokens import MAX_TOKEN_LENGTH, token_hash
from reviews.checks.collectors.base import (
    Binding,
    Credentials,
    Result,
    Target,
    bindings_of,
    check_family,
)
from reviews.checks.collectors.runner import Job
from reviews.checks.pushed import TOKEN_PREFIX
from reviews.models import (
    Answer,
    AnswerStatus,
    CheckRun,
    CheckStanding,
    PlatformConnection,
    Review,
    Service,
    ServiceToken,
)
from reviews.workflow import OPEN_STATES

# --- the sweep's plan --------------------------------------------------------------------------


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


def bindings(service_ids: Iterable[int] | None = None) -> dict[int, list[Binding]]:
    """Each service's collected checks (pushed ones are the pipeline's), each once
    (two queries)."""
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
    result: dict[int, list[Binding]] = {}
    for service_id, versions in versions_by_service.items():
        found = bindings_of([c for v in sorted(versions) for c in checks_by_version[v]])
        collected = [binding for binding in found if not binding.pushed]
        if collected:
            result[service_id] = collected
    return result


def plan(service_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The jobs of a sweep as JSON-ready dicts: {"service_id", "key", "params"}."""
    return [
        {"service_id": service_id, "key": binding.key, "params": binding.params}
        for service_id, found in sorted(bindings(service_ids).items())
        for binding in found
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


# --- platform credentials ----------------------------------------------------------------------


def credentials_by_team(
    connections: Iterable[PlatformConnection],
) -> dict[tuple[str, int | None], Credentials]:
    """(kind, team id or None) → credentials, for ``credentials_for``."""
    return {(c.kind, c.team_id): c.credentials() for c in connections}


def credentials_for(
    team_id: int, by_team: dict[tuple[str, int | None], Credentials]
) -> tuple[Credentials, ...]:
    """A team's credentials of each kind: its own connection, else the organisation's."""
    kinds = sorted({kind for kind, _ in by_team})
    chosen = (by_team.get((kind, team_id)) or by_team.get((kind, None)) for kind in kinds)
    return tuple(c for c in chosen if c is not None)


def all_credentials() -> dict[tuple[str, int | None], Credentials]:
    return credentials_by_team(PlatformConnection.objects.filter(enabled=True))


# --- results -----------------------------------------------------------------------------------


def standings(service: Service) -> dict[str, CheckStanding]:
    """The service's standing results by binding id, with their results (one query)."""
    return {
        standing.binding: standing
        for standing in CheckStanding.objects.filter(service=service).select_related(
            "latest", "standing"
        )
    }


@dataclass(frozen=True)
class Standings:
    """A service's standing results as a page shows them: the ones that say something,
    and the not-applicable ones summed up by family ("30 AWS checks")."""

    shown: list[CheckStanding]
    not_applicable: list[tuple[str, list[CheckStanding]]]

    @property
    def not_applicable_count(self) -> int:
        return sum(len(group) for _, group in self.not_applicable)


def standings_for_page(service: Service) -> Standings:
    """``standings(service)``, sorted by title, not-applicable ones grouped by family."""
    found = sorted(standings(service).values(), key=lambda s: (s.title, s.binding))
    shown = [s for s in found if s.standing_result != Result.NOT_APPLICABLE]
    by_family: dict[str, list[CheckStanding]] = defaultdict(list)
    for standing in found:
        if standing.standing_result == Result.NOT_APPLICABLE:
            by_family[check_family(standing.check_key)].append(standing)
    return Standings(shown, sorted(by_family.items()))


def run_not_applicable(run: CheckRun) -> list[tuple[str, int]]:
    """A run's not-applicable results, counted by family (one grouped query)."""
    counts: dict[str, int] = defaultdict(int)
    for key, count in (
        run.results.filter(result=Result.NOT_APPLICABLE)
        .values_list("check_key")
        .annotate(count=Count("id"))
        .order_by()
    ):
        counts[check_family(key)] += count
    return sorted(counts.items())


def failing_bindings(service_id: int) -> set[str]:
    """The ids of the service's bindings whose standing result is a failure."""
    return set(
        CheckStanding.objects.filter(
            service_id=service_id, standing_result=Result.FAIL
        ).values_list("binding", flat=True)
    )


@dataclass(frozen=True)
class ItemCheck:
    """One binding of an item and where it stands, as a page shows it."""

    binding: Binding
    standing: CheckStanding | None

    @property
    def fails(self) -> bool:
        return self.standing is not None and self.standing.fails


def item_checks(checks: list[dict[str, Any]], found: dict[str, CheckStanding]) -> list[ItemCheck]:
    """An item's bindings (``Item.checks``) with their standing results from ``found``
    (``standings(service)``), looked up by binding id, parameters included."""
    return [ItemCheck(binding, found.get(binding.id)) for binding in bindings_of(checks)]


def contradicted(answer: Answer, checks: list[ItemCheck]) -> bool:
    """Answered "met" while one of the item's automated checks fails: the page warns."""
    return answer.status == AnswerStatus.MET and any(check.fails for check in checks)


def token_for(plain: str) -> ServiceToken | None:
    """The live token a plain token names, or None (unknown or revoked)."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > MAX_TOKEN_LENGTH:
        return None
    return (
        ServiceToken.objects.select_related("service")
        .filter(token_hash=token_hash(plain), revoked_at__isnull=True)
        .first()
    )
