"""The reviewer queue: submitted reviews waiting on a sign-off from one of the reader's roles.

Filtered, counted and paginated in SQL on the review's stored summary: ``awaiting_roles``
(",role,role,": the required roles without a current approval) and ``pending_exceptions``
are rewritten by ``reviews.readiness.refresh_summary`` in the transaction of every change
that can move them (an answer, evidence or exception changing, which makes sign-offs
stale, and every sign-off), so a page costs the same at any number of reviews.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from checklists.models import ChecklistVersion
from checklists.schema import SIGNOFF_ROLE_VALUES
from portal.accounts.models import User
from portal.accounts.roles import Role, role_label
from portal.forms import Form
from portal.permissions import permission_required
from reviews.models import Review, ReviewState, Service

PAGE_SIZE = 25


def signing_roles(user: User) -> list[str]:
    """The roles ``user`` holds that a checklist can ask to sign off (every role but
    admin: see checklists.schema), in the order the roles are listed everywhere."""
    return [role.value for role in Role if role.value in SIGNOFF_ROLE_VALUES and role in user.roles]


@dataclass(frozen=True)
class QueueFilters:
    role: str = ""  # one of the reader's signing roles; "" for any of them
    pending_exceptions: bool = False

    @property
    def narrowed(self) -> bool:
        return bool(self.role or self.pending_exceptions)


def awaiting_any(roles: list[str]) -> Q:
    """Reviews whose stored ``awaiting_roles`` names one of ``roles`` (none: nothing)."""
    if not roles:
        return Q(pk__in=[])
    return reduce(operator.or_, (Q(awaiting_roles__contains=f",{role},") for role in roles))


def review_queue(user: User, filters: QueueFilters | None = None) -> QuerySet[Review]:
    """Submitted reviews waiting on one of ``user``'s roles (narrowed by ``filters``),
    oldest first."""
    filters = filters or QueueFilters()
    roles = signing_roles(user)
    if filters.role:
        roles = [role for role in roles if role == filters.role]
    reviews = Review.objects.filter(awaiting_any(roles), state=ReviewState.SUBMITTED)
    if filters.pending_exceptions:
        reviews = reviews.filter(pending_exceptions__gt=0)
    return reviews.order_by("submitted_at", "id")


@dataclass(frozen=True)
class QueueRow:
    review: Review
    waiting_roles: list[str]  # the reader's roles the review waits on
    waited: str  # since it was submitted, in words

    @property
    def waiting_role_labels(self) -> list[str]:
        return [role_label(role) for role in self.waiting_roles]

    @property
    def has_pending_exceptions(self) -> bool:
        return self.review.pending_exceptions > 0


def queue_row(review: Review, roles: list[str], now: datetime) -> QueueRow:
    """A page's row: read from the stored summary, no query of its own."""
    awaited = set(review.awaiting_roles.strip(",").split(","))
    since = review.submitted_at or review.state_changed_at or review.created_at
    return QueueRow(
        review=review,
        waiting_roles=[role for role in roles if role in awaited],
        waited=waited_for(now - since),
    )


def waited_for(elapsed: timedelta) -> str:
    """How long a review has waited, in the largest whole unit: "3 days", "5 hours",
    "12 minutes"."""
    seconds = max(int(elapsed.total_seconds()), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "under a minute"


@dataclass(frozen=True)
class QueuePage:
    page: Page[Review]
    rows: list[QueueRow]
    total: int  # the whole queue, whatever the filters
    narrowed: bool


def queue_page(user: User, filters: QueueFilters, number: str | None) -> QueuePage:
    """Page ``number`` of the queue in four queries, whatever its size: the matching
    reviews counted, the page of them, their services (with teams) and their checklist
    versions (with checklists); a fifth counts the whole queue when a filter narrows it.

    The page is picked before the joins: joined in one query, PostgreSQL would join
    every waiting review before it sorted them and kept 25.
    """
    page = Paginator(review_queue(user, filters), PAGE_SIZE).get_page(number)
    reviews = list(page.object_list)
    prefetch_related_objects(
        reviews,
        Prefetch("service", queryset=Service.objects.select_related("team")),
        Prefetch(
            "checklist_version", queryset=ChecklistVersion.objects.select_related("checklist")
        ),
    )
    roles, now = signing_roles(user), timezone.now()
    return QueuePage(
        page=page,
        rows=[queue_row(review, roles, now) for review in reviews],
        total=review_queue(user).count() if filters.narrowed else page.paginator.count,
        narrowed=filters.narrowed,
    )


class QueueForm(Form):
    """The queue's query string: every field optional, an empty form is the whole queue."""

    role = forms.ChoiceField(required=False, label="Waiting on")
    pending = forms.BooleanField(required=False, label="Has pending exceptions")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "Any of my roles"),
            *((role, role_label(role)) for role in signing_roles(user)),
        ]

    def filters(self) -> QueueFilters:
        """The valid part of the query; an invalid field is left out and shown as an error."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return QueueFilters(
            role=data.get("role") or "", pending_exceptions=bool(data.get("pending"))
        )


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@permission_required("reviews.view_review_queue")
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = QueueForm(request.GET, user=user)
    form.is_valid()  # what is invalid is left out and shown as an error
    waiting = queue_page(user, form.filters(), request.GET.get("page"))
    return render(
        request,
        "reviews/queue.html",
        {"form": form, "queue": waiting, "page": waiting.page},
        status=400 if form.errors else 200,
    )
