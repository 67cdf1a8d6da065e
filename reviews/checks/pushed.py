"""What a service's CI pipeline may push: the payload, its bounds, its token prefix.

Pushed checks use keys under ``ci.`` (``ci.load_test``, ``ci.vulnerability_scan``…);
items bind them like any other check, and sweeps never try to run them. Recording a push
is ``reviews.checks.services.evidence_push``; the API is ``reviews.checks.api``; tokens are
made and hashed as ``portal.tokens`` says.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from portal.validators import multi_line_text, single_line_text
from reviews.checks.collectors.base import PUSHED_PREFIX, Result
from reviews.models import CheckResult

TOKEN_PREFIX = "pft_"  # noqa: S105 (a marker, not a secret)
MAX_PAYLOAD_BYTES = 64 * 1024
# Bounds on ``observed`` so that whatever is accepted can be stored (PostgreSQL's text and
# jsonb refuse NUL; a lone surrogate cannot even be encoded to send), read back the same,
# and walked without recursion trouble: containers at most 32 deep, integers that fit in
# 64 bits, finite floats.
MAX_OBSERVED_DEPTH = 32
MIN_OBSERVED_INT, MAX_OBSERVED_INT = -(2**63), 2**63 - 1
MAX_INT_DIGITS = len(str(MAX_OBSERVED_INT))

# What no text column can hold at all: NUL, and lone UTF-16 surrogates (a JSON "\ud800"
# escape decodes to one; it cannot be encoded as UTF-8).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def refuse_control(value: str, *, keep_layout: bool = False) -> str:
    """The value, or a ValueError naming the first character that cannot be kept: any
    control character (portal.validators; tab and line breaks pass with ``keep_layout``)
    or a lone surrogate."""
    try:
        (multi_line_text if keep_layout else single_line_text)(value)
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from None
    found = _SURROGATE.search(value)
    if found is not None:
        raise ValueError(f"Remove the lone surrogate (U+{ord(found.group()):04X}).")
    return value


CheckKey = Annotated[
    str,
    StringConstraints(
        pattern=rf"^{re.escape(PUSHED_PREFIX)}[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=100
    ),
]


class PushedEvidence(BaseModel):
    """What a pipeline may send.

    Strict: a boolean or a string is not a number, nor a number a string.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    check: CheckKey
    result: str
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    observed: dict[str, Any] = Field(default_factory=dict)
    link: Annotated[str, StringConstraints(max_length=2000)] = ""
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    fresh_for_days: int = Field(default=30, ge=1, le=365)

    @field_validator("result")
    @classmethod
    def _known_result(cls, value: str) -> str:
        if value not in Result.values:
            raise ValueError(f"must be one of {', '.join(Result.values)}")
        return value

    @field_validator("check", "idempotency_key")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return value if value is None else refuse_control(value)

    @field_validator("summary")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        return refuse_control(value, keep_layout=True)

    @field_validator("link")
    @classmethod
    def _https_link(cls, value: str) -> str:
        if not value:
            return value
        refuse_control(value)
        try:
            _URL(value)
        except ValidationError:
            raise ValueError("must be an http(s) URL, e.g. https://ci.example.com/1") from None
        return value

    @field_validator("observed")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_observed(value)
        return value


_URL = URLValidator(schemes=["http", "https"])


def _check_observed(observed: dict[str, Any]) -> None:
    """Refuse what jsonb cannot store or what would not read back the same.

    Walks iteratively, so depth is judged without recursing into it.
    """
    pending: list[tuple[Any, str, int]] = [(observed, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        where = f"“{path}”" if path else "the top level"
        if isinstance(value, dict | list) and depth > MAX_OBSERVED_DEPTH:
            raise ValueError(f"is nested deeper than {MAX_OBSERVED_DEPTH} levels at {where}")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or _UNSTORABLE.search(key):
                    raise ValueError(f"has a key at {where} {_unstorable(key)}")
                pending.append((item, f"{path}.{key[:40]}" if path else key[:40], depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise ValueError(f"has text at {where} {_unstorable(value)}")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if not MIN_OBSERVED_INT <= value <= MAX_OBSERVED_INT:
                raise ValueError(f"has an integer at {where} that does not fit in 64 bits")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"has a number at {where} that is not finite (NaN or Infinity)")
        else:  # not reachable from JSON, but the model may be built in code
            raise ValueError(f"has a value at {where} that is not JSON")


def _unstorable(text: object) -> str:
    if not isinstance(text, str):
        return "that is not text"
    return "with a NUL (U+0000)" if "\x00" in text else "with a lone surrogate"


class IdempotencyKeyReused(Exception):
    """The idempotency key was already used by this service for a different push."""


def _canonical(value: Any) -> Any:
    """A JSON value in a form that compares equal after a jsonb round trip.

    jsonb keeps numbers as decimals and may give a float back as an integer (1e300 comes
    back with 300 zeros), so numbers compare by decimal value; booleans are tagged so
    that true is not 1.
    """
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float):
        return ("number", Decimal(repr(value)))
    if isinstance(value, int):
        return ("number", Decimal(value))
    return value


def same_push(result: CheckResult, payload: PushedEvidence) -> bool:
    """Whether a stored result is what this payload would have recorded.

    Compared field by field rather than by a stored hash of the body, so no column is
    needed; the freshness is the span between checked_at and fresh_until.
    """
    return (
        result.check_key == payload.check
        and result.result == payload.result
        and result.explanation == payload.summary
        and result.link == payload.link
        and result.fresh_until - result.checked_at == timedelta(days=payload.fresh_for_days)
        and _canonical(result.observed) == _canonical(payload.observed)
    )
