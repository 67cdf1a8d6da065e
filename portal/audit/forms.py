"""The feed's query string, checked: which lines (service, person, kind of record, kind of
change, request, dates) and where the page starts (the cursor)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils.text import capfirst

from portal.accounts.models import User
from portal.audit import registry
from portal.audit.feed import CHANGE_WORDS, Cursor, Filters
from portal.forms import Form
from portal.permissions import visible_services

ANY = [("", "Any")]
FILTERS = ("service", "person", "record", "kind", "request", "since", "until")


class DateInput(forms.DateInput):
    input_type = "date"


class PagedForm(Form):
    """Where a page of lines starts: ``before`` is the cursor of the page before it (an
    invalid one is an error, and the page starts from the newest)."""

    before = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean_before(self) -> Cursor | None:
        text = self.cleaned_data.get("before") or ""
        if not text:
            return None
        try:
            return Cursor.parse(text)
        except ValueError:
            raise forms.ValidationError(
                "This page's place in the record is not valid: start again from the newest."
            ) from None

    def cursor(self) -> Cursor | None:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        found: Cursor | None = data.get("before")
        return found


class FeedForm(PagedForm):
    """Every field optional: an empty form is the whole record, newest first. A service is
    named as people know it (its name, or its address if two share a name) and looked up
    among the services the reader may read, so no page lists every service."""

    service = forms.CharField(
        required=False, max_length=200, help_text="Its name, or its address (the slug)."
    )
    person = forms.EmailField(required=False, max_length=254, help_text="Their email address.")
    record = forms.ChoiceField(required=False, label="Kind of record")
    kind = forms.ChoiceField(required=False, label="Kind of change")
    request = forms.CharField(required=False, max_length=128, label="Request id")
    since = forms.DateField(required=False, label="From", widget=DateInput)
    until = forms.DateField(required=False, label="To", widget=DateInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        record_field = self.fields["record"]
        assert isinstance(record_field, forms.ChoiceField)
        record_field.choices = [*ANY, *((k, capfirst(n)) for k, n in registry.record_kinds())]
        kind_field = self.fields["kind"]
        assert isinstance(kind_field, forms.ChoiceField)
        kind_field.choices = [*ANY, *CHANGE_WORDS.items()]

    def clean_service(self) -> str:
        """The service's address in the record ("reviews.service:5"), or ""."""
        name = (self.cleaned_data.get("service") or "").strip()
        if not name:
            return ""
        readable = visible_services(self.user)
        found = list(readable.filter(slug=name)[:1]) or list(readable.filter(name__iexact=name)[:2])
        if not found:
            raise forms.ValidationError(f"No service you may read is called “{name}”.")
        if len(found) > 1:
            raise forms.ValidationError(
                f"Several services are called “{name}”: give its address (slug) instead."
            )
        return registry.key(found[0])

    def clean_person(self) -> int | None:
        email = self.cleaned_data.get("person") or ""
        if not email:
            return None
        found = User.objects.filter(email__iexact=email).values_list("pk", flat=True).first()
        if found is None:
            raise forms.ValidationError(f"Nobody has the email address “{email}”.")
        return int(found)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date comes before the start date.")
        return data

    def filters(self) -> Filters:
        """The valid part of the query; an invalid field is left out (and shown as an
        error)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return Filters(
            root=data.get("service") or "",
            actor_id=data.get("person"),
            record_type=data.get("record") or "",
            change=data.get("kind") or "",
            request_id=(data.get("request") or "").strip(),
            since=_start_of(data.get("since")),
            until=_start_of(data.get("until"), days=1),
        )

    @property
    def filtered(self) -> bool:
        """Whether any filter narrows the lines (the cursor does not count)."""
        return any(value for name, value in self.data.items() if name in FILTERS)


def _start_of(day: date | None, days: int = 0) -> datetime | None:
    """The first moment (UTC, as the pages show times) of ``day`` plus ``days``; None for
    no bound (no date, or past the calendar's end)."""
    if day is None:
        return None
    try:
        return datetime.combine(day + timedelta(days=days), time.min, tzinfo=UTC)
    except OverflowError:
        return None


class TimelineForm(PagedForm):
    """A timeline's query string: only the record's own lines, and where the page starts."""

    own = forms.BooleanField(required=False, label="Only this record's own changes")
