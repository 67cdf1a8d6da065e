"""Where each reviews record belongs in the shared record (``portal.audit.registry``):
its service is the root and its review the branch, so an answer's change shows on the
answer's, the review's and the service's timeline."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from portal.audit.registry import key, register
from reviews.models import (
    Answer,
    AuditDecision,
    AuditSession,
    Comment,
    Evidence,
    JournalNote,
    PlatformConnection,
    Review,
    Service,
    ServiceToken,
    SignOff,
    Waiver,
)


def _service(service_id: Any) -> str | None:
    return key("reviews.service", service_id) if service_id else None


def _review(review_id: Any) -> str | None:
    return key("reviews.review", review_id) if review_id else None


def _through(model: Any, attname: str, part: int) -> Any:
    """The review (``part`` 0) or the service (1) of a record that belongs to them
    through ``model`` (an answer, a launch audit): one query per record, remembered on
    it, as its root and branch are both asked for."""

    def scope(instance: Any) -> str | None:
        found = instance.__dict__.get("_record_scope")
        if found is None:
            parent = model.objects.filter(pk=getattr(instance, attname))
            found = parent.values_list("review_id", "review__service_id").first() or (None, None)
            instance.__dict__["_record_scope"] = found
        review_id, service_id = found
        return _review(review_id) if part == 0 else _service(service_id)

    return scope


def _review_service(instance: Any) -> str | None:
    review = instance.review if "review" in instance._state.fields_cache else None
    if review is None:
        service_id = (
            Review.objects.filter(pk=instance.review_id)
            .values_list("service_id", flat=True)
            .first()
        )
    else:
        service_id = review.service_id
    return _service(service_id)


def register_all() -> None:
    # Whoever may read a service reads the lines rooted at it (portal.permissions).
    register(Service, root=lambda s: _service(s.pk), reads="reviews.view_service")
    register(Review, root=lambda r: _service(r.service_id), branch=lambda r: _review(r.pk))
    register(
        Answer,
        root=_review_service,
        branch=lambda a: _review(a.review_id),
        url=lambda a: f"{reverse('reviews:review', args=[a.review_id])}#answer-{a.pk}",
    )
    register(SignOff, root=_review_service, branch=lambda s: _review(s.review_id))
    for model in (Evidence, Comment, Waiver):
        register(
            model, root=_through(Answer, "answer_id", 1), branch=_through(Answer, "answer_id", 0)
        )
    register(AuditSession, root=_review_service, branch=lambda s: _review(s.review_id))
    register(
        AuditDecision,
        root=_through(AuditSession, "session_id", 1),
        branch=_through(AuditSession, "session_id", 0),
    )
    register(
        JournalNote, root=lambda n: _service(n.service_id), branch=lambda n: _review(n.review_id)
    )
    register(ServiceToken, root=lambda t: _service(t.service_id))
    register(
        PlatformConnection, root=lambda c: key("accounts.team", c.team_id) if c.team_id else None
    )
