"""The role pages of the reviews app. Their content arrives with the Reviews issue."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.permissions import permission_required


@permission_required("reviews.view_own_services")
def services(request: HttpRequest) -> HttpResponse:
    teams = request.user.teams.order_by("name")  # type: ignore[union-attr]
    return render(request, "reviews/services.html", {"teams": teams})


@permission_required("reviews.view_review_queue")
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/queue.html")


@permission_required("reviews.view_portfolio")
def portfolio(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/portfolio.html")
