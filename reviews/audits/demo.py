"""The demo's launch audit (``make demo``; never run in production): the approved Benefits
API review was audited in person, with three decisions and two journal notes, so the
auditor finds a recorded audit, and its as-of view, at the first sign-in."""

from __future__ import annotations

from django.utils import timezone

from portal.accounts.models import User
from reviews.audits import services
from reviews.models import AnswerStatus, AuditSession, DecisionOutcome, Service

DEMO_AUDITED = "benefits-api"  # the slug of the service whose review was audited
DEMO_AUDIT_TITLE = "Launch audit: Benefits API"


def demo_launch_audit() -> AuditSession | None:
    """Record the demo's launch audit and journal notes, once. None when the demo
    service or its review is missing."""
    service = Service.objects.filter(slug=DEMO_AUDITED).first()
    review = service.reviews.order_by("created_at").first() if service else None
    if service is None or review is None:
        return None
    found = review.audit_sessions.first()
    if found is not None:
        return found
    people = {u.email: u for u in User.objects.filter(email__endswith="@example.com")}
    security = people["security@example.com"]
    lead = people["lead@example.com"]
    answers = list(
        review.answers.select_related("item").order_by("item__section__order", "item__order")
    )
    excepted = next((a for a in answers if a.status == AnswerStatus.NOT_MET), answers[0])
    other = next(a for a in answers if a.pk != excepted.pk)
    # The record as it stands now: everything the demo just made is in the audit's view.
    now = timezone.now()
    session = services.audit_session_record(
        review=review,
        by=security,
        details=services.SessionDetails(
            title=DEMO_AUDIT_TITLE,
            held_at=now,
            as_of=now,
            attendees=tuple(
                people[email]
                for email in (
                    "security@example.com",
                    "manager@example.com",
                    "auditor@example.com",
                    "lead@example.com",
                )
                if email in people
            ),
            other_attendees="Dana Lee, service owner (Benefits agency)",
            minutes=(
                "Walked through the approved review on the wall, as of the start of the "
                "meeting.\n\n"
                f"The one open must-have ({excepted.item.text}) is under a 60-day exception; "
                "the team showed the weekly manual check in the runbook.\n\n"
                "No objection to the launch."
            ),
        ),
        decisions=[
            services.DecisionInput(
                outcome=DecisionOutcome.ACCEPTED,
                text="Accepted under the 60-day exception: the managed service must land "
                "before it expires.",
                item=excepted.item,
            ),
            services.DecisionInput(
                outcome=DecisionOutcome.ACTION,
                text="Run a restore test in staging and attach the report to this item.",
                item=other.item,
            ),
            services.DecisionInput(
                outcome=DecisionOutcome.NOTED,
                text="The team presents the restore test at the next audit.",
            ),
        ],
    )
    services.journal_note_add(
        service=service,
        by=lead,
        body="Launch moved to next Tuesday, after the audit.",
    )
    services.journal_note_add(
        service=service,
        review=review,
        by=security,
        body="Restore test booked for Thursday; the report goes on the item when it is done.",
    )
    return session
