from __future__ import annotations

import itertools
import re
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.db import models
from django.utils.text import slugify

from checklists.models import ChecklistVersion, VersionStatus
from portal.accounts.models import Team
from portal.forms import MAX_POSITIVE_INT, Form, ModelForm, RevisionedForm
from reviews.checks.collectors.repository import repository_address
from reviews.models import AnswerStatus, Review, Service
from reviews.services import (
    SERVICE_BASICS,
    SERVICE_FIELDS,
    SERVICE_INTEGRATIONS,
    SERVICE_LINKS,
    AnswerChange,
    target_date_error,
)


def _https_urls(db_field: Any, **kwargs: Any) -> Any:
    """Form fields for a model; a URL typed without a scheme is taken as https, and a
    text column with no length of its own takes at most 10,000 characters, as notes do."""
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    if isinstance(db_field, models.TextField) and not db_field.max_length:
        kwargs.setdefault("max_length", 10_000)
    return db_field.formfield(**kwargs)


class ServiceForm(ModelForm[Service]):
    # The groups the form shows its fields in; every field is in exactly one (a test says
    # so). The service page lists LINKS and INTEGRATIONS too.
    BASICS, LINKS, INTEGRATIONS = SERVICE_BASICS, SERVICE_LINKS, SERVICE_INTEGRATIONS
    FIELDSETS = (("Basics", BASICS), ("Links", LINKS), ("Integrations", INTEGRATIONS))
    FIELDSET_HINTS = {
        "Integrations": "Settings the automated checks read; leave blank what does not apply.",
    }
    SLUG_MAX_LENGTH = 80

    class Meta:
        model = Service
        formfield_callback = _https_urls
        fields = SERVICE_FIELDS
        help_texts = {"slug": "Used in addresses: lower-case letters, digits and dashes."}

    def __init__(self, *args: Any, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slug_field = self.fields["slug"]
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)
        team_field.queryset = Team.objects.filter(pk__in=[team.pk for team in teams])
        if self.instance.pk:
            slug_field.disabled = True  # addresses stay stable
            return
        slug_field.validators += [_lower_case_slug, _not_reserved]
        # Left blank, the address is made from the name (static/js/service_form.js fills it
        # in as the name is typed; this is the same rule without JavaScript).
        slug_field.required = False
        slug_field.help_text = (
            "Used in addresses: lower-case letters, digits and dashes. "
            "Left blank, it is made from the name."
        )
        slug_field.widget.attrs["data-slug-from"] = self["name"].id_for_label
        if len(teams) == 1:
            team_field.initial = teams[0].pk

    def fieldsets(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """The form's fields in FIELDSETS' groups, as (legend, hint, bound fields)."""
        return [
            (legend, self.FIELDSET_HINTS.get(legend, ""), [self[name] for name in names])
            for legend, names in self.FIELDSETS
        ]

    def clean_repository_url(self) -> str:
        """An address typed without a protocol is taken as https, as other URLs are."""
        value: str = self.cleaned_data["repository_url"]
        if value and "://" not in value and "@" not in value:
            value = f"https://{value}"
            repository_address(value)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk or "slug" in self.errors or not cleaned.get("name"):
            return cleaned
        from_name = self.slug_from_name(cleaned["name"])
        slug = cleaned.get("slug") or ""
        # A slug the user chose stands (and is refused if taken); one that is blank or just
        # what the name gives (the browser fills that in) becomes the first free address.
        if slug and slug != from_name:
            return cleaned
        if not from_name:
            self.add_error(
                "slug",
                "An address cannot be made from this name: give one, using lower-case "
                "letters, digits and dashes.",
            )
            return cleaned
        cleaned["slug"] = self._first_free_slug(from_name)
        return cleaned

    @classmethod
    def slug_from_name(cls, name: str) -> str:
        """The address a name gives: Django's slugify, with dashes for underscores."""
        slug = re.sub(r"[-_]+", "-", slugify(name)).strip("-")
        return slug[: cls.SLUG_MAX_LENGTH].rstrip("-")

    @classmethod
    def _first_free_slug(cls, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``… (shortened to fit): the first one no service
        has and that is not reserved. One query."""
        # Every candidate starts with the base's first 60 characters (a suffix is at most
        # 20 characters here: "-" and a count of services).
        taken = set(
            Service.objects.filter(slug__startswith=base[:60]).values_list("slug", flat=True)
        )
        for n in itertools.count(1):
            suffix = f"-{n}" if n > 1 else ""
            candidate = base[: cls.SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
            if candidate not in taken and candidate not in RESERVED_SLUGS:
                return candidate
        raise AssertionError("unreachable")  # pragma: no cover


class ReviewStartForm(ModelForm[Review]):
    class Meta:
        model = Review
        fields = ("checklist_version", "kind", "target_date")
        widgets = {"target_date": forms.DateInput(attrs={"type": "date"})}
        labels = {"checklist_version": "Checklist"}
        help_texts = {
            "checklist_version": "Answers and evidence carry over from this service's latest "
            "review for items that have not changed; changed items are flagged for a re-check."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["checklist_version"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = ChecklistVersion.objects.filter(
            status=VersionStatus.PUBLISHED
        ).select_related("checklist")
        field.label_from_instance = _version_label  # type: ignore[method-assign,assignment]

    def clean_target_date(self) -> Any:
        target_date = self.cleaned_data["target_date"]
        problem = target_date_error(target_date)
        if problem:
            raise forms.ValidationError(problem)
        return target_date


_lower_case_slug = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", "Use lower-case letters, digits and single dashes."
)


def _not_reserved(slug: str) -> None:
    if slug.lower() in RESERVED_SLUGS:
        raise forms.ValidationError(f"“{slug}” is reserved; choose another address.")


RESERVED_SLUGS = frozenset({"new"})


def _version_label(version: ChecklistVersion) -> str:
    return f"{version.checklist.title} (v{version.number})"


class AnswerForm(RevisionedForm):
    """One answer's fields, plus the revision the editor started from."""

    status = forms.ChoiceField(choices=AnswerStatus.choices)
    justification = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    notes = forms.CharField(
        required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    owner = forms.ChoiceField(required=False)
    revision = forms.IntegerField(min_value=1, max_value=MAX_POSITIVE_INT, widget=forms.HiddenInput)

    def __init__(self, *args: Any, owners: dict[str, Any], **kwargs: Any) -> None:
        # Owner choices come from the view (one query for the page, not one per row).
        super().__init__(*args, **kwargs)
        self.owners = owners
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, forms.ChoiceField)
        owner_field.choices = [("", "Nobody yet"), *((pk, str(u)) for pk, u in owners.items())]

    def change(self) -> AnswerChange:
        data = self.cleaned_data
        return AnswerChange(
            status=data["status"],
            justification=data["justification"],
            notes=data["notes"],
            owner=self.owners.get(data["owner"]) if data["owner"] else None,
        )


class MarkMetForm(RevisionedForm):
    """ "Checks pass: mark as met": the revision of the answer the button was shown for."""

    revision = forms.IntegerField(min_value=1, max_value=MAX_POSITIVE_INT, widget=forms.HiddenInput)


class EvidenceForm(Form):
    kind = forms.ChoiceField(
        choices=[("link", "Link"), ("file", "File"), ("note", "Note")], widget=forms.RadioSelect
    )
    url = forms.URLField(required=False, max_length=2000, assume_scheme="https", label="Link")
    file = forms.FileField(required=False)
    note = forms.CharField(
        required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    effective_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="When the evidence was true."
    )
    fresh_until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty if it does not go stale.",
    )


class WithdrawEvidenceForm(Form):
    reason = forms.CharField(max_length=2000, label="Why withdraw it?")


class TokenForm(Form):
    name = forms.CharField(max_length=100, label="Token name")


class CommentForm(Form):
    body = forms.CharField(
        max_length=5000, label="Comment", widget=forms.Textarea(attrs={"rows": 2})
    )


class WaiverRequestForm(Form):
    rationale = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    compensating_controls = forms.CharField(
        max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    expires_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


class WaiverDecisionForm(Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("refuse", "Refuse")])
    comment = forms.CharField(required=False, max_length=5000)


class SignOffForm(Form):
    role = forms.ChoiceField(label="Signing as")
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("request_changes", "Request changes")],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = roles
