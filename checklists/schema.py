"""The shape of a checklist's content, whatever file it came from.

Importers turn Markdown, plain text, YAML or JSON into a ``ParsedChecklist``; pydantic
validates it (limits included, so a hostile file cannot make huge rows) and names the
path of anything wrong, e.g. ``sections.2.items.0.text``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from portal.accounts.roles import Role
from portal.validators import multi_line_text, single_line_text
from reviews.checks.collectors.base import check_type, is_pushed

MAX_SECTIONS = 200
MAX_ITEMS = 2000
REF_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"
SIGNOFF_ROLE_VALUES = tuple(role.value for role in Role if role is not Role.ADMIN)


def _django_rule(rule: Callable[[object], None]) -> AfterValidator:
    """The stored fields' validator (portal.validators), as pydantic reports errors."""

    def check(value: str) -> str:
        try:
            rule(value)
        except DjangoValidationError as exc:
            raise ValueError(exc.messages[0]) from None
        return value

    return AfterValidator(check)


# Titles and sources are one line; item text, guidance and descriptions may run to several.
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    _django_rule(single_line_text),
]
ItemText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    _django_rule(multi_line_text),
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20000), _django_rule(multi_line_text)
]
CheckKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckBinding(_Strict):
    """An automated check that can prove an item, e.g. ``http.health`` with parameters."""

    key: CheckKey
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _json_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(params, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(
                "params must be plain JSON values (text, numbers, true/false, lists, "
                "mappings); quote dates and times"
            ) from None
        return params

    @model_validator(mode="after")
    def _known_check(self) -> CheckBinding:
        """The key names a check type and the params are ones it takes; ``ci.`` keys are
        pushed by pipelines (any name, no params to check)."""
        if is_pushed(self.key):
            return self
        checker = check_type(self.key)  # ValueError: Unknown check “…”.
        checker.params(self.params)  # ValueError naming the parameter
        return self


class ParsedItem(_Strict):
    text: ItemText
    ref: Annotated[str, StringConstraints(pattern=REF_PATTERN)] | None = None
    guidance: LongText = ""
    must_have: bool = False
    checks: list[CheckBinding] = Field(default_factory=list, max_length=20)


class ParsedSection(_Strict):
    title: ShortText
    items: list[ParsedItem] = Field(min_length=1, max_length=MAX_ITEMS)


class ParsedChecklist(_Strict):
    title: ShortText
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")] | None = None
    description: LongText = ""
    source: Annotated[str, StringConstraints(max_length=300), _django_rule(single_line_text)] = ""
    attribution: LongText = ""
    signoff_roles: list[str] = Field(default_factory=lambda: [Role.SECURITY_REVIEWER.value])
    sections: list[ParsedSection] = Field(min_length=1, max_length=MAX_SECTIONS)

    @field_validator("signoff_roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - set(SIGNOFF_ROLE_VALUES))
        if unknown:
            raise ValueError(
                f"unknown sign-off role(s) {', '.join(unknown)}; "
                f"use {', '.join(SIGNOFF_ROLE_VALUES)}"
            )
        if not roles:
            raise ValueError("at least one sign-off role is required")
        return sorted(set(roles))

    @field_validator("sections")
    @classmethod
    def _limits_and_unique_refs(cls, sections: list[ParsedSection]) -> list[ParsedSection]:
        items = [item for section in sections for item in section.items]
        if len(items) > MAX_ITEMS:
            raise ValueError(f"a checklist can have at most {MAX_ITEMS} items ({len(items)} given)")
        refs = [item.ref for item in items if item.ref]
        duplicates = sorted({ref for ref in refs if refs.count(ref) > 1})
        if duplicates:
            raise ValueError(f"item refs must be unique: {', '.join(duplicates)} repeated")
        return sections

    @property
    def item_count(self) -> int:
        return sum(len(section.items) for section in self.sections)

    @property
    def must_have_count(self) -> int:
        return sum(item.must_have for section in self.sections for item in section.items)

    def content_hash(self) -> str:
        """A digest of what a version holds: sections, items and sign-off roles.

        Reference ids are identity, not content, so they are left out: re-importing a
        file that gained ``{#ref}`` markers is not a change.
        """
        return content_hash(
            self.signoff_roles,
            [
                (
                    section.title,
                    [
                        (item.text, item.guidance, item.must_have, _checks(item.checks))
                        for item in section.items
                    ],
                )
                for section in self.sections
            ],
        )


def _checks(checks: list[CheckBinding]) -> list[dict[str, Any]]:
    return [check.model_dump() for check in checks]


def content_hash(signoff_roles: list[str], sections: list[Any]) -> str:
    canonical = json.dumps(
        {"signoff_roles": sorted(signoff_roles), "sections": sections},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slug_for(text: str, *, limit: int = 60) -> str:
    """A reference id from text: lower case, dashes, at most ``limit`` characters."""
    slug = _NON_SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return slug or "item"
