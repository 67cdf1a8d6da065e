"""HTTP and TLS checks: health, HTTPS redirect, HSTS, certificate, robots.txt, status page."""

from __future__ import annotations

import re
import ssl
import urllib.robotparser
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography import x509

from reviews.checks.collectors.base import (
    CheckContext,
    CheckError,
    CheckType,
    Outcome,
    Target,
    register,
)
from reviews.checks.collectors.egress import open_tls


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, in words."""
    cause = exc
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    return str(cause) or str(exc)


async def get(ctx: CheckContext, url: str, *, follow: bool = True) -> httpx.Response:
    return await request(ctx, "GET", url, follow_redirects=follow)


async def request(ctx: CheckContext, method: str, url: str, **options: Any) -> httpx.Response:
    """One HTTP request on the sweep's client; every failure to get an answer is a
    ``CheckError`` saying why. ``options`` go to httpx (headers, json, data, auth …)."""
    try:
        response: httpx.Response = await ctx.client.request(method, url, **options)
        return response
    except httpx.TimeoutException:
        raise CheckError(f"No answer from {url} within {ctx.timeout:g} s.") from None
    except httpx.ConnectError as exc:
        raise CheckError(f"Could not connect to {url}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise CheckError(f"HTTP error from {url}: {type(exc).__name__}: {exc}") from None


@register
class HealthCheck(CheckType):
    key = "http.health"
    title = "The health-check URL answers 200 quickly"
    family = "HTTP and TLS"
    expected = "HTTP 200 within the time limit"
    defaults = {"max_ms": 1000}
    reads = ("health_check_url",)
    fresh_for_seconds = 3600

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.health_check_url:
            return Outcome.not_applicable("The service has no health-check URL.")
        response = await get(ctx, target.health_check_url)
        ms = round(response.elapsed.total_seconds() * 1000, 1)
        observed = {"status": response.status_code, "ms": ms}
        if response.status_code != 200:
            return Outcome.failed(f"The health check answered {response.status_code}.", **observed)
        if ms > params["max_ms"]:
            return Outcome.failed(
                f"It answered 200 but took {ms} ms (limit {params['max_ms']} ms).", **observed
            )
        return Outcome.passed(f"200 in {ms} ms.", **observed)


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("http", parts.netloc, parts.path or "/", parts.query, ""))


@register
class HttpsRedirectCheck(CheckType):
    key = "http.https_redirect"
    title = "Plain HTTP redirects to HTTPS"
    family = "HTTP and TLS"
    expected = "a 301/302/307/308 to an https:// address"
    defaults = {"http_url": ""}
    reads = ("public_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        url = params["http_url"] or (_http_url(target.public_url) if target.public_url else "")
        if not url:
            return Outcome.not_applicable("The service has no public URL.")
        response = await get(ctx, url, follow=False)
        location = response.headers.get("location", "")
        observed = {"url": url, "status": response.status_code, "location": location}
        if response.status_code in (301, 302, 307, 308) and location.startswith("https://"):
            return Outcome.passed(f"{url} redirects to {location}.", **observed)
        return Outcome.failed(
            f"{url} answered {response.status_code} without redirecting to HTTPS.", **observed
        )


_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@register
class HstsCheck(CheckType):
    key = "http.hsts"
    title = "The HSTS header is set"
    family = "HTTP and TLS"
    expected = "Strict-Transport-Security with max-age of at least a year"
    defaults = {"min_max_age": 31536000}
    reads = ("public_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.public_url.startswith("https://"):
            return Outcome.not_applicable("The service has no https:// public URL.")
        response = await get(ctx, target.public_url)
        header = response.headers.get("strict-transport-security", "")
        match = _MAX_AGE.search(header)
        max_age = int(match.group(1)) if match else 0
        observed = {"header": header, "max_age": max_age}
        if not header:
            return Outcome.failed("No Strict-Transport-Security header.", **observed)
        if max_age < params["min_max_age"]:
            return Outcome.failed(
                f"max-age is {max_age}; at least {params['min_max_age']} is expected.", **observed
            )
        return Outcome.passed(f"HSTS max-age {max_age}.", **observed)


@register
class CertificateCheck(CheckType):
    key = "tls.certificate"
    title = "The TLS certificate is valid and not expiring soon"
    family = "HTTP and TLS"
    expected = "a trusted certificate with more than 30 days left"
    defaults = {"min_days": 30}
    reads = ("public_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        parts = urlsplit(target.public_url)
        if parts.scheme != "https" or not parts.hostname:
            return Outcome.not_applicable("The service has no https:// public URL.")
        host, port = parts.hostname, parts.port or 443
        try:
            _reader, writer = await open_tls(ctx.egress, host, port, ctx.ssl_context, ctx.timeout)
        except ssl.SSLCertVerificationError as exc:
            return Outcome.failed(
                f"The certificate is not trusted: {exc.verify_message}.", host=host
            )
        except TimeoutError:  # before OSError, of which it is a subclass
            raise CheckError(
                f"Could not open TLS to {host}:{port}: timed out after {ctx.timeout:g} s."
            ) from None
        except OSError as exc:
            raise CheckError(f"Could not open TLS to {host}:{port}: {exc}") from None
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True)
            version = ssl_object.version()
        finally:
            # abort, not close: close() would leave the TLS shutdown running past the loop.
            writer.transport.abort()
        certificate = x509.load_der_x509_certificate(der)
        expires = certificate.not_valid_after_utc
        days_left = (expires - datetime.now(UTC)).days
        observed = {
            "host": host,
            "expires": expires.isoformat(),
            "days_left": days_left,
            "tls": version,
        }
        if days_left <= params["min_days"]:
            return Outcome.failed(
                f"The certificate expires in {days_left} days ({expires:%Y-%m-%d}).", **observed
            )
        return Outcome.passed(f"Trusted, {days_left} days left, {version}.", **observed)


@register
class RobotsCheck(CheckType):
    key = "http.robots"
    title = "robots.txt blocks indexing outside production"
    family = "HTTP and TLS"
    expected = "Disallow: / for every crawler"
    defaults = {"url": ""}
    reads = ("public_url",)

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        base = params["url"] or target.public_url
        if not base:
            return Outcome.not_applicable("No non-production URL to look at.")
        parts = urlsplit(base)
        robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        response = await get(ctx, robots_url)
        if response.status_code != 200:
            return Outcome.failed(f"robots.txt answered {response.status_code}.", url=robots_url)
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(response.text.splitlines())
        blocked = not parser.can_fetch("*", urlunsplit((parts.scheme, parts.netloc, "/", "", "")))
        if blocked:
            return Outcome.passed("robots.txt disallows crawling.", url=robots_url)
        return Outcome.failed("robots.txt allows crawlers to index the site.", url=robots_url)


@register
class StatusPageCheck(CheckType):
    key = "http.status_page"
    title = "A status page is reachable, hosted apart from the service"
    family = "HTTP and TLS"
    expected = "HTTP 200 from a different host than the service"
    reads = ("status_page_url", "public_url")

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.status_page_url:
            return Outcome.not_applicable("The service has no status page URL.")
        response = await get(ctx, target.status_page_url)
        status_host = urlsplit(target.status_page_url).hostname
        service_host = urlsplit(target.public_url).hostname if target.public_url else None
        observed = {"status": response.status_code, "host": status_host}
        if response.status_code != 200:
            return Outcome.failed(f"The status page answered {response.status_code}.", **observed)
        if service_host and status_host == service_host:
            return Outcome.failed("The status page is on the service's own host.", **observed)
        return Outcome.passed("The status page is up, off the service's host.", **observed)
