"""The portfolio's reads: every service a person may read with its current review, the
figures on top, the heat map and the trend, filtered, sorted and counted in SQL.

A row is a service and its newest review (``Service.current_review``); its figures are
the review's stored summary (``reviews.readiness``), never counted from answers here, so
a page costs the same queries at 5,000 services as at 50.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from checklists.models import Checklist, ChecklistVersion, Section, VersionStatus
from portal.accounts.roles import Role, role_label
from portal.permissions import can, visible_services
from reviews.models import (
    Answer,
    AnswerStatus,
    ReadinessSnapshot,
    ReviewState,
    Service,
    Waiver,
    WaiverState,
)
from reviews.workspace import section_anchor

S = ReviewState
# An exception expiring within this many days shows in the row and the filter.
EXPIRING_DAYS = 30
OPEN = (S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED)


@dataclass(frozen=True)
class Filters:
    """What the portfolio shows: the page's query string, checked (``PortfolioForm``)."""

    q: str = ""
    team: str = ""  # a team's slug
    hosting: str = ""
    impact: str = ""
    state: str = ""  # a review state, or "none" for services without a review
    checklist: str = ""  # a checklist's slug
    status: str = ""  # one of STATUSES: what the tiles count
    mine: bool = False  # product leads: only my teams' services
    blocked_on_me: bool = False
    expiring: bool = False
    sort: str = "name"  # a key of SORTS, "-" first for descending


def _status_q(today: date) -> dict[str, Q]:
    """The tiles' categories. A service can be in more than one (blocked and overdue)."""
    review = "current_review__"
    unanswered = Q(**{f"{review}state": S.DRAFT}) & Q(
        **{f"{review}not_started_count": F(f"{review}item_count")}
    )
    not_started = Q(current_review__isnull=True) | unanswered
    return {
        "ready": Q(**{f"{review}state": S.APPROVED}),
        "blocked": Q(**{f"{review}state__in": OPEN})
        & (
            Q(**{f"{review}open_must_haves__gt": 0})
            | Q(**{f"{review}failing_must_haves__gt": 0})
            | Q(**{f"{review}state": S.CHANGES_REQUESTED})
        )
        & ~not_started,
        "in_review": Q(**{f"{review}state": S.SUBMITTED}),
        "overdue": Q(**{f"{review}state__in": OPEN, f"{review}target_date__lt": today}),
        "not_started": not_started,
    }


STATUSES = {
    "ready": "Ready",
    "blocked": "Blocked",
    "in_review": "In review",
    "overdue": "Overdue",
    "not_started": "Not started",
}

# Column key -> (label, the field it sorts by).
SORTS: dict[str, tuple[str, str]] = {
    "name": ("Service", "name"),
    "team": ("Team", "team__name"),
    "state": ("State", "current_review__state"),
    "readiness": ("Readiness", "current_review__readiness_percent"),
    "open_must_haves": ("Open must-haves", "current_review__open_must_haves"),
    "failing_checks": ("Failing checks", "current_review__failing_checks"),
    "pending_signoffs": ("Pending sign-offs", "current_review__pending_signoffs"),
    "pending_exceptions": ("Pending exceptions", "current_review__pending_exceptions"),
    "expiring": ("Expiring exceptions", "expiring_exceptions"),
    "target_date": ("Target date", "current_review__target_date"),
    "last_activity": ("Last activity", "current_review__last_activity_at"),
}


def _expiring(today: date) -> Any:
    """For each service: valid exceptions on its current review expiring within 30 days."""
    counted = (
        Waiver.objects.filter(
            answer__review=OuterRef("current_review"),
            state=WaiverState.APPROVED,
            expires_on__gte=today,
            expires_on__lte=today + timedelta(days=EXPIRING_DAYS),
        )
        .order_by()
        .values("answer__review")
        .annotate(n=Count("id"))
        .values("n")
    )
    # No review, no count (so those services sort last, as in every review column).
    return Case(
        When(current_review__isnull=True, then=Value(None)),
        default=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)),
        output_field=IntegerField(),
    )


def reviewer_roles(user: Any) -> list[str]:
    """The sign-off roles ``user`` holds (what "blocked on me" looks for)."""
    return [role.value for role in user.roles if role != Role.ADMIN]


def filtered(user: Any, filters: Filters, today: date | None = None) -> QuerySet[Service]:
    """The services ``user`` may read that match ``filters``: what the tiles count and
    the trend averages (no row data, no ordering)."""
    today = today or timezone.localdate()
    rows: QuerySet[Service] = visible_services(user)
    if filters.mine:
        rows = rows.filter(team_id__in=user.team_ids)
    if filters.q:
        rows = rows.filter(name__icontains=filters.q)
    if filters.team:
        rows = rows.filter(team__slug=filters.team)
    if filters.hosting:
        rows = rows.filter(hosting=filters.hosting)
    if filters.impact:
        rows = rows.filter(impact_level=filters.impact)
    if filters.state == "none":
        rows = rows.filter(current_review__isnull=True)
    elif filters.state:
        rows = rows.filter(current_review__state=filters.state)
    if filters.checklist:
        versions = ChecklistVersion.objects.filter(checklist__slug=filters.checklist)
        rows = rows.filter(current_review__checklist_version__in=versions.values("pk"))
    if filters.status:
        rows = rows.filter(_status_q(today)[filters.status])
    if filters.blocked_on_me:
        rows = rows.filter(blocked_on(user))
    if filters.expiring:
        rows = rows.annotate(expiring_now=_expiring(today)).filter(expiring_now__gt=0)
    return rows


def services(user: Any, filters: Filters, today: date | None = None) -> QuerySet[Service]:
    """The rows: ``filtered`` with their current review and what a row shows, sorted (a
    page of it is one query; counting it is another)."""
    today = today or timezone.localdate()
    rows: QuerySet[Service] = (
        filtered(user, filters, today)
        .select_related("team", "current_review__checklist_version__checklist")
        .annotate(expiring_exceptions=_expiring(today))
        .order_by(*ordering(filters.sort))
    )
    return rows


def blocked_on(user: Any) -> Q:
    """Services waiting on ``user``: a submitted review needing one of their sign-off
    roles, or an exception for them to decide."""
    waiting = Q(pk__in=[])
    for role in reviewer_roles(user):
        waiting |= Q(
            current_review__state=S.SUBMITTED, current_review__awaiting_roles__contains=f",{role},"
        )
    if can(user, "reviews.decide_waiver"):
        waiting |= Q(current_review__state__in=OPEN, current_review__pending_exceptions__gt=0)
    return waiting


def sort_rows(rows: QuerySet[Service], sort: str, today: date | None = None) -> QuerySet[Service]:
    """``rows`` in the order ``sort`` names (adding the one figure a sort may need)."""
    if sort.removeprefix("-") == "expiring" and "expiring_exceptions" not in rows.query.annotations:
        rows = rows.annotate(expiring_exceptions=_expiring(today or timezone.localdate()))
    ordered: QuerySet[Service] = rows.order_by(*ordering(sort))
    return ordered


def ordering(sort: str) -> list[Any]:
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    field_name = SORTS.get(key, SORTS["name"])[1]
    column = F(field_name)
    first = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
    return [first, "name", "pk"]


@dataclass(frozen=True)
class Tiles:
    total: int
    counts: dict[str, int]

    def items(self) -> list[tuple[str, str, int]]:
        """(status, label, count) in the order the tiles show."""
        return [(key, label, self.counts[key]) for key, label in STATUSES.items()]


def tiles(rows: QuerySet[Service], today: date | None = None) -> Tiles:
    """How many of ``rows`` are in each status, in one aggregate query."""
    today = today or timezone.localdate()
    found = rows.order_by().aggregate(
        total=Count("pk"),
        **{key: Count("pk", filter=q) for key, q in _status_q(today).items()},
    )
    return Tiles(total=found.pop("total"), counts=found)


def status_of(service: Service, today: date | None = None) -> list[str]:
    """The statuses of one row: the same rules as ``_status_q`` (the tiles and the status
    filter), each on its own, so a row's labels and the tiles always agree."""
    today = today or timezone.localdate()
    review = service.current_review
    if review is None:
        return ["not_started"]
    is_open = review.state in OPEN
    not_started = review.state == S.DRAFT and review.not_started_count == review.item_count
    held = {
        "ready": review.state == S.APPROVED,
        "blocked": is_open
        and not not_started
        and bool(
            review.open_must_haves
            or review.failing_must_haves
            or review.state == S.CHANGES_REQUESTED
        ),
        "in_review": review.state == S.SUBMITTED,
        "overdue": is_open and review.target_date is not None and review.target_date < today,
        "not_started": not_started,
    }
    return [key for key in STATUSES if held[key]]


# --- the heat map -----------------------------------------------------------------------


@dataclass
class HeatRow:
    service: Service
    cells: list[HeatCell | None] = field(default_factory=list)


@dataclass(frozen=True)
class HeatCell:
    section: str
    met: int
    applicable: int
    anchor: str  # the section's anchor on the review page
    review_url: str

    @property
    def percent(self) -> int:
        return self.met * 100 // self.applicable if self.applicable else 100

    @property
    def band(self) -> str:
        """A colour band for the cell: what the legend names."""
        if not self.applicable:
            return "none"
        if self.percent == 100:
            return "done"
        if self.percent >= 50:
            return "half"
        return "low"


@dataclass(frozen=True)
class HeatMap:
    checklist: Checklist | None
    sections: list[str]
    rows: list[HeatRow]


def heat_checklists(rows: QuerySet[Service]) -> list[Checklist]:
    """The checklists the rows' current reviews use, by title (one query: an EXISTS per
    checklist, each stopping at its first service, so it does not grow with services)."""
    used = rows.order_by().filter(current_review__checklist_version__checklist=OuterRef("pk"))
    return list(Checklist.objects.filter(Exists(used)).order_by("title"))


def heat_rows(rows: QuerySet[Service], checklist: Checklist) -> QuerySet[Service]:
    """The rows whose current review uses ``checklist``, with what a heat map row needs."""
    # By the checklist's version ids, as values (one small query), not a join or a
    # subquery: PostgreSQL then walks the name index and stops at a page instead of
    # sorting every service.
    versions = list(checklist.versions.values_list("pk", flat=True))
    return (
        rows.filter(current_review__checklist_version_id__in=versions)
        .select_related("current_review__checklist_version")
        .defer("description")
    )


def heat_map(page_rows: list[Service], checklist: Checklist | None) -> HeatMap:
    """Sections by services for the rows on one page whose current review uses
    ``checklist``: each cell the share of the section's applicable items that are met
    (one aggregate query over their answers, plus one for the sections)."""
    if checklist is None:
        return HeatMap(None, [], [])
    rows = [
        s
        for s in page_rows
        if s.current_review and s.current_review.checklist_version.checklist_id == checklist.pk
    ]
    latest = (
        ChecklistVersion.objects.filter(checklist=checklist, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    )
    sections = list(
        Section.objects.filter(version=latest).order_by("order").values_list("title", flat=True)
    )
    review_ids = [s.current_review_id for s in rows]
    counts: dict[tuple[int, str], tuple[int, int]] = {}
    for found in (
        Answer.objects.filter(review_id__in=review_ids)
        .values("review_id", "item__section__title")
        .annotate(
            applicable=Count("id", filter=~Q(status=AnswerStatus.NOT_APPLICABLE)),
            met=Count("id", filter=Q(status=AnswerStatus.MET)),
        )
        .order_by()
    ):
        counts[(found["review_id"], found["item__section__title"])] = (
            found["met"],
            found["applicable"],
        )
    heat_rows = []
    for service in rows:
        review = service.current_review
        assert review is not None
        cells: list[HeatCell | None] = []
        for title in sections:
            met, applicable = counts.get((review.pk, title), (-1, -1))
            cells.append(
                None
                if applicable < 0
                else HeatCell(
                    title, met, applicable, section_anchor(title), review.get_absolute_url()
                )
            )
        heat_rows.append(HeatRow(service, cells))
    return HeatMap(checklist, sections, heat_rows)


# --- trends ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    date: date
    readiness: float  # average readiness %, 0 to 100
    services: int
    open_must_haves: int


def portfolio_trend(rows: QuerySet[Service], days: int = 90) -> list[TrendPoint]:
    """Average readiness of ``rows``' current reviews each day (one grouped query)."""
    since = timezone.localdate() - timedelta(days=days - 1)
    found = (
        ReadinessSnapshot.objects.filter(
            service__in=rows.order_by().values("pk"),
            review_id=F("service__current_review_id"),
            date__gte=since,
        )
        .values("date")
        .annotate(
            readiness=Avg("readiness_percent"),
            services=Count("service", distinct=True),
            open_must_haves=Sum("open_must_haves"),
        )
        .order_by("date")
    )
    return [
        TrendPoint(f["date"], float(f["readiness"]), f["services"], f["open_must_haves"] or 0)
        for f in found
    ]


def service_trend(service: Service, days: int = 90) -> list[TrendPoint]:
    """Readiness of the service's current review each day."""
    if service.current_review_id is None:
        return []
    since = timezone.localdate() - timedelta(days=days - 1)
    return [
        TrendPoint(s.date, float(s.readiness_percent), 1, s.open_must_haves)
        for s in ReadinessSnapshot.objects.filter(
            review_id=service.current_review_id, date__gte=since
        ).order_by("date")
    ]


# --- one row, as the page and the CSV both show it -------------------------------------------


@dataclass(frozen=True)
class Row:
    """What the portfolio shows for one service (the page and the CSV, the same)."""

    service: Service
    statuses: list[str]
    days_left: int | None

    @property
    def review(self) -> Any:
        return self.service.current_review

    @property
    def days_late(self) -> int:
        return -self.days_left if self.days_left is not None and self.days_left < 0 else 0

    @property
    def status_labels(self) -> list[str]:
        return [STATUSES[key] for key in self.statuses]

    @property
    def awaiting_labels(self) -> list[str]:
        review = self.review
        if review is None or review.state != S.SUBMITTED:
            return []
        return [role_label(role) for role in review.awaiting_role_list]

    def csv(self) -> list[object]:
        review = self.review
        if review is None:
            return [
                self.service.name,
                self.service.team.name,
                "",
                "No review yet",
                *[""] * 9,
                "; ".join(self.status_labels),
            ]
        version = review.checklist_version
        return [
            self.service.name,
            self.service.team.name,
            f"{version.checklist.title} v{version.number}",
            review.get_state_display(),
            review.readiness_percent,
            review.open_must_haves,
            review.failing_checks,
            "; ".join(self.awaiting_labels),
            review.pending_exceptions,
            getattr(self.service, "expiring_exceptions", 0),
            review.target_date.isoformat() if review.target_date else "",
            "" if self.days_left is None else self.days_left,
            review.last_activity_at.isoformat(timespec="seconds")
            if review.last_activity_at
            else "",
            "; ".join(self.status_labels),
        ]


CSV_HEADER = [
    "Service",
    "Team",
    "Checklist",
    "State",
    "Readiness %",
    "Open must-haves",
    "Failing checks",
    "Pending sign-offs",
    "Pending exceptions",
    "Exceptions expiring within 30 days",
    "Target date",
    "Days left",
    "Last activity (UTC)",
    "Status",
]


def row(service: Service, today: date | None = None) -> Row:
    today = today or timezone.localdate()
    review = service.current_review
    days_left = (
        (review.target_date - today).days if review is not None and review.target_date else None
    )
    return Row(service=service, statuses=status_of(service, today), days_left=days_left)
