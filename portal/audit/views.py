"""The shared record's pages: the activity feed (auditors), a timeline per record (whoever
may read the record it belongs to), and the exports. Who may read what is decided in
portal.permissions; which lines, in portal.audit.feed."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.audit import events, exports, feed, registry
from portal.audit.forms import FeedForm, TimelineForm
from portal.permissions import can, denied, permission_required, visible_services


@require_safe
@permission_required("audit.view_activity")
def activity(request: HttpRequest) -> HttpResponse:
    """Every line of the record, newest first, filtered; a page at a time."""
    form = FeedForm(request.GET, user=request.user)
    form.is_valid()  # an invalid field is shown as an error and left out
    lines = feed.lines(form.filters())
    return render(
        request,
        "audit/activity.html",
        {
            "form": form,
            "page": feed.page([lines], form.cursor()),
            "can_export": can(request.user, "audit.export_record"),
        },
    )


@require_safe
@login_required
def timeline(request: HttpRequest, record_type: str, record_id: str) -> HttpResponse:
    """One record's lines, and everything that belongs to it rolled up."""
    found = _record(request, record_type, record_id)
    form = TimelineForm(request.GET)
    form.is_valid()
    own_only = bool(form.cleaned_data.get("own"))
    return render(
        request,
        "audit/timeline.html",
        {
            "record": found,
            "form": form,
            "own_only": own_only,
            "page": feed.page(feed.timeline(found, own_only=own_only), form.cursor()),
            "service_slug": _service_slug(request, found),
            "browse_feed": can(request.user, "audit.view_activity"),
        },
    )


def _record(request: HttpRequest, record_type: str, record_id: str) -> feed.Record:
    """The record, if ``request.user`` may read its timeline. Someone who may not read the
    service or checklist it belongs to gets 404, as for one that does not exist, so ids
    cannot be probed; the record of people, teams and events answers 403 to all but
    auditors."""
    if not registry.is_known(record_type) or not _plain_id(record_id):
        raise Http404("No such record.")
    found = feed.record(record_type, record_id)
    if found is None:
        raise Http404("The record holds nothing about this.")
    if not can(request.user, "audit.view_timeline", found.root):
        if found.read_by_role:
            raise Http404("No such record.")
        raise denied("audit.view_timeline")
    return found


def _plain_id(record_id: str) -> bool:
    return 0 < len(record_id) <= 64 and record_id.isascii() and record_id.isprintable()


def _service_slug(request: HttpRequest, found: feed.Record) -> str:
    """The service whose record the reader may export from this timeline, if any."""
    root = found.root
    if not found.is_root or root is None or not can(request.user, "audit.export_portfolio"):
        return ""
    if not visible_services(request.user).filter(pk=root.pk).exists():
        return ""
    return str(getattr(root, "slug", ""))


@require_safe
@permission_required("audit.export_record")
def export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The whole record, filtered as the feed is, streamed: for auditors only."""
    form = FeedForm(request.GET, user=request.user)
    if not form.is_valid():
        return _invalid(form)
    events.exported(request, what=f"The record ({fmt.upper()})", filters=request.GET.dict())
    return exports.streamed(feed.lines(form.filters()), fmt, "record")


@require_safe
@permission_required("audit.export_portfolio")
def portfolio_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The lines of the services the reader may read (a manager's portfolio, a product
    lead's teams'), filtered as the feed is, streamed."""
    form = FeedForm(request.GET, user=request.user)
    if not form.is_valid():
        return _invalid(form)
    lines = feed.rooted_in(feed.lines(form.filters()), visible_services(request.user))
    events.exported(
        request, what=f"The portfolio's record ({fmt.upper()})", filters=request.GET.dict()
    )
    return exports.streamed(lines, fmt, "portfolio-record")


def _invalid(form: FeedForm) -> HttpResponse:
    return HttpResponse(
        "The filters are not valid: "
        + "; ".join(
            f"{form[name].label}: {' '.join(str(e) for e in errors)}"
            if name in form.fields
            else " ".join(str(e) for e in errors)
            for name, errors in form.errors.items()
        ),
        status=400,
        content_type="text/plain; charset=utf-8",
    )
