"""Who is calling the API, decided here for every operation.

Three ways in, each for one use:

- ``SessionAuth``: a person already signed in to the portal (their browser's session);
- ``PersonalTokenAuth``: a person's read-only API token (``pfu_…``, made on *Your
  account*), sent as ``Authorization: Bearer``; it acts as its person, with the roles
  they hold at that moment, and only for GET;
- ``ServiceTokenAuth``: a service's CI token (``pft_…``), which only pushes evidence.

Read operations take ``READ_AUTH`` (a token, else the session); the push takes
``ServiceTokenAuth`` alone. A request that sends an ``Authorization`` header is judged
by that header alone, so a bad token is refused (401) even beside a valid session. A
personal token never pushes and a CI token never reads: each is refused on the other
side with a 401 that says which token to use. Every refusal is raised as ninja's
``AuthenticationError``/``AuthorizationError`` and answered by ``portal.api.errors`` in
the API's one shape.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.security.base import AuthBase

from portal.accounts.mfa import API_REFUSAL, must_enrol_mfa
from portal.accounts.models import API_TOKEN_PREFIX, User
from portal.accounts.selectors import api_token_for
from portal.accounts.services import api_token_used
from reviews.checks.pushed import TOKEN_PREFIX as SERVICE_TOKEN_PREFIX
from reviews.checks.selectors import token_for
from reviews.models import ServiceToken

UNKNOWN_TOKEN = "This token is unknown or revoked."  # noqa: S105 (a message)
READ_HOW = (
    "Sign in, or send a personal API token (made on “Your account”) as "
    "“Authorization: Bearer <token>”."
)
_READ_METHODS = ("GET", "HEAD")


def _bearer(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; "" for any other header;
    None without one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, plain = header.partition(" ")
    return plain.strip() if scheme.lower() == "bearer" else ""


class SessionAuth(NinjaSessionAuth):
    """The browser session of someone signed in to the portal (reads only, so CSRF has
    nothing to guard)."""

    openapi_description = "The session cookie of someone signed in to Preflight."

    def __call__(self, request: HttpRequest) -> Any:
        user = super().__call__(request)
        if user is None:  # the last way in: say what would have worked
            raise AuthenticationError(401, READ_HOW)
        return user


class PersonalTokenAuth(AuthBase):
    """A person's read-only API token: the request acts as its person."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = (
        "A personal API token (pfu_…), made on “Your account”: reads (GET) as its person."
    )

    def __call__(self, request: HttpRequest) -> User | None:
        plain = _bearer(request)
        if plain is None:
            return None  # no header: the session may do
        if not plain:
            raise AuthenticationError(401, READ_HOW)
        if plain.startswith(SERVICE_TOKEN_PREFIX):
            raise AuthenticationError(
                401,
                "A CI token only pushes evidence; to read, send a personal API token "
                "(made on “Your account”).",
            )
        token = api_token_for(plain)
        if token is None:
            raise AuthenticationError(401, UNKNOWN_TOKEN)
        if request.method not in _READ_METHODS:
            raise AuthenticationError(401, "A personal API token only reads (GET).")
        if must_enrol_mfa(token.user):
            raise AuthorizationError(403, API_REFUSAL)
        api_token_used(token)
        # The rest of the request (logs, the never-cache rule for signed-in answers)
        # sees who is reading, as it would for a session.
        request.user = token.user
        return token.user


class ServiceTokenAuth(AuthBase):
    """A service's CI token: pushes evidence as the service, and nothing else."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = "A service's CI token (pft_…), made on the service's page."

    def __call__(self, request: HttpRequest) -> ServiceToken:
        plain = _bearer(request)
        if not plain:
            raise AuthenticationError(
                401, "Send the service's token as “Authorization: Bearer <token>”."
            )
        if plain.startswith(API_TOKEN_PREFIX):
            raise AuthenticationError(
                401,
                "A personal API token only reads; push with a CI token of the service "
                "(made on the service's page).",
            )
        token = token_for(plain)
        if token is None:
            raise AuthenticationError(401, UNKNOWN_TOKEN)
        return token


# Every read operation: a personal token when one is sent, else the session.
READ_AUTH = [PersonalTokenAuth(), SessionAuth()]


def caller(request: HttpRequest) -> User:
    """The person a read operation acts for (set by ``READ_AUTH``)."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user
