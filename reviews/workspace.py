"""The review workspace's overview: one compact row per item, grouped by section.

Everything a row shows is read in SQL, a page of rows at a time, so the page costs the
same at 57 items as at 1,000: the rows of one page (with their evidence and comment
counts and latest exception as subqueries), the section index's progress (one grouped
query), the service's check standings (one query). The editors are loaded per item, on
demand (``reviews.views.item_detail``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from reviews.checks.collectors.base import Result, bindings_of
from reviews.checks.selectors import ItemCheck, contradicted, item_checks, standings
from reviews.models import (
    Answer,
    AnswerStatus,
    CheckStanding,
    Comment,
    Evidence,
    Review,
    Waiver,
    WaiverState,
)
from reviews.record.changed import changed_answer_ids, latest_signoff_moment

# Rows per page: a whole review of the usual size (Preflight's own is 57 items) is one page.
PAGE_SIZE = 100

FILTERS = {
    "all": "Every item",
    "open-must-haves": "Open must-haves",
    "not-started": "Not started",
    "failing-checks": "Failing checks",
    "contradictions": "Contradictions",
    "mine": "Assigned to me",
    "since-visit": "Changed since my last visit",
}
REVIEWER_FILTERS = {"since-signoff": "Changed since my sign-off"}

EMPTY = {
    "all": "This review has no items.",
    "open-must-haves": "No must-have is open.",
    "not-started": "Every item has been started.",
    "failing-checks": "No item has a failing automated check.",
    "contradictions": "No item answered “met” has a failing check.",
    "mine": "No item is assigned to you.",
    "since-visit": "Nothing changed since your last visit.",
    "since-signoff": "Nothing changed since your sign-off.",
}


def section_anchor(title: str) -> str:
    """The id of a section's heading on the review page (the heat map links to it)."""
    return f"section-{slugify(title)}"


def filters_for(*, reviewer: bool) -> dict[str, str]:
    return FILTERS | REVIEWER_FILTERS if reviewer else dict(FILTERS)


@dataclass(frozen=True)
class Row:
    """One item of the overview, as its row shows it."""

    answer: Answer
    checks: list[ItemCheck]

    @property
    def passing(self) -> int:
        return sum(1 for check in self.checks if check.standing and check.standing.passes)

    @property
    def failing(self) -> int:
        return sum(1 for check in self.checks if check.fails)

    @property
    def not_applicable(self) -> int:
        return sum(
            1
            for check in self.checks
            if check.standing and check.standing.standing_result == Result.NOT_APPLICABLE
        )

    @property
    def unknown(self) -> int:
        """Bound checks with no result yet (never run, or only errors)."""
        return len(self.checks) - self.passing - self.failing - self.not_applicable

    @property
    def contradiction(self) -> bool:
        return contradicted(self.answer, self.checks)

    @property
    def checks_pass(self) -> bool:
        """Every check bound to the item passes: "met" can be proposed."""
        return bool(self.checks) and self.passing == len(self.checks)

    @property
    def proposes_met(self) -> bool:
        return self.checks_pass and self.answer.status != AnswerStatus.MET

    @property
    def exception(self) -> str:
        """The latest exception's state in words ("" when none was asked for)."""
        state = getattr(self.answer, "exception_state", None)
        if not state:
            return ""
        expires = getattr(self.answer, "exception_expires", None)
        if state == WaiverState.APPROVED and expires and expires < timezone.localdate():
            return "Lapsed"
        labels = {WaiverState.REQUESTED: "Pending"}
        return labels.get(state, WaiverState(state).label)


@dataclass
class SectionProgress:
    section_id: int
    title: str
    total: int
    applicable: int
    met: int
    page: int  # the page of the unfiltered overview the section starts on
    rows: list[Row] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        # The heat map links to sections by this anchor (reviews.portfolio.selectors).
        return section_anchor(self.title)

    @property
    def percent(self) -> int:
        return self.met * 100 // self.applicable if self.applicable else 0


@dataclass
class Overview:
    show: str
    page: Page[Any]
    sections: list[SectionProgress]  # the page's sections, with their rows
    index: list[SectionProgress]  # every section, for the index
    since: datetime | None  # the moment a "changed since" filter counts from
    empty: str

    @property
    def count(self) -> int:
        return int(self.page.paginator.count)


def _counted(model: type[Any], **filters: Any) -> Coalesce:
    counts = (
        model.objects.filter(answer=OuterRef("pk"), **filters)
        .order_by()
        .values("answer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def rows_queryset(review: Review) -> QuerySet[Answer]:
    """The review's answers in page order, with what a row shows (no long texts)."""
    latest = Waiver.objects.filter(answer=OuterRef("pk")).order_by("-pk")
    return (
        Answer.objects.filter(review=review)
        .select_related("item__section", "owner")
        .defer("item__guidance", "justification", "notes")
        .annotate(
            evidence_count=_counted(
                Evidence, withdrawn_at__isnull=True, superseded_by__isnull=True
            ),
            comment_count=_counted(Comment),
            exception_state=Subquery(latest.values("state")[:1]),
            exception_expires=Subquery(latest.values("expires_on")[:1]),
        )
        .order_by("item__section__order", "item__section_id", "-item__must_have", "item__order")
    )


def _failing_answer_ids(review: Review, found: dict[str, CheckStanding]) -> tuple[set[int], int]:
    """Answers whose item has a failing bound check (one query over items with checks)."""
    failing = {binding for binding, standing in found.items() if standing.fails}
    ids: set[int] = set()
    if not failing:
        return ids, 0
    bound = list(
        review.answers.exclude(item__checks=[]).values_list("pk", "item__checks", "status")
    )
    for pk, checks, _status in bound:
        if any(binding.id in failing for binding in bindings_of(checks)):
            ids.add(pk)
    met = {pk for pk, _checks, status in bound if status == AnswerStatus.MET}
    return ids, len(ids & met)


def _filtered(
    queryset: QuerySet[Answer],
    review: Review,
    show: str,
    *,
    user: Any,
    found: dict[str, CheckStanding],
    since: datetime | None,
) -> QuerySet[Answer]:
    if show == "open-must-haves":
        covered = Waiver.objects.filter(Waiver.valid_on(timezone.localdate()))
        return queryset.filter(item__must_have=True).exclude(
            Q(status__in=[AnswerStatus.MET, AnswerStatus.NOT_APPLICABLE])
            | Q(pk__in=covered.values("answer"))
        )
    if show == "not-started":
        return queryset.filter(status=AnswerStatus.NOT_STARTED)
    if show == "mine":
        return queryset.filter(owner=user)
    if show in ("failing-checks", "contradictions"):
        ids, _ = _failing_answer_ids(review, found)
        queryset = queryset.filter(pk__in=ids)
        return queryset.filter(status=AnswerStatus.MET) if show == "contradictions" else queryset
    if show in ("since-visit", "since-signoff"):
        if since is None:
            return queryset.none()
        return queryset.filter(pk__in=changed_answer_ids(review, since))
    return queryset


def section_index(review: Review) -> list[SectionProgress]:
    """Every section's progress, in page order, with the page it starts on (one query)."""
    totals = (
        Answer.objects.filter(review=review)
        .order_by()
        .values("item__section_id", "item__section__title", "item__section__order")
        .annotate(
            total=Count("pk"),
            applicable=Count("pk", filter=~Q(status=AnswerStatus.NOT_APPLICABLE)),
            met=Count("pk", filter=Q(status=AnswerStatus.MET)),
        )
        .order_by("item__section__order", "item__section_id")
    )
    index, before = [], 0
    for row in totals:
        index.append(
            SectionProgress(
                section_id=row["item__section_id"],
                title=row["item__section__title"],
                total=row["total"],
                applicable=row["applicable"],
                met=row["met"],
                page=before // PAGE_SIZE + 1,
            )
        )
        before += row["total"]
    return index


def overview(
    review: Review,
    user: Any,
    show: str,
    page_number: Any,
    *,
    last_visit: datetime | None = None,
) -> Overview:
    """The overview's rows for one page of one filter (see the module's docstring)."""
    found = standings(review.service)
    since: datetime | None = None
    if show == "since-visit":
        since = last_visit
    elif show == "since-signoff":
        since = latest_signoff_moment(review, user)
    queryset = _filtered(rows_queryset(review), review, show, user=user, found=found, since=since)
    page = Paginator(queryset, PAGE_SIZE).get_page(page_number)
    index = section_index(review)
    by_id = {section.section_id: section for section in index}
    sections: list[SectionProgress] = []
    for answer in page.object_list:
        section = by_id[answer.item.section_id]
        if not sections or sections[-1] is not section:
            sections.append(section)
        section.rows.append(Row(answer, item_checks(answer.item.checks, found)))
    empty = EMPTY[show]
    if since is None and show == "since-visit":
        empty = "This is your first visit to this review: every item is new to you."
    elif since is None and show == "since-signoff":
        empty = "You have not signed this review off, so nothing is new since."
    return Overview(show=show, page=page, sections=sections, index=index, since=since, empty=empty)


def row_for(answer: Answer) -> Row:
    """One row, fresh from the database (after a save), with its counts."""
    fresh = rows_queryset(answer.review).get(pk=answer.pk)
    return Row(fresh, item_checks(fresh.item.checks, standings(answer.review.service)))


def open_must_haves(review: Review) -> list[Answer]:
    """The must-haves neither met, not applicable nor covered by an exception (one query)."""
    rows = _filtered(
        rows_queryset(review), review, "open-must-haves", user=None, found={}, since=None
    )
    return list(rows[:PAGE_SIZE])
