"""The portfolio's query string, checked: filters, sorting, the product lead's scope."""

from __future__ import annotations

from typing import Any

from django import forms

from checklists.models import Checklist
from portal.accounts.models import Team
from portal.accounts.roles import Role
from portal.forms import Form
from reviews.models import Hosting, ImpactLevel, ReviewState
from reviews.portfolio.selectors import SORTS, STATUSES, Filters

ANY = [("", "Any")]


class PortfolioForm(Form):
    """Every field is optional: an empty form is the whole portfolio, sorted by name."""

    q = forms.CharField(required=False, max_length=200, label="Service name contains")
    team = forms.ChoiceField(required=False)
    hosting = forms.ChoiceField(required=False, choices=[*ANY, *Hosting.choices])
    impact = forms.ChoiceField(
        required=False, label="Impact level", choices=[*ANY, *ImpactLevel.choices]
    )
    state = forms.ChoiceField(
        required=False,
        label="Review state",
        choices=[*ANY, *ReviewState.choices, ("none", "No review yet")],
    )
    checklist = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[*ANY, *STATUSES.items()])
    scope = forms.ChoiceField(
        required=False,
        label="Services",
        choices=[("mine", "My teams' services"), ("all", "Everything I may read")],
    )
    blocked = forms.BooleanField(required=False, label="Blocked on me")
    expiring = forms.BooleanField(required=False, label="Exceptions expiring within 30 days")
    sort = forms.ChoiceField(
        required=False,
        choices=[(k, k) for key in SORTS for k in (key, f"-{key}")],
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # Choices are names, ordered; one query each.
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ChoiceField)
        team_field.choices = [*ANY, *Team.objects.order_by("name").values_list("slug", "name")]
        checklist_field = self.fields["checklist"]
        assert isinstance(checklist_field, forms.ChoiceField)
        checklist_field.choices = [
            *ANY,
            *Checklist.objects.order_by("title").values_list("slug", "title"),
        ]
        if not self.is_product_lead:
            del self.fields["scope"]

    @property
    def is_product_lead(self) -> bool:
        return Role.PRODUCT_LEAD in self.user.roles

    def filters(self) -> Filters:
        """The valid part of the query (an invalid field is left out and shown as an
        error); product leads see their teams' services unless they ask for all."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        scope = data.get("scope") or ("mine" if self.is_product_lead else "all")
        return Filters(
            q=(data.get("q") or "").strip(),
            team=data.get("team") or "",
            hosting=data.get("hosting") or "",
            impact=data.get("impact") or "",
            state=data.get("state") or "",
            checklist=data.get("checklist") or "",
            status=data.get("status") or "",
            mine=scope == "mine",
            blocked_on_me=bool(data.get("blocked")),
            expiring=bool(data.get("expiring")),
            sort=data.get("sort") or "name",
        )
