"""Demo services and reviews for `make demo` (never run in production)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from checklists.models import ChecklistVersion, VersionStatus
from portal.accounts.models import Team, User
from reviews import evidence, services, signoffs, waivers
from reviews.models import (
    AnswerStatus,
    EvidenceKind,
    Hosting,
    ImpactLevel,
    Review,
    ReviewKind,
    ReviewState,
    Service,
)

# Answers given in the Preflight self-review, by item reference id.
PREFLIGHT_ANSWERS = {
    "can-push-a-new-version-with-a-single-command": (AnswerStatus.MET, "", "`make stack`"),
    "pin-dependencies": (AnswerStatus.MET, "", "uv.lock and package-lock.json are committed."),
    "secrets-are-retrieved-securely-eg-via-credential-service-rat": (
        AnswerStatus.MET,
        "",
        "Every secret can be read from a *_FILE path.",
    ),
    "redirect-http-to-https": (AnswerStatus.MET, "", "SECURE_SSL_REDIRECT in production."),
    "logs-are-captured-to-durable-storage-before-rotation": (
        AnswerStatus.PARTIALLY_MET,
        "JSON logs go to stdout; shipping them is the platform's job and not yet set up.",
        "",
    ),
    "a-b-cohorts-affinity-supported": (AnswerStatus.NOT_APPLICABLE, "No A/B testing.", ""),
}


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
                    health_check_url="http://127.0.0.1:8000/readyz"
                    if demo.slug == "preflight"
                    else "",
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
            if demo.slug == "preflight":
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
    return made


def _answer_preflight(review: Review, by: User) -> None:
    for answer in review.answers.select_related("item"):
        given = PREFLIGHT_ANSWERS.get(answer.item.ref)
        if given is not None:
            status, justification, notes = given
            services.answer_update(
                answer=answer,
                change=services.AnswerChange(status, justification, notes, by),
                based_on_revision=answer.revision,
                by=by,
            )


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
