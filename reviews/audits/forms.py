"""Forms for recording a launch audit (its details and a formset of decisions) and for
journal notes. Choices come from the record the page is about: a decision's item from
the review's own checklist version, attendees from the people who may have been there, a
note's review from the service's reviews. Anything else is a form error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from checklists.models import Item
from portal.accounts.models import User
from portal.forms import MAX_POSITIVE_INT, Form, RevisionedForm
from reviews.audits import selectors
from reviews.audits.services import DecisionInput, SessionDetails
from reviews.models import AuditSession, DecisionOutcome, Review, Service

# What a datetime-local input sends and shows ("2025-06-01T14:30", or with seconds for
# the record's moment), read as UTC.
MINUTE = "%Y-%m-%dT%H:%M"
SECOND = "%Y-%m-%dT%H:%M:%S"
MAX_DECISIONS = 30
BLANK_DECISIONS = 3  # rows for new decisions on the page, without JavaScript


def _moment_field(label: str, shown: str, **kwargs: Any) -> forms.DateTimeField:
    attrs = {"type": "datetime-local"} | ({"step": "1"} if shown == SECOND else {})
    return forms.DateTimeField(
        label=label,
        input_formats=[MINUTE, SECOND, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs=attrs, format=shown),
        **kwargs,
    )


def _revision_field() -> forms.IntegerField:
    return forms.IntegerField(min_value=1, max_value=MAX_POSITIVE_INT, widget=forms.HiddenInput)


class _PersonChoice(forms.ModelMultipleChoiceField[User]):
    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.email})" if name else str(obj.email)


class SessionForm(RevisionedForm):
    """A launch audit's details; ``revision`` only when editing one."""

    title = forms.CharField(max_length=200, help_text="For example: Launch audit, June 2025.")
    held_at = _moment_field("Held", MINUTE, help_text="Date and time (UTC).")
    as_of = _moment_field(
        "Record as of",
        SECOND,
        required=False,
        help_text="The moment of the record the audit worked from (UTC). Leave empty "
        "for the time it was held.",
    )
    attendees = _PersonChoice(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="People with an account here: reviewers, managers, auditors and the "
        "service's team.",
    )
    other_attendees = forms.CharField(
        label="Other attendees",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="People without an account here, one per line.",
    )
    minutes = forms.CharField(
        max_length=50_000, required=False, widget=forms.Textarea(attrs={"rows": 8})
    )
    revision = _revision_field()

    def __init__(self, *args: Any, review: Review, editing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        attendees = self.fields["attendees"]
        assert isinstance(attendees, forms.ModelMultipleChoiceField)
        attendees.queryset = selectors.attendee_choices(review.service)
        if not editing:
            del self.fields["revision"]
        self.stored = self.initial if editing else {}

    def _as_stored(self, name: str, shown: str) -> Any:
        """The stored moment when the field shows it unchanged: the page shows minutes
        (or seconds), the record keeps more, and an unchanged form must change nothing."""
        value = self.cleaned_data[name]
        stored = self.stored.get(name)
        if value is not None and stored is not None and value == _shown_as(stored, shown):
            return stored
        return value

    def clean_held_at(self) -> Any:
        return self._as_stored("held_at", MINUTE)

    def clean_as_of(self) -> Any:
        return self._as_stored("as_of", SECOND)

    def details(self) -> SessionDetails:
        data = self.cleaned_data
        return SessionDetails(
            title=data["title"],
            held_at=data["held_at"],
            as_of=data["as_of"] or data["held_at"],
            attendees=tuple(data["attendees"]),
            other_attendees=data["other_attendees"],
            minutes=data["minutes"],
        )

    @staticmethod
    def initial_for(session: AuditSession | None) -> dict[str, Any]:
        if session is None:
            return {"held_at": timezone.now().replace(second=0, microsecond=0)}
        return {
            "title": session.title,
            "held_at": session.held_at,
            "as_of": session.as_of,
            "attendees": list(session.attendees.all()),
            "other_attendees": session.other_attendees,
            "minutes": session.minutes,
            "revision": session.revision,
        }


def _shown_as(moment: datetime, shown: str) -> datetime:
    moment = moment.replace(microsecond=0)
    return moment.replace(second=0) if shown == MINUTE else moment


class _ItemChoice(forms.ModelChoiceField[Item]):
    def label_from_instance(self, obj: Any) -> str:
        text = str(obj.text)
        return f"{obj.section.title}: {text[:90]}{'…' if len(text) > 90 else ''}"


class DecisionForm(Form):
    """One decision; ``decision`` is the id of the stored one a row edits (empty for new)."""

    decision = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    outcome = forms.ChoiceField(choices=DecisionOutcome.choices, initial=DecisionOutcome.NOTED)
    item = _ItemChoice(
        queryset=Item.objects.none(),
        required=False,
        label="Concerns the item",
        empty_label="The review as a whole",
    )
    text = forms.CharField(
        label="Decision", max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, review: Review, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        item = self.fields["item"]
        assert isinstance(item, forms.ModelChoiceField)
        item.queryset = selectors.review_items(review)

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        removing = bool(self.cleaned_data.get("DELETE"))
        if not removing and not (self.cleaned_data.get("text") or "").strip():
            self.add_error("text", "Say what was decided.")
        return cleaned

    def decision_input(self) -> DecisionInput:
        data = self.cleaned_data
        return DecisionInput(
            outcome=data.get("outcome") or DecisionOutcome.NOTED,
            text=data.get("text") or "",
            item=data.get("item"),
            decision_id=data.get("decision"),
            remove=bool(data.get("DELETE")),
        )


class _DecisionFormSet(forms.BaseFormSet[DecisionForm]):
    def add_fields(self, form: DecisionForm, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Take this decision out"

    def decisions(self) -> list[DecisionInput]:
        """The rows that say something: blank new rows are left out."""
        return [
            form.decision_input()
            for form in self.forms
            if form.has_changed() or form.cleaned_data.get("decision")
        ]


DecisionFormSet = forms.formset_factory(
    DecisionForm,
    formset=_DecisionFormSet,
    extra=BLANK_DECISIONS,
    can_delete=True,
    can_delete_extra=False,
    max_num=MAX_DECISIONS,
    absolute_max=MAX_DECISIONS,
    validate_max=True,
)


def decision_formset(
    data: Any, *, review: Review, session: AuditSession | None = None
) -> _DecisionFormSet:
    initial = (
        [
            {"decision": d.pk, "outcome": d.outcome, "item": d.item_id, "text": d.text}
            for d in session.decisions.all()
        ]
        if session is not None
        else []
    )
    formset = DecisionFormSet(
        data, initial=initial, prefix="decisions", form_kwargs={"review": review}
    )
    assert isinstance(formset, _DecisionFormSet)
    return formset


class JournalNoteForm(Form):
    """A new note on a service, or on one of its reviews (``review``, hidden)."""

    body = forms.CharField(
        label="Note", max_length=10_000, widget=forms.Textarea(attrs={"rows": 3})
    )
    review = forms.ModelChoiceField(
        queryset=Review.objects.none(), required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, service: Service, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        review = self.fields["review"]
        assert isinstance(review, forms.ModelChoiceField)
        review.queryset = Review.objects.filter(service=service)
        review.error_messages["invalid_choice"] = "That review is not one of this service's."


class JournalNoteEditForm(RevisionedForm):
    body = forms.CharField(
        label="Note", max_length=10_000, widget=forms.Textarea(attrs={"rows": 6})
    )
    revision = _revision_field()
