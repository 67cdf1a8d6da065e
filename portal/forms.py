"""The base classes of every form the project defines: text fields refuse control characters.

Derive from ``Form`` or ``ModelForm`` here, not Django's own, so each text field carries
the same validator as its model field (``portal.validators``): a Textarea keeps line
breaks and tabs, any other text input is one line. tests/test_input_validation.py
checks that every form in the project does.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models

from portal.validators import multi_line_text, single_line_text

_M = TypeVar("_M", bound=models.Model)

# The largest value a PositiveIntegerField holds on every database (PostgreSQL's integer).
MAX_POSITIVE_INT = 2**31 - 1


class CleanTextMixin(forms.BaseForm):
    """Adds the control-character validators to every text field of the form."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            # A JSONField's validators see the parsed value, not text.
            if not isinstance(field, forms.CharField) or isinstance(field, forms.JSONField):
                continue
            rule = multi_line_text if isinstance(field.widget, forms.Textarea) else single_line_text
            # self.fields is this form's own deep copy: the class's fields are untouched.
            # Django's NUL check goes: the rule covers NUL too, and names the character.
            others = [
                v for v in field.validators if not isinstance(v, ProhibitNullCharactersValidator)
            ]
            field.validators = [*others, rule]


class Form(CleanTextMixin, forms.Form):
    """Django's Form, with the text rules."""


class ModelForm(CleanTextMixin, forms.ModelForm[_M]):
    """Django's ModelForm, with the text rules."""


class RevisionedForm(Form):
    """A form that edits one revision of a record (the optimistic lock, a hidden
    ``revision`` field): a damaged revision is said where people can see it."""

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.has_error("revision"):
            raise forms.ValidationError(
                "This form is out of date or damaged: reload the page and try again."
            )
        return cleaned
