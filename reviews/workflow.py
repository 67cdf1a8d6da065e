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
# Every state but withdrawn: nothing changes a withdrawn review.
OPEN_STATES = frozenset({S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED})

# What may be written to a review in which states. Every service that writes to a review
# asks ``ensure_allowed`` inside its transaction (with the review row locked), and pages
# ask ``allows`` before offering the form, so the two can never disagree.
WRITES: dict[str, tuple[frozenset[str], str]] = {
    # write: (states, what it changes, for messages)
    "answer": (EDITABLE_STATES, "answers cannot be changed"),
    "evidence": (EDITABLE_STATES, "evidence cannot be added or withdrawn"),
    "exception_request": (EDITABLE_STATES, "exceptions cannot be requested"),
    "exception_decision": (OPEN_STATES, "exceptions cannot be decided"),
    "comment": (OPEN_STATES, "comments cannot be added"),
    "signoff": (frozenset({S.SUBMITTED}), "it cannot be signed off"),
}


class IllegalTransition(ValueError):
    """A state change the workflow does not allow; the message says what is allowed."""


def allows(review: Review, write: str) -> bool:
    """Whether ``write`` (a key of WRITES) may happen to ``review`` in its state."""
    return review.state in WRITES[write][0]


def ensure_allowed(review: Review, write: str) -> None:
    """Raise IllegalTransition, saying why, unless ``write`` may happen to ``review`` now.

    ``review`` should be the row locked by the caller's transaction, so its state cannot
    change between this check and the write.
    """
    states, what = WRITES[write]
    if review.state not in states:
        label = ReviewState(review.state).label.lower()
        raise IllegalTransition(f"This review is {label}: {what} now.")


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
