"""Sign-offs: a reviewer's decision for one role, bound to the content it saw."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.audit.history import attributed
from reviews import notifications
from reviews.models import Review, ReviewState, SignOff, SignOffDecision
from reviews.readiness import is_ready, refresh_summary
from reviews.workflow import apply_transition, ensure_allowed


def signable_roles(review: Review, user: User) -> list[str]:
    """The required roles of ``review`` that ``user`` holds."""
    held = {role.value for role in user.roles}
    return [role for role in review.checklist_version.required_signoff_roles if role in held]


def signoff_refusal(review: Review, user: User) -> str:
    """Why ``user`` may not sign ``review`` off, whatever its state ("" when they may):
    asked before a page asks for their password, and enforced again by signoff_record."""
    if not signable_roles(review, user):
        return "This review needs no sign-off from your roles."
    if review.editors.filter(pk=user.pk).exists():
        return "You changed this review's answers or evidence, so you cannot sign it off."
    return ""


def signoff_blocker(review: Review) -> str:
    """What the review must settle before anyone signs it off ("" when nothing): the
    exceptions still waiting for a decision."""
    pending = review.pending_exceptions
    if not pending:
        return ""
    them = "it" if pending == 1 else "them"
    return (
        f"{pending} exception{'s are' if pending != 1 else ' is'} waiting for a decision: "
        f"approve or refuse {them} before signing off."
    )


def signoff_record(
    *, review: Review, by: User, role: str, decision: str, comment: str = ""
) -> SignOff:
    """Record a decision. Approval of the last missing role approves the review.

    Refused for: a review not submitted, a role the review does not need or the user
    does not hold, anyone who edited the answers or evidence (separation of duties).
    """
    if decision not in SignOffDecision.values:
        raise ValidationError({"decision": "Choose approve or request changes."})
    if decision == SignOffDecision.REQUEST_CHANGES and not comment.strip():
        raise ValidationError({"comment": "Say what needs to change."})
    with transaction.atomic():
        locked = (
            Review.objects.select_for_update().select_related("checklist_version").get(pk=review.pk)
        )
        if role not in locked.checklist_version.required_signoff_roles:
            raise ValidationError({"role": "This review does not need that sign-off role."})
        if role not in {r.value for r in by.roles} or role == Role.ADMIN:
            raise PermissionDenied("You do not hold that sign-off role.")
        if locked.editors.filter(pk=by.pk).exists():
            raise PermissionDenied(
                "You changed this review's answers or evidence, so you cannot sign it off."
            )
        ensure_allowed(locked, "signoff")
        if blocker := signoff_blocker(locked):
            raise ValidationError(blocker)
        signoff = SignOff(
            review=locked,
            role=role,
            reviewer=by,
            decision=decision,
            comment=comment.strip(),
            content_digest=locked.content_digest,
        )
        signoff.full_clean(exclude=["review", "reviewer", "content_digest"])
        said = f"{signoff.get_decision_display()} as {signoff.role_label}"
        attributed(signoff, by=by, reason=f"Sign-off: {said}")
        signoff.save()
        if decision == SignOffDecision.REQUEST_CHANGES:
            apply_transition(locked, "request_changes")
        elif is_ready(locked):
            apply_transition(locked, "approve")
        # The roles still to sign have changed, and maybe the state.
        refresh_summary(locked)
        locked.last_activity_at = timezone.now()
        attributed(locked, by=by, reason=f"Sign-off: {said} by {by.email}")
        locked.save()
        if locked.state != ReviewState.SUBMITTED:
            notifications.review_decided(locked, signoff)
    return signoff
