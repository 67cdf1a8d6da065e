"""Services and reviews in the API, read as the pages read them.

Who may read what is ``portal.permissions``, as on the pages: the list of services is
for those who have the portfolio (403 for anyone else); a service or review the caller
may not read is a 404, exactly as one that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Router, Schema

from portal.accounts.models import Team, User
from portal.api.auth import READ_AUTH, caller
from portal.api.errors import error_responses
from portal.api.pagination import Page, page_number, paginate
from portal.permissions import require, require_object, visible_services
from reviews import selectors
from reviews.checks import selectors as check_selectors
from reviews.models import Answer, CheckResult, CheckStanding, Review, Service

router = Router(tags=["services and reviews"], auth=READ_AUTH)

# --- what the answers hold -------------------------------------------------------------------


class TeamOut(Schema):
    slug: str
    name: str


class PersonOut(Schema):
    name: str
    email: str


class ChecklistVersionRef(Schema):
    """The checklist version a review answers."""

    slug: str
    title: str
    number: int


class ReviewSummary(Schema):
    """A review's state and its stored summary (what the portfolio shows)."""

    id: int
    url: str
    kind: str
    state: str
    checklist: ChecklistVersionRef
    target_date: date | None
    created_at: datetime
    submitted_at: datetime | None
    last_activity_at: datetime | None
    readiness_percent: int
    item_count: int
    applicable_count: int
    met_count: int
    must_have_count: int
    open_must_haves: int
    failing_must_haves: int
    failing_checks: int
    pending_exceptions: int
    awaiting_roles: list[str]


class ServiceRow(Schema):
    """A service in a list, with its current (newest) review's summary."""

    slug: str
    name: str
    url: str
    team: TeamOut
    hosting: str
    impact_level: str
    current_review: ReviewSummary | None


class ServiceDetail(ServiceRow):
    """A service with its settings (those the automated checks read included; never a
    secret: CI tokens and platform credentials are not part of a service) and its reviews,
    newest first."""

    description: str
    environments: list[str]
    repository_url: str
    runbook_url: str
    dashboard_url: str
    status_page_url: str
    health_check_url: str
    public_url: str
    cloud_account_id: str
    cloud_region: str
    cloud_role_arn: str
    project_tag: str
    prometheus_url: str
    alertmanager_url: str
    pagerduty_service_id: str
    cloud_foundry_space: str
    created_at: datetime
    reviews: list[ReviewSummary]


class ServiceRef(Schema):
    slug: str
    name: str
    team: TeamOut


class AnswerItem(Schema):
    ref: str
    text: str
    must_have: bool
    section: str


class ResultOut(Schema):
    """One result of an automated check."""

    result: str
    explanation: str
    observed: dict[str, Any]
    checked_at: datetime
    fresh_until: datetime
    link: str


class CheckOut(Schema):
    """One automated check an item binds, and where it stands on the service.

    `standing` is the last real answer (pass, fail, not applicable); `latest` is the
    last attempt, which differs when that attempt errored. Both are null before the check
    first ran.
    """

    binding: str
    key: str
    title: str
    params: dict[str, Any]
    result: str | None
    fails: bool
    standing: ResultOut | None
    latest: ResultOut | None


class AnswerOut(Schema):
    id: int
    item: AnswerItem
    status: str
    justification: str
    notes: str
    owner: PersonOut | None
    revision: int
    updated_at: datetime
    needs_recheck: bool
    contradicted: bool  # answered "met" while one of its checks fails
    checks: list[CheckOut]


class ReviewDetail(ReviewSummary):
    """A review with its answers, must-haves first within each section, and the latest
    automated results beside each."""

    service: ServiceRef
    answers: list[AnswerOut]


# --- building them (no queries: each selector loads what they read) --------------------------


def team_out(team: Team) -> TeamOut:
    return TeamOut(slug=team.slug, name=team.name)


def _review_fields(review: Review) -> dict[str, Any]:
    """Needs ``checklist_version__checklist`` loaded."""
    version = review.checklist_version
    return {
        "id": review.pk,
        "url": review.get_absolute_url(),
        "kind": review.kind,
        "state": review.state,
        "checklist": ChecklistVersionRef(
            slug=version.checklist.slug, title=version.checklist.title, number=version.number
        ),
        "target_date": review.target_date,
        "created_at": review.created_at,
        "submitted_at": review.submitted_at,
        "last_activity_at": review.last_activity_at,
        "readiness_percent": review.readiness_percent,
        "item_count": review.item_count,
        "applicable_count": review.applicable_count,
        "met_count": review.met_count,
        "must_have_count": review.must_have_count,
        "open_must_haves": review.open_must_haves,
        "failing_must_haves": review.failing_must_haves,
        "failing_checks": review.failing_checks,
        "pending_exceptions": review.pending_exceptions,
        "awaiting_roles": review.awaiting_role_list,
    }


def review_summary(review: Review) -> ReviewSummary:
    return ReviewSummary(**_review_fields(review))


def _service_fields(service: Service) -> dict[str, Any]:
    """Needs ``team`` and ``current_review__checklist_version__checklist`` loaded."""
    review = service.current_review
    return {
        "slug": service.slug,
        "name": service.name,
        "url": service.get_absolute_url(),
        "team": team_out(service.team),
        "hosting": service.hosting,
        "impact_level": service.impact_level,
        "current_review": None if review is None else review_summary(review),
    }


def service_row(service: Service) -> ServiceRow:
    return ServiceRow(**_service_fields(service))


def _person(user: User | None) -> PersonOut | None:
    return None if user is None else PersonOut(name=str(user), email=user.email)


def _result(result: CheckResult | None) -> ResultOut | None:
    if result is None:
        return None
    return ResultOut(
        result=result.result,
        explanation=result.explanation,
        observed=result.observed,
        checked_at=result.checked_at,
        fresh_until=result.fresh_until,
        link=result.link,
    )


def _check(item_check: check_selectors.ItemCheck) -> CheckOut:
    binding, standing = item_check.binding, item_check.standing
    return CheckOut(
        binding=binding.id,
        key=binding.key,
        title=binding.title,
        params=binding.params,
        result=(standing.standing_result or None) if standing is not None else None,
        fails=item_check.fails,
        standing=_result(standing.standing) if standing is not None else None,
        latest=_result(standing.latest) if standing is not None else None,
    )


def _answer(answer: Answer, standings: dict[str, CheckStanding]) -> AnswerOut:
    item = answer.item
    checks = check_selectors.item_checks(item.checks, standings)
    return AnswerOut(
        id=answer.pk,
        item=AnswerItem(
            ref=item.ref, text=item.text, must_have=item.must_have, section=item.section.title
        ),
        status=answer.status,
        justification=answer.justification,
        notes=answer.notes,
        owner=_person(answer.owner),
        revision=answer.revision,
        updated_at=answer.updated_at,
        needs_recheck=answer.needs_recheck,
        contradicted=check_selectors.contradicted(answer, checks),
        checks=[_check(check) for check in checks],
    )


# --- reads -----------------------------------------------------------------------------------


def _with_current_review(rows: QuerySet[Service]) -> QuerySet[Service]:
    """What ``service_row`` reads, loaded with the services."""
    return rows.select_related("team", "current_review__checklist_version__checklist")


def readable_service(user: User, slug: str) -> Service:
    """The service ``slug`` names, if ``user`` may read it (else 404, as if it did not
    exist); with its team and current review loaded (one query)."""
    try:
        service = _with_current_review(Service.objects.all()).get(slug=slug)
    except Service.DoesNotExist:
        raise Http404("No such service.") from None
    require_object(user, "reviews.view_service", service)
    return service


# --- operations ------------------------------------------------------------------------------


@router.get(
    "/services",
    response={200: Page[ServiceRow], **error_responses(401, 403, 404, 422)},
    summary="The services you may read",
)
def services_list(request: HttpRequest, page: int = page_number()) -> Page[ServiceRow]:
    """Every service the caller may read, by name: product leads their teams' services,
    reviewers, managers, auditors and admins all of them. For filters and the portfolio's
    figures, see `/portfolio`."""
    user = caller(request)
    require(user, "reviews.view_portfolio")
    rows = _with_current_review(visible_services(user)).order_by("name", "pk")
    return paginate(rows, page, service_row)


@router.get(
    "/services/{slug:slug}",
    response={200: ServiceDetail, **error_responses(401, 404)},
    summary="One service, its settings and its reviews",
)
def service_detail(request: HttpRequest, slug: str) -> ServiceDetail:
    service = readable_service(caller(request), slug)
    reviews = service.reviews.select_related("checklist_version__checklist").order_by(
        "-created_at", "-pk"
    )
    return ServiceDetail(
        **_service_fields(service),
        description=service.description,
        environments=service.environment_list,
        repository_url=service.repository_url,
        runbook_url=service.runbook_url,
        dashboard_url=service.dashboard_url,
        status_page_url=service.status_page_url,
        health_check_url=service.health_check_url,
        public_url=service.public_url,
        cloud_account_id=service.cloud_account_id,
        cloud_region=service.cloud_region,
        cloud_role_arn=service.cloud_role_arn,
        project_tag=service.project_tag,
        prometheus_url=service.prometheus_url,
        alertmanager_url=service.alertmanager_url,
        pagerduty_service_id=service.pagerduty_service_id,
        cloud_foundry_space=service.cloud_foundry_space,
        created_at=service.created_at,
        reviews=[review_summary(review) for review in reviews],
    )


@router.get(
    "/reviews/{id:review_id}",
    response={200: ReviewDetail, **error_responses(401, 404)},
    summary="One review, its answers and their automated results",
)
def review_detail(request: HttpRequest, review_id: int) -> ReviewDetail:
    try:
        review = selectors.review_for_page(review_id)
    except Review.DoesNotExist:
        raise Http404("No such review.") from None
    require_object(caller(request), "reviews.view_review", review)
    standings = check_selectors.standings(review.service)
    answers = [
        answer
        for section in selectors.answers_by_section(review, "all")
        for answer in section.answers
    ]
    service = review.service
    return ReviewDetail(
        **_review_fields(review),
        service=ServiceRef(slug=service.slug, name=service.name, team=team_out(service.team)),
        answers=[_answer(answer, standings) for answer in answers],
    )
