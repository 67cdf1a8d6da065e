"""Typed readers for settings that come from the environment.

Each helper fails loudly (ImproperlyConfigured) on a value it cannot parse, so a typo
in a deployment stops the process at start-up instead of silently falling back.
Every secret can also be read from a file named by ``<NAME>_FILE`` (Docker and
Kubernetes secrets), which wins over the plain variable.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_secret(name: str, default: str = "") -> str:
    """A secret from ``NAME_FILE`` (a path) when set, else from ``NAME``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def env_mapping(name: str) -> dict[str, str]:
    """``key=value,key2=value2`` pairs, e.g. an IdP group to role map."""
    result: dict[str, str] = {}
    for pair in env_list(name):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name}: {pair!r} is not of the form key=value")
        result[key.strip()] = value.strip()
    return result


def env_networks(name: str) -> list[str]:
    """Comma-separated networks in CIDR notation (a bare address is a /32 or /128)."""
    networks = []
    for value in env_list(name):
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not a network (use CIDRs such as 10.0.0.0/8)"
            ) from None
    return networks


def scheme_and_host(raw: str) -> SplitResult | None:
    """``raw`` split, when it is an http(s) scheme and a host (and port) and nothing else
    but perhaps credentials (callers that refuse those say so in their own words)."""
    try:
        parts = urlsplit(raw)
        valid_port = parts.port is None or parts.port > 0
    except ValueError:  # an unbalanced IPv6 bracket, a port that is not a number
        return None
    plain = (
        valid_port
        and parts.scheme in ("http", "https")
        and parts.hostname
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )
    return parts if plain else None
