from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.accounts import selectors, services
from portal.accounts.forms import ApiTokenForm
from portal.accounts.models import ApiToken, SecurityPolicy, Team, User
from portal.navigation import landing_item
from portal.outbox.relay import counts as outbox_counts
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
        "outbox": outbox_counts(),
    }
    return render(request, "accounts/administration.html", context)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "accounts/profile.html",
        {
            "teams": user.teams.order_by("name"),
            "api_tokens": selectors.api_tokens_of(user),
            "token_form": ApiTokenForm(),
        },
    )


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    """Make a personal API token and show it once, in this response (never in a cookie,
    a message or a log)."""
    back = reverse("accounts:profile") + "#api-tokens"
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        for error in form.errors["name"]:
            messages.error(request, f"Token not created: {error}")
        return redirect(back)
    try:
        token, plain = services.api_token_create(
            user=_user(request), name=form.cleaned_data["name"]
        )
    except ValueError as exc:
        messages.error(request, f"Token not created: {exc}")
        return redirect(back)
    return render(
        request, "accounts/api_token_created.html", {"token": token, "plain": plain}, status=201
    )


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    # Another person's token is as if it did not exist.
    token = get_object_or_404(ApiToken, pk=pk, user=_user(request))
    services.api_token_revoke(token=token)
    messages.success(
        request, f"Token “{token.name}” revoked: reads with it are refused from now on."
    )
    return redirect(reverse("accounts:profile") + "#api-tokens")
