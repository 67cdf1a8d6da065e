"""Error answers: JSON under ``/api/``, the site's HTML pages everywhere else.

Every error a client of the API sees has one shape, ``{"error": "..."}``, whether an
operation refused the request (``portal.api.errors`` answers ninja's own refusals) or
Django did (an unknown path, a crash). The rest of the site keeps Django's default
handlers, which render ``templates/4xx.html`` and ``templates/500.html``.

Every refusal (a ``PermissionDenied``, here or in the API) is an event of the shared
record (18F: authorization checks): who was refused, the path, the method and why.
Anonymous visitors are sent to sign in before any rule is asked, so they never reach
here; one event per refused request keeps a flood of refusals one row each.
"""

from __future__ import annotations

import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt, requires_csrf_token

from portal.audit import events

API_PREFIX = "/api/"


def api_error(status: int, message: str) -> JsonResponse:
    """The API's one error shape."""
    return JsonResponse({"error": message}, status=status)


def is_api(request: HttpRequest) -> bool:
    path = request.path_info  # without the script prefix, like the URL patterns
    return path == API_PREFIX.rstrip("/") or path.startswith(API_PREFIX)


# Any method may reach an unknown path, POST included: a CSRF refusal (an HTML 403)
# would hide the real answer from a pipeline that mistyped the URL.
@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The catch-all after the API's real routes."""
    return api_error(404, f"There is no API endpoint at {request.path}.")


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(400, "The request is malformed.")
    return defaults.bad_request(request, exception)


DEFAULT_DENIAL = "You do not have access to this."


def denial_recorded(request: HttpRequest, exception: Exception | None) -> str:
    """Record the refusal of ``request`` and return what it says, in words."""
    reason = str(exception or "") or DEFAULT_DENIAL
    events.access_denied(request, reason=reason)
    return reason


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    denial_recorded(request, exception)
    if is_api(request):
        return api_error(403, "You do not have access to this.")
    return defaults.permission_denied(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal, recorded as a refusal when someone is signed in (a stale
    sign-in form is not an event: anonymous refusals would let anyone fill the record)."""
    if getattr(getattr(request, "user", None), "is_authenticated", False):
        events.access_denied(
            request, reason=f"The form's security token was missing or wrong ({reason})"
        )
    return csrf.csrf_failure(request, reason=reason)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return api_error(404, f"There is no API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


# While the database is away (restarting, failing over), a request gets 503 and a page
# that says so, not a 500: trying again shortly will work.
DATABASE_AWAY = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 10


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this from inside its handling of the exception.
    if isinstance(sys.exc_info()[1], DATABASE_AWAY):
        return database_unavailable(request)
    if is_api(request):
        return api_error(500, "Something went wrong on our side; try again later.")
    return defaults.server_error(request)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        response: HttpResponse = api_error(
            503,
            "The database is unreachable just now. Try again shortly, and check what was saved.",
        )
    else:
        # No context processors: they would ask the database for the user.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
