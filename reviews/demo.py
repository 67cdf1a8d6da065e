"""Demo services and reviews for `make demo` (never run in production).

Besides the services and their reviews, the demo proves itself: Preflight's own service
points at the running demo and at this clone's repository (``preflight_point_at``), and
``demo_evidence`` sweeps every service once and pushes one CI result through the API, so
the first sign-in already shows automated results. The approved Benefits API review has
a recorded launch audit (``reviews.audits.demo``). Preflight's own answers to the 18F
checklist are in ``reviews.demo_answers``.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from math import ceil
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checklists.models import ChecklistVersion, VersionStatus
from portal.accounts.models import Team, User
from reviews import evidence, services, signoffs, waivers
from reviews.audits.demo import demo_launch_audit
from reviews.checks import services as check_services
from reviews.checks.tasks import sweep
from reviews.demo_answers import PREFLIGHT_ANSWERS
from reviews.models import (
    AnswerStatus,
    CheckResult,
    CheckRun,
    EvidenceKind,
    Hosting,
    ImpactLevel,
    Review,
    ReviewKind,
    ReviewState,
    Service,
)
from reviews.portfolio import snapshots

PREFLIGHT = "preflight"  # the slug of Preflight's own demo service
# The CI token the demo pushes with; each run of the demo revokes the last one.
DEMO_TOKEN_NAME = "make demo"  # noqa: S105 (a label, not a secret)
# What the demo's pipeline pushes: no item of the 18F checklist binds a ci. check, so it
# shows on the service page, not beside an answer.
DEMO_PUSHED_CHECK = "ci.load_test"


@dataclass(frozen=True)
class DemoService:
    slug: str
    name: str
    team: str
    lead: str
    hosting: str
    checklist: str
    state: str


DEMO_SERVICES = (
    DemoService("preflight", "Preflight", "benefits", "lead@example.com", Hosting.OTHER,
                "18f-good-production-practices", ReviewState.DRAFT),
    DemoService("benefits-portal", "Benefits portal", "benefits", "lead@example.com", Hosting.AWS,
                "hackney-production-deployment", ReviewState.SUBMITTED),
    DemoService("benefits-api", "Benefits API", "benefits", "lead@example.com", Hosting.CLOUD_GOV,
                "hackney-production-deployment", ReviewState.APPROVED),
    DemoService("permit-finder", "Permit finder", "permits", "lead2@example.com", Hosting.CLOUD_GOV,
                "18f-logging-requirements", ReviewState.DRAFT),
    DemoService("permit-payments", "Permit payments", "permits", "lead2@example.com", Hosting.AWS,
                "production-readiness", ReviewState.CHANGES_REQUESTED),
)  # fmt: skip


def _latest(slug: str) -> ChecklistVersion:
    version: ChecklistVersion | None = (
        ChecklistVersion.objects.filter(checklist__slug=slug, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    )
    if version is None:
        raise LookupError(f"Load the built-in checklists first ({slug} is missing).")
    return version


def demo_reviews() -> list[Service]:
    """Services with reviews in every state. Services that exist are left alone."""
    security = User.objects.get(email="security@example.com")
    made: list[Service] = []
    with transaction.atomic():
        for demo in DEMO_SERVICES:
            by = User.objects.get(email=demo.lead)
            service = Service.objects.filter(slug=demo.slug).first()
            if service is None:
                service = services.service_create(
                    by=by,
                    name=demo.name,
                    slug=demo.slug,
                    team=Team.objects.get(slug=demo.team),
                    hosting=demo.hosting,
                    impact_level=ImpactLevel.MODERATE,
                    environments="staging, production",
                )
            made.append(service)
            if service.reviews.exists():
                continue
            review = services.review_start(
                service=service,
                checklist_version=_latest(demo.checklist),
                kind=ReviewKind.LAUNCH,
                by=by,
            )
            if demo.slug == PREFLIGHT:
                _answer_preflight(review, by)
            if demo.state == ReviewState.DRAFT:
                continue
            _answer_everything(review, by, security)
            services.review_transition(review=review, action="submit", by=by)
            if demo.state == ReviewState.CHANGES_REQUESTED:
                signoffs.signoff_record(
                    review=Review.objects.get(pk=review.pk),
                    by=security,
                    role="security_reviewer",
                    decision="request_changes",
                    comment="Please attach the restore test report before launch.",
                )
            elif demo.state == ReviewState.APPROVED:
                signoffs.signoff_record(
                    review=Review.objects.get(pk=review.pk),
                    by=security,
                    role="security_reviewer",
                    decision="approve",
                    comment="Good to launch.",
                )
        demo_launch_audit()
    return made


def _answer_preflight(review: Review, by: User) -> None:
    """Preflight's own answers (``reviews.demo_answers``), each met one with its evidence."""
    today = timezone.localdate()
    for answer in review.answers.select_related("item"):
        given = PREFLIGHT_ANSWERS.get(answer.item.ref)
        if given is None:
            continue
        met = given.status == AnswerStatus.MET
        answer = services.answer_update(
            answer=answer,
            change=services.AnswerChange(
                given.status, "" if met else given.why, given.why if met else "", by
            ),
            based_on_revision=answer.revision,
            by=by,
        )
        if given.evidence:
            evidence.evidence_add(
                answer=answer,
                by=by,
                kind=EvidenceKind.NOTE,
                note=given.evidence,
                effective_date=today,
            )


def preflight_point_at(base_url: str) -> Service | None:
    """Point Preflight's own service at the demo served at ``base_url`` (health check and
    public URL) and at this clone's repository. Run again on another port, it moves them;
    when nothing changes it saves nothing. None when the demo services were not made."""
    service = Service.objects.filter(slug=PREFLIGHT).first()
    if service is None:
        return None
    wanted = {
        "health_check_url": urljoin(base_url, "readyz"),
        "public_url": base_url,
        "repository_url": Path(settings.BASE_DIR).as_uri(),
    }
    if all(getattr(service, name) == value for name, value in wanted.items()):
        return service
    for name, value in wanted.items():
        setattr(service, name, value)
    # The demo reads its own clone over file://, which git may use (and the field accept)
    # only because `make demo` adds it to CHECK_GIT_PROTOCOLS.
    service.full_clean()
    service._change_reason = f"Demo served at {base_url}"  # type: ignore[attr-defined]
    with transaction.atomic():
        service.save()
    return service


@dataclass(frozen=True)
class DemoEvidence:
    """What ``demo_evidence`` produced: the sweep's run and the pushed result."""

    run: CheckRun
    pushed: CheckResult


def demo_history(days: int = 90) -> int:
    """The demo services' readiness over the last ``days``: made up once (a climb to
    where each review stands), then today's real snapshot, so the trend charts have a
    shape at the first sign-in. Returns how many snapshots were made up."""
    slugs = [demo.slug for demo in DEMO_SERVICES]
    current = [
        s.current_review
        for s in Service.objects.filter(slug__in=slugs).select_related("current_review")
        if s.current_review is not None
    ]
    made = snapshots.backfill(current, days=days)
    snapshots.snapshots_take()
    return made


def demo_evidence(*, base_url: str) -> DemoEvidence:
    """Sweep every demo service once, then push one CI result for Preflight.

    The portal must be answering at ``base_url``: Preflight's HTTP checks call it, and the
    push goes to its API over HTTP with a new CI token, as a pipeline's would. Tasks must
    run in-process (no broker), so the sweep is over when this returns.
    """
    run = CheckRun.objects.get(pk=sweep.delay().get())
    service = Service.objects.get(slug=PREFLIGHT)
    lead = User.objects.get(email=next(d.lead for d in DEMO_SERVICES if d.slug == PREFLIGHT))
    for earlier in service.tokens.filter(name=DEMO_TOKEN_NAME, revoked_at__isnull=True):
        check_services.token_revoke(service=service, token=earlier, by=lead)
    _token, plain = check_services.token_create(service=service, name=DEMO_TOKEN_NAME, by=lead)
    observed = _load_test(urljoin(base_url, "accounts/login/"))
    passed = observed["failures"] == 0 and observed["p95_ms"] <= 1000
    response = httpx.post(
        urljoin(base_url, "api/v1/evidence"),
        headers={"Authorization": f"Bearer {plain}"},
        json={
            "check": DEMO_PUSHED_CHECK,
            "result": "pass" if passed else "fail",
            "summary": (
                f"Pushed by make demo: {observed['requests']} GET {observed['path']}, "
                f"{observed['at_once']} at a time, {observed['failures']} failed, "
                f"95th percentile {observed['p95_ms']} ms (limit 1000 ms)."
            ),
            "observed": observed,
            "idempotency_key": f"make-demo-sweep-{run.pk}",
            "fresh_for_days": 1,
        },
        timeout=10,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(
            f"The push API refused the demo's push: {response.status_code} {response.text}"
        )
    return DemoEvidence(run, CheckResult.objects.get(pk=response.json()["id"]))


def _load_test(url: str, *, requests: int = 20, at_once: int = 4) -> dict[str, Any]:
    """A pipeline's load-test step in miniature: ``requests`` GETs of ``url``, ``at_once``
    at a time; how many failed and how long they took."""

    def one(client: httpx.Client) -> tuple[bool, float]:
        started = time.monotonic()
        try:
            ok = client.get(url).status_code == 200
        except httpx.HTTPError:
            ok = False
        return ok, (time.monotonic() - started) * 1000

    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(at_once) as pool:
        outcomes = list(pool.map(lambda _: one(client), range(requests)))
    times = sorted(ms for _, ms in outcomes)
    return {
        "path": urlsplit(url).path,
        "requests": requests,
        "at_once": at_once,
        "failures": sum(1 for ok, _ in outcomes if not ok),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[ceil(0.95 * len(times)) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


def _answer_everything(review: Review, by: User, security: User) -> None:
    """Every item met with a note as evidence, but one must-have under an exception."""
    today = timezone.localdate()
    excepted = False
    for answer in review.answers.select_related("item").order_by(
        "item__section__order", "item__order"
    ):
        if answer.item.must_have and not excepted:
            excepted = True
            answer = services.answer_update(
                answer=answer,
                change=services.AnswerChange(
                    AnswerStatus.NOT_MET, "The managed service lands next quarter.", "", by
                ),
                based_on_revision=answer.revision,
                by=by,
            )
            waiver = waivers.waiver_request(
                answer=answer,
                by=by,
                rationale="Low-risk internal launch while the managed service is procured.",
                compensating_controls="Weekly manual check, documented in the runbook.",
                expires_on=today + timedelta(days=60),
            )
            waivers.waiver_decide(waiver=waiver, by=security, approve=True, comment="60 days.")
            continue
        answer = services.answer_update(
            answer=answer,
            change=services.AnswerChange(AnswerStatus.MET, "", "", by),
            based_on_revision=answer.revision,
            by=by,
        )
        evidence.evidence_add(
            answer=answer,
            by=by,
            kind=EvidenceKind.NOTE,
            note="Checked in the staging environment.",
            effective_date=today,
        )
