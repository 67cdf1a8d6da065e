"""Requiring multi-factor authentication of reviewers and admins, when policy says so."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from portal.accounts.models import SecurityPolicy
from portal.accounts.roles import REVIEWER_ROLES, Role
from portal.errors import api_error, is_api

# Paths a user who must enrol can still reach: enrolment itself, sign-out, health.
_ALWAYS_ALLOWED = ("/accounts/", "/healthz", "/readyz", "/robots.txt", "/static/")
# What the API answers them instead (a session or a personal token alike).
API_REFUSAL = (
    "Your role requires two-factor authentication: set up an authenticator app in "
    "Preflight before using the API."
)


def must_enrol_mfa(user: object) -> bool:
    """True when policy requires MFA of this user and they have no authenticator."""
    if not getattr(user, "is_authenticated", False):
        return False
    roles = user.roles  # type: ignore[attr-defined]
    if not (roles & REVIEWER_ROLES or Role.ADMIN in roles):
        return False
    if not SecurityPolicy.current().require_mfa_for_privileged:
        return False
    return not is_mfa_enabled(user)


class RequireMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(_ALWAYS_ALLOWED) and must_enrol_mfa(request.user):
            if is_api(request):  # a script cannot follow a redirect to a form
                return api_error(403, API_REFUSAL)
            messages.warning(
                request,
                "Your role requires two-factor authentication. "
                "Set up an authenticator app to continue.",
            )
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
