from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal.accounts.models import SecurityPolicy, Team, User
from portal.navigation import landing_item
from portal.permissions import permission_required
from reviews.models import PlatformConnection


def home(request: HttpRequest) -> HttpResponse:
    """Send each person to their role's page; people without a role get told why."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    item = landing_item(request.user)
    if item is not None:
        return redirect(item.url)
    return render(request, "accounts/no_role.html")


@permission_required("accounts.administer")
def administration(request: HttpRequest) -> HttpResponse:
    context = {
        "user_count": User.objects.count(),
        "team_count": Team.objects.count(),
        "policy": SecurityPolicy.current(),
        "connection_count": PlatformConnection.objects.count(),
    }
    return render(request, "accounts/administration.html", context)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    teams = request.user.teams.order_by("name")  # type: ignore[union-attr]
    return render(request, "accounts/profile.html", {"teams": teams})
