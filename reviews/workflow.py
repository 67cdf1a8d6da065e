"""The review state machine: every state change goes through ``review_transition``."""

from __future__ import annotations

from django.utils import timezone

from reviews.models import Review, ReviewState

S = ReviewState

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({S.DRAFT, S.CHANGES_REQUESTED}), S.SUBMITTED),
    "request_changes": (frozenset({S.SUBMITTED}), S.CHANGES_REQUESTED),
    "approve": (frozenset({S.SUBMITTED}), S.APPROVED),
    "withdraw": (frozenset({S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED}), S.WITHDRAWN),
    # Editing an approved review reopens it: it must be submitted and signed again.
    "reopen": (frozenset({S.APPROVED}), S.DRAFT),
}

ACTION_LABELS = {
    "submit": "submitted",
    "request_changes": "sent back for changes",
    "approve": "approved",
    "withdraw": "withdrawn",
    "reopen": "reopened",
}

# States in which the team may change answers (approved ones reopen on the first edit).
EDITABLE_STATES = frozenset({S.DRAFT, S.CHANGES_REQUESTED, S.APPROVED})


class IllegalTransition(ValueError):
    """A state change the workflow does not allow; the message says what is allowed."""


def allowed_actions(review: Review) -> list[str]:
    return [name for name, (sources, _) in TRANSITIONS.items() if review.state in sources]


def apply_transition(review: Review, action: str) -> str:
    """Move ``review`` (in memory) along ``action``; returns the previous state.

    Callers own the transaction and the save (reviews.services.review_transition).
    """
    if action not in TRANSITIONS:
        raise IllegalTransition(f"Unknown action “{action}”.")
    sources, target = TRANSITIONS[action]
    if review.state not in sources:
        allowed = ", ".join(allowed_actions(review)) or "none"
        label = ReviewState(review.state).label.lower()
        article = "An" if label[0] in "aeiou" else "A"
        raise IllegalTransition(
            f"{article} {label} review cannot be {ACTION_LABELS[action]} (allowed now: {allowed})."
        )
    previous = review.state
    review.state = target
    review.state_changed_at = timezone.now()
    if target == S.SUBMITTED:
        review.submitted_at = review.state_changed_at
    return previous
