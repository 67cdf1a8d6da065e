from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.db import models

from checklists.models import ChecklistVersion, VersionStatus
from portal.accounts.models import Team
from portal.forms import MAX_POSITIVE_INT, Form, ModelForm, RevisionedForm
from reviews.checks.collectors.repository import repository_address
from reviews.models import AnswerStatus, Review, Service
from reviews.services import SERVICE_FIELDS, AnswerChange, target_date_error


def _https_urls(db_field: Any, **kwargs: Any) -> Any:
    """Form fields for a model; a URL typed without a scheme is taken as https."""
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class ServiceForm(ModelForm[Service]):
    class Meta:
        model = Service
        formfield_callback = _https_urls
        fields = SERVICE_FIELDS
        help_texts = {"slug": "Used in addresses: lower-case letters, digits and dashes."}

    def __init__(self, *args: Any, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["slug"].validators += [_lower_case_slug, _not_reserved]
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)
        team_field.queryset = Team.objects.filter(pk__in=[team.pk for team in teams])
        if self.instance.pk:
            self.fields["slug"].disabled = True  # addresses stay stable

    def clean_repository_url(self) -> str:
        """An address typed without a protocol is taken as https, as other URLs are."""
        value: str = self.cleaned_data["repository_url"]
        if value and "://" not in value and "@" not in value:
            value = f"https://{value}"
            repository_address(value)
        return value


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
