"""Reads of launch audits and journal notes, each with what its page shows loaded at once."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from checklists.models import Item
from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.permissions import can
from reviews.models import Answer, AuditDecision, AuditSession, JournalNote, Review, Service

# How many journal notes the service and review pages show; the journal page has them all.
RECENT_NOTES = 5


def session_for_page(pk: int) -> AuditSession:
    """A launch audit with its review, its people and its decisions (4 queries).
    Raises AuditSession.DoesNotExist."""
    return (
        AuditSession.objects.select_related(
            "review__service__team", "review__checklist_version__checklist", "recorded_by"
        )
        .prefetch_related(
            Prefetch("attendees", queryset=User.objects.order_by("first_name", "email")),
            Prefetch(
                "decisions",
                queryset=AuditDecision.objects.select_related("item__section").order_by(
                    "created_at", "id"
                ),
            ),
        )
        .get(pk=pk)
    )


def sessions_of(review: Review) -> QuerySet[AuditSession]:
    """A review's launch audits, latest held first, with who recorded them."""
    return review.audit_sessions.select_related("recorded_by").order_by("-held_at", "-id")


def answer_anchors(session: AuditSession) -> dict[int, int]:
    """For each item a decision concerns, the id of the review's answer to it (the anchor
    on the review page), in one query."""
    item_ids = {d.item_id for d in session.decisions.all() if d.item_id}
    if not item_ids:
        return {}
    return dict(
        Answer.objects.filter(review_id=session.review_id, item_id__in=item_ids).values_list(
            "item_id", "pk"
        )
    )


def review_items(review: Review) -> QuerySet[Item]:
    """The items a decision about ``review`` may concern: its own checklist version's."""
    return Item.objects.filter(version_id=review.checklist_version_id).select_related("section")


def attendee_choices(service: Service) -> QuerySet[User]:
    """The people with accounts who may have attended a launch audit of ``service``:
    reviewers, managers and auditors, and the service's team (one query)."""
    roles = [Role.SECURITY_REVIEWER.group_name, Role.MANAGER.group_name, Role.AUDITOR.group_name]
    return (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name__in=roles) | Q(teams=service.team_id))
        .distinct()
        .order_by("first_name", "last_name", "email")
    )


def journal_of(service: Service, review: Review | None = None) -> QuerySet[JournalNote]:
    """A service's journal (or one review's part of it), newest first, with its authors."""
    notes = JournalNote.objects.filter(service=service)
    if review is not None:
        notes = notes.filter(review=review)
    return notes.select_related("author", "review__checklist_version__checklist").order_by(
        "-created_at", "-id"
    )


def review_page_context(user: Any, review: Review) -> dict[str, Any]:
    """What the review page shows of launch audits and the journal, and what ``user`` may
    do there (2 queries)."""
    return {
        "launch_audits": list(sessions_of(review)),
        "can_record_audit": can(user, "reviews.record_audit", review),
        "journal_notes": list(journal_of(review.service, review)[:RECENT_NOTES]),
        "can_write_journal": can(user, "reviews.write_journal", review),
    }


def service_page_context(user: Any, service: Service) -> dict[str, Any]:
    """What the service page shows of its journal, and whether ``user`` may write in it."""
    return {
        "journal_notes": list(journal_of(service)[:RECENT_NOTES]),
        "can_write_journal": can(user, "reviews.write_journal", service),
    }
