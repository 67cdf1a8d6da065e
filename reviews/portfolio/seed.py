"""Seeded portfolios for benchmarks and scale tests (`manage.py seed_portfolio`).

Makes N services, each with a review of a seeded checklist of M items answered in a
repeatable pseudo-random way, in every state, with stored summaries that agree with the
answers, and D days of readiness snapshots. Rows are written in bulk: seeded data has no
history (it never happened), and writing it through the services would take hours at
5,000 services. Running it again with a larger N adds the missing services only.

For the page benchmarks there are also people to read it as (a manager, a security
reviewer, a product lead of the seeded teams) and single reviews answered through the
services, as people would answer them (``seed_answered_review``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from checklists.models import ChecklistVersion, Item
from checklists.parsers import parse_file
from checklists.services import checklist_import
from portal.accounts import services as accounts
from portal.accounts.models import Team, User
from portal.accounts.roles import Role
from reviews import evidence, services
from reviews.demo_answers import Given
from reviews.models import (
    Answer,
    AnswerStatus,
    EvidenceKind,
    Hosting,
    ImpactLevel,
    ReadinessSnapshot,
    Review,
    ReviewState,
    Service,
)
from reviews.portfolio.cache import bump
from reviews.portfolio.snapshots import climb

PREFIX = "seed"
SECTION_SIZE = 8
STATES = [
    ReviewState.DRAFT,
    ReviewState.DRAFT,
    ReviewState.SUBMITTED,
    ReviewState.CHANGES_REQUESTED,
    ReviewState.APPROVED,
]
A = AnswerStatus


@dataclass(frozen=True)
class Seeded:
    services: int  # made by this run
    total: int  # seeded services in all
    answers: int
    snapshots: int


def seed_checklist(
    items: int, *, section_size: int = SECTION_SIZE, checks_every: int = 0
) -> ChecklistVersion:
    """A published checklist of ``items`` items in sections of ``section_size``, every
    fourth a must-have, and with ``checks_every``, every so many items bound to the HTTP
    health check (imported like any checklist, so it is a real one)."""
    slug = f"{PREFIX}-{items}"
    if (section_size, checks_every) != (SECTION_SIZE, 0):
        slug += f"-s{section_size}-c{checks_every}"
    lines = ["---", f"title: Seeded checklist ({items} items)", f"slug: {slug}"]
    bound = [n for n in range(items) if checks_every and n % checks_every == 1]
    if bound:
        lines.append("checks:")
        lines.extend(f"  seeded-item-{n + 1}: [http.health]" for n in bound)
    lines.append("---")
    for n in range(items):
        if n % section_size == 0:
            lines.append(f"## Section {n // section_size + 1}")
        text = f"Seeded item {n + 1} is in place"
        text = f"**{text}**" if n % 4 == 0 else text
        lines.append(f"- {text} {{#seeded-item-{n + 1}}}" if n in bound else f"- {text}")
    result = checklist_import(
        parsed=parse_file("seed.md", "\n".join(lines).encode()).checklist, by=None, publish=True
    )
    return result.version


def _teams(count: int) -> list[Team]:
    teams = []
    for n in range(count):
        team, _ = Team.objects.get_or_create(
            slug=f"{PREFIX}-team-{n + 1}", defaults={"name": f"Seed team {n + 1}"}
        )
        teams.append(team)
    return teams


def seed_portfolio(*, services: int, items: int, days: int = 90, teams: int = 10) -> Seeded:
    """Make sure ``services`` seeded services exist, each with a review of the seeded
    checklist of ``items`` items and ``days`` days of snapshots."""
    version = seed_checklist(items)
    version_items = list(Item.objects.filter(version=version).order_by("section__order", "order"))
    seeded_teams = _teams(teams)
    existing = Service.objects.filter(slug__startswith=f"{PREFIX}-service-").count()
    wanted = range(existing, services)
    made_answers = made_snapshots = 0
    today = timezone.localdate()
    now = timezone.now()
    for start in range(existing, services, 500):
        batch = [n for n in wanted if start <= n < start + 500]
        with transaction.atomic():
            made = Service.objects.bulk_create(
                Service(
                    name=f"Seed service {n + 1:05d}",
                    slug=f"{PREFIX}-service-{n + 1:05d}",
                    team=seeded_teams[n % len(seeded_teams)],
                    hosting=list(Hosting)[n % len(Hosting)],
                    impact_level=list(ImpactLevel)[n % len(ImpactLevel)],
                    environments="staging, production",
                )
                for n in batch
            )
            # The same seeded portfolio every time: each service's own random numbers.
            pairs = [
                _review(random.Random(n), service, version, version_items, n, now)  # noqa: S311
                for n, service in zip(batch, made, strict=True)
            ]
            reviews = Review.objects.bulk_create([review for review, _ in pairs])
            answers = []
            for review, (_, review_answers) in zip(reviews, pairs, strict=True):
                for answer in review_answers:
                    answer.review = review
                answers.extend(review_answers)
            Answer.objects.bulk_create(answers, batch_size=5000)
            made_answers += len(answers)
            for service, review in zip(made, reviews, strict=True):
                service.current_review = review
            # Seeded rows have no history: written straight, as everything else here.
            Service.objects.bulk_update(made, ["current_review"])
            snapshots = [
                climb(review, today - timedelta(days=back), back, days)
                for review in reviews
                for back in range(days)
            ]
            ReadinessSnapshot.objects.bulk_create(snapshots, batch_size=5000)
            made_snapshots += len(snapshots)
    _analyze()
    bump()  # bulk rows have no history to bump the portfolio's cache
    return Seeded(
        services=len(wanted),
        total=max(existing, services),
        answers=made_answers,
        snapshots=made_snapshots,
    )


def _review(
    rng: random.Random,
    service: Service,
    version: ChecklistVersion,
    items: list[Item],
    n: int,
    now: datetime,
) -> tuple[Review, list[Answer]]:
    state = STATES[n % len(STATES)]
    progress = {
        ReviewState.DRAFT: rng.random() * 0.7,
        ReviewState.SUBMITTED: 0.85 + rng.random() * 0.15,
        ReviewState.CHANGES_REQUESTED: 0.6 + rng.random() * 0.3,
        ReviewState.APPROVED: 1.0,
    }[state]
    answers = []
    for item in items:
        roll = rng.random()
        if state == ReviewState.APPROVED:
            status = A.NOT_APPLICABLE if roll < 0.05 and not item.must_have else A.MET
        elif roll < progress:
            status = A.MET
        elif roll < progress + 0.1:
            status = A.NOT_MET if rng.random() < 0.5 else A.PARTIALLY_MET
        else:
            status = A.NOT_STARTED
        justification = "Seeded." if status != A.MET and status != A.NOT_STARTED else ""
        answers.append(Answer(item=item, status=status, justification=justification))
    applicable = [a for a in answers if a.status != A.NOT_APPLICABLE]
    met = sum(1 for a in answers if a.status == A.MET)
    must = [a for a in applicable if a.item.must_have]
    must_done = sum(1 for a in must if a.status == A.MET)
    awaiting = ["security_reviewer"] if state == ReviewState.SUBMITTED else []
    review = Review(
        service=service,
        checklist_version=version,
        state=state,
        target_date=now.date() + timedelta(days=rng.randint(-30, 120)),
        item_count=len(answers),
        applicable_count=len(applicable),
        met_count=met,
        readiness_percent=met * 100 // len(applicable) if applicable else 0,
        must_have_count=len(must),
        must_haves_done=must_done,
        open_must_haves=len(must) - must_done,
        not_started_count=sum(1 for a in answers if a.status == A.NOT_STARTED),
        failing_checks=rng.choice([0, 0, 0, 1, 2]),
        pending_exceptions=rng.choice([0, 0, 0, 0, 1]),
        awaiting_roles=f",{','.join(awaiting)}," if awaiting else "",
        pending_signoffs=len(awaiting),
        last_activity_at=now - timedelta(hours=rng.randint(0, 24 * 60)),
        # Waiting from minutes to a month (the queue says how long, oldest first).
        submitted_at=(
            now - timedelta(minutes=rng.randint(5, 30 * 24 * 60))
            if state != ReviewState.DRAFT
            else None
        ),
    )
    return review, answers


def _analyze() -> None:
    """After a bulk load, give PostgreSQL's planner the new row counts at once (autovacuum
    would, later) so the benchmarks measure the plans a live database has."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Service, Review, Answer, ReadinessSnapshot):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


def seed_person(email: str, role: Role, teams: list[Team] | None = None) -> User:
    """Someone holding ``role`` (and a member of ``teams``) to read seeded pages as."""
    user, created = User.objects.get_or_create(email=email)
    if created:
        user.set_unusable_password()
        user.save()
    accounts.user_set_roles(user=user, roles={role}, reason="Seeded benchmark reader")
    for team in teams or []:
        accounts.team_add_members(team=team, users=[user])
    return user


def seed_reader(email: str = "seed-manager@example.com") -> User:
    """A manager to read the seeded portfolio as (for benchmarks)."""
    return seed_person(email, Role.MANAGER)


def seed_reviewer(email: str = "seed-security@example.com") -> User:
    """A security reviewer: every seeded submitted review waits on them."""
    return seed_person(email, Role.SECURITY_REVIEWER)


def seed_lead(email: str = "seed-lead@example.com", teams: int = 10) -> User:
    """A product lead of the first ``teams`` seeded teams: *My services* lists theirs."""
    return seed_person(email, Role.PRODUCT_LEAD, _teams(teams))


def seed_answered_review(
    version: ChecklistVersion, *, slug: str, lead: User, answers: Callable[[Item], Given | None]
) -> Review:
    """A service of its own seeded team, led by ``lead``, with a review of ``version``
    started and answered through the services as a lead would (each answer, and each
    note of evidence, recorded): ``answers`` says what to answer to an item (None: leave
    it). A service that exists already is returned as it is."""
    existing = Review.objects.filter(service__slug=f"{PREFIX}-{slug}").first()
    if existing is not None:
        return existing
    team, _ = Team.objects.get_or_create(
        slug=f"{PREFIX}-{slug}", defaults={"name": f"Seed team for {slug}"}
    )
    accounts.team_add_members(team=team, users=[lead])
    service = services.service_create(
        by=lead,
        name=f"Seed {slug.replace('-', ' ')}",
        slug=f"{PREFIX}-{slug}",
        team=team,
        hosting=Hosting.OTHER,
        impact_level=ImpactLevel.MODERATE,
        environments="staging, production",
    )
    review = services.review_start(service=service, checklist_version=version, by=lead)
    today = timezone.localdate()
    for answer in review.answers.select_related("item__section").order_by(
        "item__section__order", "item__order"
    ):
        given = answers(answer.item)
        if given is None:
            continue
        met = given.status == A.MET
        answer = services.answer_update(
            answer=answer,
            change=services.AnswerChange(
                given.status, "" if met else given.why, given.why if met else "", lead
            ),
            based_on_revision=answer.revision,
            by=lead,
        )
        if given.evidence:
            evidence.evidence_add(
                answer=answer, by=lead, kind=EvidenceKind.NOTE, note=given.evidence,
                effective_date=today,
            )  # fmt: skip
    review.refresh_from_db()
    return review


def generated_answer(item: Item) -> Given | None:
    """A repeatable spread of answers for a generated checklist: mostly met (every third
    met one with a note of evidence), some not met or partly met, a few not applicable,
    the rest not started."""
    n = item.order + item.section.order * 1000
    roll = random.Random(n).random()  # noqa: S311 (repeatable, not secret)
    if roll < 0.6:
        return Given(A.MET, "Seeded.", "Seeded evidence." if n % 3 == 0 else "")
    if roll < 0.7:
        return Given(A.NOT_MET if n % 2 else A.PARTIALLY_MET, "Seeded: not yet.")
    if roll < 0.75 and not item.must_have:
        return Given(A.NOT_APPLICABLE, "Seeded: does not apply.")
    return None
