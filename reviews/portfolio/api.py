"""The portfolio and readiness history in the API, with the portfolio page's filters.

The query string is the page's (``PortfolioForm``), checked by that same form: what it
refuses is a 422 naming the fields, where the page shows the error beside them. The rows
are the page's rows (``selectors.row``), so the API, the page and the CSV agree.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.params.functions import Query

from portal.accounts.models import User
from portal.api.auth import READ_AUTH, caller
from portal.api.errors import error_responses
from portal.api.pagination import Page, page_number, paginate
from portal.api.params import form_parameters, form_problems
from portal.permissions import require
from reviews.api import ChecklistVersionRef, ServiceRef, readable_service, team_out
from reviews.models import ReviewState, Service
from reviews.portfolio import selectors
from reviews.portfolio.forms import PortfolioForm

router = Router(tags=["portfolio"], auth=READ_AUTH)

FILTERS = form_parameters(
    PortfolioForm,
    notes={
        "team": "A team's slug.",
        "checklist": "A checklist's slug: services whose current review answers it.",
        "state": "The current review's state; none: services without a review.",
        "status": "What the portfolio's tiles count.",
        "scope": "Product leads only: their teams' services (mine, the default) or all "
        "they may read.",
        "sort": "A column; a leading - sorts it descending. Default: name.",
    },
)


class PortfolioRow(Schema):
    """One service as the portfolio shows it: its current (newest) review's figures, or
    nulls when it has no review yet."""

    service: ServiceRef
    url: str
    review_id: int | None
    checklist: ChecklistVersionRef | None
    state: str | None
    readiness_percent: int | None
    open_must_haves: int | None
    failing_checks: int | None
    awaiting_roles: list[str]  # sign-offs still needed, while the review is submitted
    pending_exceptions: int | None
    expiring_exceptions: int  # valid exceptions expiring within 30 days
    target_date: date | None
    days_left: int | None  # negative when overdue
    last_activity_at: datetime | None
    statuses: list[str]  # ready, blocked, in_review, overdue, not_started


class TrendPointOut(Schema):
    date: date
    readiness: float  # average readiness %, 0 to 100
    services: int
    open_must_haves: int


class TrendOut(Schema):
    """Readiness each day with a snapshot, oldest first, over the last `days` days."""

    days: int
    points: list[TrendPointOut]


def _row(service: Service, today: date) -> PortfolioRow:
    row = selectors.row(service, today)
    review = row.review
    # As the page: the sign-offs a review is waiting for mean something while it is submitted.
    submitted = review is not None and review.state == ReviewState.SUBMITTED
    awaiting = review.awaiting_role_list if submitted else []
    version = review.checklist_version if review is not None else None
    return PortfolioRow(
        service=ServiceRef(slug=service.slug, name=service.name, team=team_out(service.team)),
        url=service.get_absolute_url(),
        review_id=None if review is None else review.pk,
        checklist=None
        if version is None
        else ChecklistVersionRef(
            slug=version.checklist.slug, title=version.checklist.title, number=version.number
        ),
        state=None if review is None else review.state,
        readiness_percent=None if review is None else review.readiness_percent,
        open_must_haves=None if review is None else review.open_must_haves,
        failing_checks=None if review is None else review.failing_checks,
        awaiting_roles=awaiting,
        pending_exceptions=None if review is None else review.pending_exceptions,
        expiring_exceptions=getattr(service, "expiring_exceptions", None) or 0,
        target_date=None if review is None else review.target_date,
        days_left=row.days_left,
        last_activity_at=None if review is None else review.last_activity_at,
        statuses=row.statuses,
    )


def _trend(days: int, points: list[selectors.TrendPoint]) -> TrendOut:
    return TrendOut(
        days=days,
        points=[
            TrendPointOut(
                date=p.date,
                readiness=p.readiness,
                services=p.services,
                open_must_haves=p.open_must_haves,
            )
            for p in points
        ],
    )


def _rows(request: HttpRequest, user: User) -> QuerySet[Service]:
    """The portfolio's rows for the query string, as the page filters them."""
    require(user, "reviews.view_portfolio")
    form = PortfolioForm(request.GET, user=user)
    if not form.is_valid():
        raise HttpError(422, form_problems(form))
    return selectors.services(user, form.filters())


def days_param() -> int:
    days: int = Query(
        90, ge=1, le=366, description="How many days back, today included (at most 366)."
    )
    return days


@router.get(
    "/portfolio",
    response={200: Page[PortfolioRow], **error_responses(401, 403, 404, 422)},
    summary="The portfolio: every service you may read, filtered and sorted",
    openapi_extra={"parameters": FILTERS},
)
def portfolio(request: HttpRequest, page: int = page_number()) -> Page[PortfolioRow]:
    """The rows of the portfolio page, with its filters and sorting. Product leads get
    their teams' services unless they ask for `scope=all`."""
    rows = _rows(request, caller(request))
    today = timezone.localdate()
    return paginate(rows, page, lambda service: _row(service, today))


@router.get(
    "/portfolio/readiness",
    response={200: TrendOut, **error_responses(401, 403, 422)},
    summary="Average readiness of the portfolio each day",
    openapi_extra={"parameters": FILTERS},
)
def portfolio_readiness(request: HttpRequest, days: int = days_param()) -> TrendOut:
    """The average readiness of the filtered services' current reviews, each day."""
    rows = _rows(request, caller(request))
    return _trend(days, selectors.portfolio_trend(rows, days))


@router.get(
    "/services/{slug:slug}/readiness",
    response={200: TrendOut, **error_responses(401, 404, 422)},
    summary="Readiness of one service each day",
)
def service_readiness(request: HttpRequest, slug: str, days: int = days_param()) -> TrendOut:
    """The readiness of the service's current review each day."""
    service = readable_service(caller(request), slug)
    return _trend(days, selectors.service_trend(service, days))
