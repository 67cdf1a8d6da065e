"""The collector framework: a check type is a small class with a key, a title, the
parameters and service settings it needs, and an async ``run`` that returns an Outcome.

Adding a check type means adding one class to a family module (``http.py`` …) and its
tests; ``registry`` finds it by key. Checks never raise: anything that goes wrong while
reaching the target is an ``error`` outcome with the reason.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import models


class Result(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    ERROR = "error", "Error"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


@dataclass(frozen=True)
class Credentials:
    """A platform connection's API access, as a check needs it (see reviews.checks.secrets)."""

    kind: str  # "pagerduty", "newrelic", "cloudfoundry"
    name: str
    api_url: str
    username: str = ""
    account: str = ""
    secret: str = field(default="", repr=False)
    # Why the credentials cannot be used (an undecryptable secret): checks report it.
    problem: str = ""


@dataclass(frozen=True)
class Target:
    """What a check reads about a service (copied from the Service row)."""

    service_id: int
    health_check_url: str = ""
    public_url: str = ""
    status_page_url: str = ""
    environments: tuple[str, ...] = ()
    cloud_account_id: str = ""
    cloud_region: str = ""
    cloud_role_arn: str = ""
    project_tag: str = ""
    repository_url: str = ""
    prometheus_url: str = ""
    alertmanager_url: str = ""
    pagerduty_service_id: str = ""
    cloud_foundry_space: str = ""  # "org/space"
    credentials: tuple[Credentials, ...] = ()

    def connection(self, kind: str) -> Credentials | None:
        return next((c for c in self.credentials if c.kind == kind), None)


@dataclass(frozen=True)
class Outcome:
    result: str
    explanation: str
    observed: dict[str, Any] = field(default_factory=dict)
    expected: str = ""
    duration_ms: float = 0.0

    @classmethod
    def passed(cls, explanation: str, **observed: Any) -> Outcome:
        return cls(Result.PASS, explanation, observed)

    @classmethod
    def failed(cls, explanation: str, **observed: Any) -> Outcome:
        return cls(Result.FAIL, explanation, observed)

    @classmethod
    def error(cls, explanation: str, **observed: Any) -> Outcome:
        return cls(Result.ERROR, explanation, observed)

    @classmethod
    def not_applicable(cls, explanation: str) -> Outcome:
        return cls(Result.NOT_APPLICABLE, explanation)


class CheckError(Exception):
    """Raised inside a check for a problem reaching the target: becomes an error outcome."""


@dataclass(frozen=True)
class CheckContext:
    """Shared by every check of one sweep: the HTTP client, its limits, and the egress
    policy that every connection obeys (the client's own, and any a check opens itself)."""

    client: Any  # httpx.AsyncClient, built by reviews.checks.collectors.egress.client
    timeout: float
    ssl_context: Any  # ssl.SSLContext: the trust store for TLS checks
    egress: Any  # reviews.checks.collectors.egress.EgressPolicy


class CheckType:
    key: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    expected: ClassVar[str] = ""
    # Parameters and their defaults; bindings may override them.
    defaults: ClassVar[dict[str, Any]] = {}
    # Service settings the check reads (shown in the UI).
    reads: ClassVar[tuple[str, ...]] = ()
    # How long a result stays fresh.
    fresh_for_seconds: ClassVar[int] = 24 * 3600

    @classmethod
    def params(cls, given: dict[str, Any] | None) -> dict[str, Any]:
        merged = dict(cls.defaults)
        for name, value in (given or {}).items():
            if name not in cls.defaults:
                raise ValueError(f"{cls.key} takes no parameter “{name}”.")
            default = cls.defaults[name]
            # bool is an int subclass: True must not pass for a number of milliseconds.
            wrong_bool = isinstance(value, bool) and not isinstance(default, bool)
            if not isinstance(value, type(default)) or wrong_bool:
                raise ValueError(
                    f"{cls.key}: “{name}” must be {type(cls.defaults[name]).__name__}."
                )
            merged[name] = value
        return merged

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        raise NotImplementedError

    async def run(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        """``check`` with its duration measured and every failure turned into an outcome."""
        started = time.monotonic()
        try:
            outcome = await self.check(target, params, ctx)
        except CheckError as exc:
            outcome = Outcome.error(str(exc))
        except Exception as exc:  # a check must never take the sweep down with it
            outcome = Outcome.error(f"{type(exc).__name__}: {exc}"[:500])
        return Outcome(
            result=outcome.result,
            explanation=storable(outcome.explanation),
            observed=storable(outcome.observed),
            expected=outcome.expected or self.expected,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )


# What no database text or JSON column can hold: NUL, and lone UTF-16 surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` as it can be stored, whatever a remote system sent: NUL and lone
    surrogates in text become U+FFFD, and numbers that are not finite (JSON parsers
    accept NaN and Infinity) become their names. A result is never lost to them."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


REGISTRY: dict[str, type[CheckType]] = {}


def register(cls: type[CheckType]) -> type[CheckType]:
    if cls.key in REGISTRY:
        raise ValueError(f"Two check types use the key {cls.key}")
    REGISTRY[cls.key] = cls
    return cls


# The family modules; each registers its check types when imported.
FAMILIES = (
    "reviews.checks.collectors.http",
    "reviews.checks.collectors.aws.data",
    "reviews.checks.collectors.aws.exposure",
    "reviews.checks.collectors.aws.availability",
    "reviews.checks.collectors.aws.monitoring",
    "reviews.checks.collectors.aws.tracing",
    "reviews.checks.collectors.aws.messaging",
    "reviews.checks.collectors.alerting",
    "reviews.checks.collectors.repository",
    "reviews.checks.collectors.pagerduty",
    "reviews.checks.collectors.newrelic",
    "reviews.checks.collectors.cloudfoundry",
)


@functools.cache
def load_families() -> None:
    """Import every family module once (``check_type`` asks on every job)."""
    for module in FAMILIES:
        importlib.import_module(module)


def check_type(key: str) -> type[CheckType]:
    load_families()
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValueError(f"Unknown check “{key}”.") from None


def all_check_types() -> list[type[CheckType]]:
    load_families()
    return sorted(REGISTRY.values(), key=lambda cls: (cls.family, cls.key))


# Checks under this prefix are pushed by a service's own pipeline through the API
# (``ci.load_test``…): any name, no parameters, never run by a sweep.
PUSHED_PREFIX = "ci."


def is_pushed(key: str) -> bool:
    """Whether results for ``key`` are pushed by a pipeline rather than collected."""
    return key.startswith(PUSHED_PREFIX)


def binding_id(key: str, params: dict[str, Any] | None) -> str:
    """Identifies a binding: the key alone, or the key and a digest of its parameters."""
    if not params or is_pushed(key):
        return key
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"{key}:{digest}"


@dataclass(frozen=True, eq=False)
class Binding:
    """One automated check an item binds (an entry of ``Item.checks``): its key and
    parameters. ``id`` is how its results are stored and looked up everywhere: sweeps,
    pushes, readiness and pages ask this one class, never the bare key."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Binding:
        return cls(key=entry["key"], params=dict(entry.get("params") or {}))

    @property
    def id(self) -> str:
        return binding_id(self.key, self.params)

    @property
    def pushed(self) -> bool:
        return is_pushed(self.key)

    @property
    def title(self) -> str:
        """What people read: the check type's title, or the pushed check's name."""
        return check_title(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Binding) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def bindings_of(checks: list[dict[str, Any]]) -> list[Binding]:
    """An item's bindings (``Item.checks``), each once, in order."""
    return list(dict.fromkeys(Binding.of(entry) for entry in checks))


def check_family(key: str) -> str:
    """The family a check belongs to ("AWS", "HTTP and TLS" …), for grouping on pages."""
    if is_pushed(key):
        return "Pushed by CI"
    try:
        return check_type(key).family
    except ValueError:
        return "Other"


def check_title(key: str) -> str:
    """A check's title for people: "HTTP health" rather than ``http.health``."""
    if is_pushed(key):
        name = key.removeprefix(PUSHED_PREFIX).replace("_", " ").replace(".", ": ")
        return f"Pushed by CI: {name}"
    try:
        return check_type(key).title
    except ValueError:
        return key
