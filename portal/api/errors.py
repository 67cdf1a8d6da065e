"""The API's one error shape, ``{"error": "<a sentence>"}``, for every refusal.

ninja answers its own errors as ``{"detail": ...}``; the handlers here replace each of
them, so a client reads the same shape whether an operation refused the request, ninja
did (a query parameter that does not validate, a wrong method) or Django did (an unknown
path under /api/, a crash: ``portal.errors``). Each status says one thing:

- 400 the body is malformed; 401 no usable credentials (with ``WWW-Authenticate``);
- 403 the caller's role does not allow this (a sentence saying who may);
- 404 nothing there, or nothing the caller may read (the same answer, so ids cannot be
  probed); 405 a wrong method (with ``Allow``);
- 409, 413, 415 and 429 (with ``Retry-After``) from the push; 422 a parameter or a
  field that does not validate, named; 500 a crash, said without its details.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError

from portal.errors import api_error, denial_recorded

WWW_AUTHENTICATE = 'Bearer realm="preflight"'


class ErrorOut(Schema):
    """Every error the API answers."""

    error: str


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The ``response=`` entries documenting an operation's refusals in OpenAPI."""
    return {status: ErrorOut for status in statuses}


def _not_found(request: HttpRequest) -> str:
    return f"There is nothing at {request.path} that you may read."


def problems(errors: Iterable[Any], *, source: bool = True) -> str:
    """pydantic's errors as one sentence naming each field: ``page: Input should be…``.

    ``source``: the first part of each location says where the value came from (ninja's
    "query", "path"), which the field's name makes plain: it is left out.
    """
    found = []
    for error in list(errors)[:10]:
        loc = [str(part)[:40] for part in error["loc"]]
        if source and len(loc) > 1:
            loc = loc[1:]
        found.append(f"{'.'.join(loc) or 'body'}: {error['msg']}")
    return "; ".join(found)


def install(api: NinjaAPI) -> None:
    """Replace ninja's default error answers with the API's one shape."""

    @api.exception_handler(HttpError)  # AuthenticationError and AuthorizationError too
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 403:  # a refusal joins the record (portal.errors)
            denial_recorded(request, exc)
        response = api_error(exc.status_code, exc.message)
        if exc.status_code == 401:
            response["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return api_error(422, problems(exc.errors))

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api_error(404, _not_found(request))

    @api.exception_handler(PermissionDenied)
    def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        # portal.permissions.denied says who may, in words.
        return api_error(403, denial_recorded(request, exc))

    @api.exception_handler(Exception)
    def crash(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Django's own path: the error is logged with the request and answered by
        # portal.errors.server_error (JSON under /api/), as for every other page.
        raise exc


View = Callable[..., Any]


def _json_405(view: View) -> View:
    """ninja refuses a wrong method with a plain-text 405; answer it in the API's shape."""

    @functools.wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = ", ".join(sorted(m.strip() for m in response["Allow"].split(",")))
            refusal = api_error(405, f"{request.method} is not allowed here; use {allowed}.")
            refusal["Allow"] = allowed
            return refusal
        return response

    return inner


def with_json_405(
    patterns: list[URLPattern | URLResolver],
) -> list[URLPattern | URLResolver]:
    """The API's URL patterns, each answering a wrong method with a JSON 405."""
    return [
        URLPattern(p.pattern, _json_405(p.callback), p.default_args, p.name)
        if isinstance(p, URLPattern)
        else p
        for p in patterns
    ]
