"""Demo services and reviews for `make demo` (never run in production)."""

from __future__ import annotations

from django.db import transaction

from checklists.models import ChecklistVersion, VersionStatus
from portal.accounts.models import Team, User
from reviews import services
from reviews.models import AnswerStatus, Hosting, ImpactLevel, ReviewKind, ReviewState, Service

# Answers given in the Preflight self-review, by item reference id.
PREFLIGHT_ANSWERS = {
    "can-push-a-new-version-with-a-single-command": (
        AnswerStatus.MET,
        "",
        "`make stack` / compose",
    ),
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


def _latest(slug: str) -> ChecklistVersion:
    return (
        ChecklistVersion.objects.filter(checklist__slug=slug, status=VersionStatus.PUBLISHED)
        .order_by("-number")
        .first()
    ) or _missing(slug)


def _missing(slug: str) -> ChecklistVersion:
    raise LookupError(f"Load the built-in checklists first ({slug} is missing).")


def demo_reviews() -> list[Service]:
    """A few services with reviews in different states. Safe to run again."""
    lead = User.objects.get(email="lead@example.com")
    lead2 = User.objects.get(email="lead2@example.com")
    benefits = Team.objects.get(slug="benefits")
    permits = Team.objects.get(slug="permits")
    made: list[Service] = []
    with transaction.atomic():
        for slug, name, team, by, hosting, checklist, state in (
            (
                "preflight",
                "Preflight",
                benefits,
                lead,
                Hosting.OTHER,
                "18f-good-production-practices",
                ReviewState.DRAFT,
            ),
            (
                "benefits-portal",
                "Benefits portal",
                benefits,
                lead,
                Hosting.AWS,
                "hackney-production-deployment",
                ReviewState.SUBMITTED,
            ),
            (
                "permit-finder",
                "Permit finder",
                permits,
                lead2,
                Hosting.CLOUD_GOV,
                "18f-logging-requirements",
                ReviewState.DRAFT,
            ),
        ):
            service = Service.objects.filter(slug=slug).first()
            if service is None:
                service = services.service_create(
                    by=by,
                    name=name,
                    slug=slug,
                    team=team,
                    hosting=hosting,
                    impact_level=ImpactLevel.MODERATE,
                    environments="staging, production",
                    health_check_url="http://127.0.0.1:8000/readyz" if slug == "preflight" else "",
                )
            made.append(service)
            if service.reviews.exists():
                continue
            review = services.review_start(
                service=service, checklist_version=_latest(checklist), kind=ReviewKind.LAUNCH, by=by
            )
            if slug == "preflight":
                for answer in review.answers.select_related("item"):
                    given = PREFLIGHT_ANSWERS.get(answer.item.ref)
                    if given is None:
                        continue
                    status, justification, notes = given
                    services.answer_update(
                        answer=answer,
                        change=services.AnswerChange(status, justification, notes, by),
                        based_on_revision=answer.revision,
                        by=by,
                    )
            if state == ReviewState.SUBMITTED:
                for answer in review.answers.select_related("item"):
                    services.answer_update(
                        answer=answer,
                        change=services.AnswerChange(AnswerStatus.MET, "", "", by),
                        based_on_revision=answer.revision,
                        by=by,
                    )
                services.review_transition(review=review, action="submit", by=by)
    return made
