"""Template filters that put people's words where keys are stored."""

from __future__ import annotations

from django import template

from portal.accounts.roles import role_label as _role_label

register = template.Library()


@register.filter
def role_label(value: object) -> str:
    """``security_reviewer`` → "Security reviewer"."""
    return _role_label(str(value)) if value else ""
