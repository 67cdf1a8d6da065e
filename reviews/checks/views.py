"""Pages for automated checks: the catalogue, sweeps, and "check now"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.accounts.models import User
from portal.outbox.relay import enqueue
from portal.permissions import permission_required, require, require_object
from reviews.checks import selectors, services
from reviews.checks.collectors.base import Result, all_check_types
from reviews.checks.tasks import sweep
from reviews.forms import TokenForm
from reviews.models import CheckRun, CheckRunTrigger, Service, ServiceToken


@permission_required("checklists.view_library")
def catalogue(request: HttpRequest) -> HttpResponse:
    return render(request, "reviews/checks/catalogue.html", {"check_types": all_check_types()})


@permission_required("reviews.view_check_runs")
def runs(request: HttpRequest) -> HttpResponse:
    page = Paginator(CheckRun.objects.select_related("service"), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "reviews/checks/runs.html", {"page": page})


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(CheckRun.objects.select_related("service"), pk=pk)
    if run.service is not None:
        require_object(request.user, "reviews.view_service", run.service)
    else:
        require(request.user, "reviews.view_check_runs")
    # What says something is listed, a page at a time; not-applicable results are
    # counted by family (a sweep of many services holds thousands of them).
    results = (
        run.results.exclude(result=Result.NOT_APPLICABLE)
        .select_related("service")
        .order_by("service__name", "check_key", "id")
    )
    template = "reviews/checks/_run_status.html" if request.htmx else "reviews/checks/run.html"  # type: ignore[attr-defined]
    return render(
        request,
        template,
        {
            "run": run,
            "page": Paginator(results, RUN_PAGE_SIZE).get_page(request.GET.get("page")),
            "done_count": None if run.done else run.results.count(),
            "not_applicable": selectors.run_not_applicable(run),
        },
    )


RUN_PAGE_SIZE = 50


@login_required
@require_POST
def check_now(request: HttpRequest, slug: str) -> HttpResponse:
    """Run a service's checks now; the run page shows progress until they are done."""
    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.run_checks", service)
    assert isinstance(request.user, User)
    with transaction.atomic():
        run = CheckRun.objects.create(
            trigger=CheckRunTrigger.MANUAL, service=service, requested_by=request.user
        )
        enqueue(sweep, run.pk, [service.pk])  # sent once this commits
    messages.info(request, "Checks started.")
    return redirect("reviews:check_run", pk=run.pk)


@login_required
@require_POST
def token_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Make a CI token and show it once, in this response (never in a cookie or a log)."""
    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.manage_tokens", service)
    assert isinstance(request.user, User)
    form = TokenForm(request.POST)
    if not form.is_valid():
        for error in form.errors["name"]:
            messages.error(request, f"Token not created: {error}")
        return redirect(service.get_absolute_url() + "#ci-tokens")
    try:
        token, plain = services.token_create(
            service=service, name=form.cleaned_data["name"], by=request.user
        )
    except ValueError as exc:
        messages.error(request, f"Token not created: {exc}")
        return redirect(service.get_absolute_url() + "#ci-tokens")
    return render(
        request,
        "reviews/checks/token_created.html",
        {"service": service, "token": token, "plain": plain},
        status=201,
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:

    service = get_object_or_404(Service, slug=slug)
    require_object(request.user, "reviews.revoke_token", service)
    assert isinstance(request.user, User)
    token = get_object_or_404(ServiceToken, pk=pk, service=service)
    try:
        services.token_revoke(service=service, token=token, by=request.user)
    except ValueError:  # another service's token: as if it did not exist
        raise Http404("No such token.") from None
    messages.success(request, "Token revoked: pushes with it are refused from now on.")
    return redirect(service.get_absolute_url() + "#ci-tokens")
