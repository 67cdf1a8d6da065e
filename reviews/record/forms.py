"""The moment picker: which moment of the record to show (a GET form, so links carry it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.forms import Form

# Longer than any way of writing a moment: refused before any parsing.
MOMENT_MAX_LENGTH = 64
# What the picker shows and what links carry: seconds on screen, microseconds in links,
# so a link names exactly the moment that was shown.
PICKER_FORMAT = "%Y-%m-%dT%H:%M:%S"
LINK_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def moment_param(moment: datetime) -> str:
    """The ``at`` value naming ``moment`` exactly (in the portal's time zone, UTC)."""
    return timezone.localtime(moment).strftime(LINK_FORMAT)


class MomentField(forms.DateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str) and len(value) > MOMENT_MAX_LENGTH:
            raise ValidationError(
                "That is not a moment: use a date and time like 2025-03-01 14:30.",
                code="invalid",
            )
        result: datetime | None = super().to_python(value)
        return result


class MomentForm(Form):
    at = MomentField(
        required=False,
        label="As of (UTC)",
        help_text="A date and time; leave it empty for now.",
        widget=forms.DateTimeInput(
            format=PICKER_FORMAT, attrs={"type": "datetime-local", "step": "1"}
        ),
        error_messages={
            "invalid": "That is not a moment: use a date and time like 2025-03-01 14:30."
        },
    )

    def clean_at(self) -> datetime | None:
        at: datetime | None = self.cleaned_data.get("at")
        if at is not None and at > timezone.now():
            raise ValidationError(
                "That moment is in the future: the record shows what has happened, so "
                "choose a moment up to now."
            )
        return at

    def moment(self) -> datetime:
        """The chosen moment, or now (call after is_valid)."""
        return self.cleaned_data.get("at") or timezone.now()
