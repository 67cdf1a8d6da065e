"""What the checks of API platforms share (PagerDuty, New Relic, Cloud Foundry): the
service's connection of the right kind, HTTPS only, and JSON answers turned into clear
errors.

The credentials come from a ``PlatformConnection`` (``reviews.checks.secrets``) on the
``Target``; a secret is only ever sent over HTTPS and never appears in an outcome.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from reviews.checks.collectors.base import (
    CheckContext,
    CheckError,
    CheckType,
    Credentials,
    Outcome,
    Target,
    load_families,
)
from reviews.checks.collectors.egress import EgressPolicy, guarded_client
from reviews.checks.collectors.http import request

_REFUSED = {401: "refused the credentials", 403: "does not allow the credentials to read this"}


class PlatformCheck(CheckType):
    """A check that reads a platform's API with the service's connection of ``kind``."""

    kind: ClassVar[str]
    platform: ClassVar[str]  # the platform's name, for explanations
    # True when the check applies only where the organisation uses the platform at all
    # (New Relic, found by the Project tag every service has): no connection means not
    # applicable. False when the service names its place on the platform (a PagerDuty
    # service ID), so a missing connection is a set-up error to fix.
    optional: ClassVar[bool] = False

    def applies(self, target: Target) -> str:
        """Why the check does not apply to ``target`` ("" when it does)."""
        raise NotImplementedError

    async def collect(self, target: Target, params: dict[str, Any], api: Api) -> Outcome:
        raise NotImplementedError

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        reason = self.applies(target)
        if reason:
            return Outcome.not_applicable(reason)
        credentials = target.connection(self.kind)
        if credentials is None and self.optional:
            return Outcome.not_applicable(
                f"No {self.platform} connection is set up, so {self.platform} is not checked."
            )
        if credentials is None:
            raise CheckError(
                f"No {self.platform} connection is set up: an admin adds one under "
                "Administration, Platform connections."
            )
        return await self.collect(target, params, usable(ctx, credentials, self.platform))


def usable(ctx: CheckContext, credentials: Credentials, platform: str) -> Api:
    """An Api for ``credentials``, or a CheckError saying why they cannot be used."""
    if credentials.problem:
        raise CheckError(credentials.problem)
    if urlsplit(credentials.api_url).scheme != "https":
        raise CheckError(
            f"The {platform} connection's API URL is not HTTPS; "
            "its secret is only ever sent over HTTPS."
        )
    return Api(ctx, credentials, platform)


class Api:
    """JSON calls to one platform with one connection's credentials."""

    def __init__(self, ctx: CheckContext, credentials: Credentials, platform: str) -> None:
        self.ctx = ctx
        self.credentials = credentials
        self.platform = platform
        self.base = credentials.api_url.rstrip("/")
        self.headers: dict[str, str] = {"Accept": "application/json"}

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.base}{path}"

    async def call(self, method: str, path: str, **options: Any) -> Any:
        """The JSON answer of ``method path``; a refusal or an odd answer is a CheckError."""
        url = self.url(path)
        headers = {**self.headers, **options.pop("headers", {})}
        response = await request(self.ctx, method, url, headers=headers, **options)
        where = urlsplit(url).path
        if response.status_code in _REFUSED:
            raise CheckError(
                f"{self.platform} {_REFUSED[response.status_code]} of the connection "
                f"“{self.credentials.name}” ({response.status_code} on {where})."
            )
        if response.status_code == 404:
            raise NotFound(f"{self.platform} has no {where}.")
        if response.status_code >= 300:
            raise CheckError(f"{self.platform} answered {response.status_code} on {where}.")
        try:
            return response.json()
        except ValueError:
            raise CheckError(f"{self.platform} did not answer JSON on {where}.") from None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params or None)


class NotFound(CheckError):
    """The platform answered 404."""


# How each platform proves a connection works (kind → platform name, probe); filled in by
# the platform modules.
Probe = Callable[[Api], Awaitable[str]]
PROBES: dict[str, tuple[str, Probe]] = {}


def probe(kind: str, platform: str) -> Callable[[Probe], Probe]:
    def register_probe(function: Probe) -> Probe:
        PROBES[kind] = (platform, function)
        return function

    return register_probe


def verify_connection(
    credentials: Credentials,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    policy: EgressPolicy | None = None,
) -> Outcome:
    """Whether the platform accepts ``credentials``: pass with what it said, or an error
    with the reason. One small read-only call (two for Cloud Foundry's sign-in), through
    the egress policy like every check."""
    load_families()
    platform, function = PROBES[credentials.kind]
    context = ssl_context or ssl.create_default_context()
    egress = policy or EgressPolicy.from_settings()

    async def main() -> Outcome:
        async with guarded_client(egress, ssl_context=context, timeout=timeout) as http:
            ctx = CheckContext(client=http, timeout=timeout, ssl_context=context, egress=egress)
            try:
                return Outcome.passed(await function(usable(ctx, credentials, platform)))
            except CheckError as exc:
                return Outcome.error(str(exc))

    return asyncio.run(main())
