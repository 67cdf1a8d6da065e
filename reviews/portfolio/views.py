"""The portfolio pages: the list with its tiles and trend, the heat map, the CSV export
and the printable report. All read the same filters from the query string."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from portal.audit import events
from portal.permissions import can, permission_required
from reviews.models import Service
from reviews.portfolio import selectors
from reviews.portfolio.cache import cached_page
from reviews.portfolio.charts import readiness_chart
from reviews.portfolio.forms import PortfolioForm

PAGE_SIZE = 50


def _rows(request: HttpRequest) -> tuple[PortfolioForm, QuerySet[Service]]:
    form = PortfolioForm(request.GET, user=request.user)
    form.is_valid()  # what is invalid is left out and shown as an error
    return form, selectors.services(request.user, form.filters())


def _matching(request: HttpRequest, form: PortfolioForm) -> QuerySet[Service]:
    """The filtered services without row data: for the trend and the heat map's choice."""
    return selectors.filtered(request.user, form.filters())


def _tiles(request: HttpRequest, form: PortfolioForm) -> selectors.Tiles:
    """The tiles count the other filters' services in every status, the chosen status
    too (a tile's count is what its link lists)."""
    everything = replace(form.filters(), status="")
    return selectors.tiles(selectors.filtered(request.user, everything))


@dataclass(frozen=True)
class Header:
    key: str
    label: str
    link_sort: str  # what the header's link sorts by: this column, toggled if current
    aria_sort: str  # "ascending", "descending" or "none"


def _headers(form: PortfolioForm) -> list[Header]:
    current = form.filters().sort
    headers = []
    for key, (label, _field) in selectors.SORTS.items():
        if current == key:
            headers.append(Header(key, label, f"-{key}", "ascending"))
        elif current == f"-{key}":
            headers.append(Header(key, label, key, "descending"))
        else:
            headers.append(Header(key, label, key, "none"))
    return headers


@permission_required("reviews.view_portfolio")
@cached_page("portfolio")
def portfolio(request: HttpRequest) -> HttpResponse:
    form, rows = _rows(request)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    return render(
        request,
        "reviews/portfolio/portfolio.html",
        {
            "form": form,
            "page": page,
            "rows": [selectors.row(service, today) for service in page.object_list],
            "tiles": _tiles(request, form),
            "headers": _headers(form),
            "can_add": can(request.user, "reviews.add_service"),
        },
        status=400 if form.errors else 200,
    )


@permission_required("reviews.view_portfolio")
@cached_page("trends")
def trends(request: HttpRequest) -> HttpResponse:
    """Readiness over time of the filtered services (an average of their current reviews)."""
    form, _rows_unused = _rows(request)
    trend = selectors.portfolio_trend(_matching(request, form))
    return render(
        request,
        "reviews/portfolio/trends.html",
        {
            "form": form,
            "trend": trend,
            "chart": readiness_chart(
                [(p.date, p.readiness) for p in trend], "Average readiness of these services"
            ),
        },
        status=400 if form.errors else 200,
    )


@permission_required("reviews.view_portfolio")
@cached_page("heat_map")
def heat_map(request: HttpRequest) -> HttpResponse:
    form, rows = _rows(request)
    checklists = selectors.heat_checklists(_matching(request, form))
    # The checklist asked for, else the one the first row (in the page's order) uses.
    wanted = request.GET.get("checklist", "")
    chosen = next((c for c in checklists if c.slug == wanted), None)
    if chosen is None and checklists:
        first = (
            rows.exclude(current_review=None)
            .values_list("current_review__checklist_version__checklist", flat=True)
            .first()
        )
        chosen = next((c for c in checklists if c.pk == first), checklists[0])
    # The light rows (no row data a heat map does not show), in the page's order.
    ordered = selectors.sort_rows(_matching(request, form), form.filters().sort)
    heat_rows = selectors.heat_rows(ordered, chosen) if chosen is not None else rows.none()
    page = Paginator(heat_rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reviews/portfolio/heat_map.html",
        {
            "form": form,
            "page": page,
            "checklists": checklists,
            "heat": selectors.heat_map(list(page.object_list), chosen),
        },
        status=400 if form.errors else 200,
    )


class _Echo:
    """A file-like object that hands each written line back (for streaming CSV)."""

    def write(self, value: str) -> str:
        return value


@permission_required("reviews.view_portfolio")
def export_csv(request: HttpRequest) -> HttpResponseBase:
    """The filtered portfolio as CSV, every row (not one page), streamed."""
    form, rows = _rows(request)
    if form.errors:
        return HttpResponse(
            "The filters are not valid: "
            + "; ".join(
                f"{name}: {' '.join(str(e) for e in errors)}"
                for name, errors in form.errors.items()
            ),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    events.exported(request, what="Portfolio CSV", filters=request.GET.dict())
    today = timezone.localdate()
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(selectors.CSV_HEADER)
        for service in rows.iterator(chunk_size=1000):
            yield writer.writerow(selectors.row(service, today).csv())

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="portfolio-{today}.csv"'
    return response


@permission_required("reviews.view_portfolio")
@cached_page("report")
def report(request: HttpRequest) -> HttpResponse:
    """Every filtered row on one page, for printing (the print stylesheet does the rest)."""
    form, rows = _rows(request)
    today = timezone.localdate()
    matching = _matching(request, form)
    trend = selectors.portfolio_trend(matching)
    return render(
        request,
        "reviews/portfolio/report.html",
        {
            "form": form,
            "rows": [selectors.row(service, today) for service in rows.iterator(chunk_size=1000)],
            "tiles": _tiles(request, form),
            "chart": readiness_chart(
                [(p.date, p.readiness) for p in trend], "Average readiness of these services"
            ),
            "trend": trend,
            "today": today,
        },
        status=400 if form.errors else 200,
    )
