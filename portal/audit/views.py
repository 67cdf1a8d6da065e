from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.audit.models import AuditEvent, AuditKind
from portal.permissions import permission_required

PAGE_SIZE = 50


@permission_required("audit.view_activity")
def activity(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.all()
    kind = request.GET.get("kind", "")
    if kind in AuditKind.values:
        events = events.filter(kind=kind)
    else:
        kind = ""
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/activity.html",
        {"page": page, "kinds": AuditKind.choices, "kind": kind},
    )
