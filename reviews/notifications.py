"""Who hears about what. Messages go out by email, from a worker, after the commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.accounts.tasks import enqueue_email


def send(
    subject: str, template: str, context: dict[str, Any], to: Iterable[str], *, link: str
) -> None:
    """Email ``to``; ``link`` (from absolute_url) is the page the message is about, which
    every message offers (the template shows it as ``{{ link }}``)."""
    recipients = sorted({address for address in to if address})
    if not recipients:
        return
    body = render_to_string(f"reviews/email/{template}.txt", {**context, "link": link})
    message = EmailMessage(
        subject=f"[Preflight] {subject}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    enqueue_email(message)


def absolute_url(path: str) -> str:
    """A full link for an email: SITE_URL joined with a path from reverse() or
    get_absolute_url() (emails go out from workers, where there is no request to ask)."""
    if not path.startswith("/"):
        raise ValueError(f"An absolute path is needed, not {path!r}")
    return f"{settings.SITE_URL}{path}"


def answer_url(answer: Any) -> str:
    """An item of a review: the review's page, opened at that item."""
    return absolute_url(f"{reverse('reviews:review', args=[answer.review_id])}#answer-{answer.pk}")


def team_emails(review: Any) -> list[str]:
    return list(review.service.team.members.filter(is_active=True).values_list("email", flat=True))


def role_emails(roles: Iterable[str]) -> list[str]:
    names = [Role(role).group_name for role in roles if role in Role.values]
    return list(
        User.objects.filter(is_active=True, groups__name__in=names)
        .distinct()
        .values_list("email", flat=True)
    )


def review_submitted(review: Any) -> None:
    send(
        f"Review submitted: {review.service.name}",
        "submitted",
        {"review": review},
        role_emails(review.checklist_version.required_signoff_roles),
        link=absolute_url(review.get_absolute_url()),
    )


def review_decided(review: Any, signoff: Any) -> None:
    send(
        f"{review.get_state_display()}: {review.service.name}",
        "decided",
        {"review": review, "signoff": signoff},
        team_emails(review),
        link=absolute_url(review.get_absolute_url()),
    )


def waiver_event(waiver: Any, event: str, days_left: int | None = None) -> None:
    requester = waiver.requested_by
    send(
        f"Exception {event}: {waiver.answer.review.service.name}",
        "waiver",
        {"waiver": waiver, "event": event, "days_left": days_left},
        [requester.email] if requester is not None else [],
        link=answer_url(waiver.answer),
    )
