"""Forms of the account pages."""

from __future__ import annotations

from django import forms

from portal.forms import Form


class ApiTokenForm(Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="What will use it, e.g. “Weekly report”.",
    )
