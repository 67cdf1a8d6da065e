"""The reviews service layer: starting reviews, the state machine, readiness, answering."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from portal.accounts.models import User
from portal.audit.models import Entry
from reviews.models import Answer, AnswerStatus, Review, ReviewState
from reviews.readiness import Readiness, compute_readiness
from reviews.services import (
    AnswerChange,
    AnswerConflict,
    answer_update,
    review_start,
    review_transition,
    service_create,
)
from reviews.workflow import TRANSITIONS, IllegalTransition
from tests.factories import ChecklistVersionFactory, ReviewFactory

pytestmark = pytest.mark.django_db

A = AnswerStatus
S = ReviewState

# Six items, three must-haves. Within "Operations" a plain item comes first in the file.
LAUNCH_MD = b"""# Launch readiness

## Operations
- Runbook exists
- **Backups run nightly**
- **Alerts page someone**
- Dashboards exist

## Security
- **HTTPS everywhere**
- Security contact listed
"""


def publish(md: bytes = LAUNCH_MD, name: str = "launch.md", *, published: bool = True):
    return ChecklistVersionFactory(markdown=md, filename=name, publish=published)


@pytest.fixture
def version(db):
    return publish()


@pytest.fixture
def review(service, version, lead):
    """The shared Benefits service (conftest's), reviewed on the six-item checklist."""
    return ReviewFactory(service=service, checklist_version=version, by=lead)


def answer_for(review: Review, text: str) -> Answer:
    return Answer.objects.select_related("item").get(review=review, item__text=text)


def change(status: str, justification: str = "", notes: str = "", owner=None) -> AnswerChange:
    return AnswerChange(status=status, justification=justification, notes=notes, owner=owner)


def set_state(review: Review, state: str) -> Review:
    Review.objects.filter(pk=review.pk).update(state=state)
    review.refresh_from_db()
    return review


# --- review_start -------------------------------------------------------------------------


def test_starting_a_review_creates_one_not_started_answer_per_item(review, version):
    answers = list(review.answers.select_related("item"))
    assert len(answers) == 6
    assert {a.item_id for a in answers} == set(version.items.values_list("pk", flat=True))
    assert {a.status for a in answers} == {A.NOT_STARTED}
    assert {a.revision for a in answers} == {1}
    assert review.state == S.DRAFT


def test_a_new_review_has_its_summary_from_the_start(review):
    stored = Review.objects.get(pk=review.pk)
    assert stored.item_count == 6
    assert stored.applicable_count == 6
    assert stored.must_have_count == 3
    assert stored.must_haves_done == 0
    assert stored.open_must_haves == 3
    assert stored.met_count == 0
    assert stored.readiness_percent == 0
    assert stored.not_started_count == 6
    assert stored.content_revision == 0


def test_a_review_cannot_start_on_a_draft_checklist_version(service, lead):
    draft = publish(name="draft.md", published=False)
    with pytest.raises(ValidationError, match="published checklist versions only"):
        review_start(service=service, checklist_version=draft, by=lead)
    assert not Review.objects.exists()
    assert not Answer.objects.exists()


def test_starting_a_review_records_why_in_its_history(review):
    assert review.history.latest().history_change_reason.startswith("Review started on")


# --- the state machine ----------------------------------------------------------------------

ALL_STATES = list(S.values)
ALL_ACTIONS = list(TRANSITIONS)
LEGAL = [
    (state, action)
    for action, (sources, _) in TRANSITIONS.items()
    for state in ALL_STATES
    if state in sources
]
ILLEGAL = [(s, a) for s in ALL_STATES for a in ALL_ACTIONS if (s, a) not in LEGAL]

# Written out, so a change to the table has to change this test too.
EXPECTED_LEGAL = {
    ("draft", "submit"): "submitted",
    ("changes_requested", "submit"): "submitted",
    ("submitted", "request_changes"): "changes_requested",
    ("submitted", "approve"): "approved",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("changes_requested", "withdraw"): "withdrawn",
    ("approved", "reopen"): "draft",
}
ALLOWED_FROM = {
    "draft": "submit, withdraw",
    "submitted": "request_changes, approve, withdraw",
    "changes_requested": "submit, withdraw",
    "approved": "reopen",
    "withdrawn": "none",
}


def test_the_transition_table_is_the_one_the_product_describes():
    assert {(s, a) for s, a in LEGAL} == set(EXPECTED_LEGAL)


@pytest.mark.parametrize(("state", "action"), sorted(EXPECTED_LEGAL))
def test_every_legal_transition_moves_the_review_and_records_it(review, lead, state, action):
    set_state(review, state)
    before = review.history.count()
    moved = review_transition(review=review, action=action, by=lead)
    stored = Review.objects.get(pk=review.pk)
    assert moved.state == stored.state == EXPECTED_LEGAL[(state, action)]
    assert stored.state_changed_at is not None
    assert review.history.count() == before + 1
    row = review.history.latest()
    assert row.state == stored.state
    assert row.history_change_reason == f"{state} → {stored.state} by {lead.email}"


def test_submitting_stamps_the_submission_time(review, lead):
    moved = review_transition(review=review, action="submit", by=lead)
    assert moved.submitted_at is not None
    assert moved.submitted_at == moved.state_changed_at


def test_a_transition_keeps_the_reason_it_was_given(review, lead):
    review_transition(review=review, action="withdraw", by=lead, reason="Launch cancelled")
    assert review.history.latest().history_change_reason == "Launch cancelled"


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused_with_what_is_allowed(review, lead, state, action):
    set_state(review, state)
    before = review.history.count()
    with pytest.raises(IllegalTransition) as caught:
        review_transition(review=review, action=action, by=lead)
    message = str(caught.value)
    assert f"(allowed now: {ALLOWED_FROM[state]})" in message
    assert "cannot be" in message
    assert Review.objects.get(pk=review.pk).state == state
    assert review.history.count() == before


def test_illegal_transition_messages_read_as_sentences(review, lead):
    with pytest.raises(IllegalTransition) as caught:
        review_transition(review=review, action="approve", by=lead)
    assert str(caught.value) == "A draft review cannot be approved (allowed now: submit, withdraw)."


def test_the_message_for_an_approved_review_uses_an(review, lead):
    set_state(review, S.APPROVED)
    with pytest.raises(IllegalTransition) as caught:
        review_transition(review=review, action="submit", by=lead)
    assert str(caught.value) == "An approved review cannot be submitted (allowed now: reopen)."


def test_an_unknown_action_is_refused(review, lead):
    with pytest.raises(IllegalTransition, match="Unknown action"):
        review_transition(review=review, action="launch", by=lead)
    assert Review.objects.get(pk=review.pk).state == S.DRAFT


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_withdrawn_is_terminal(review, lead, action):
    review_transition(review=review, action="withdraw", by=lead)
    with pytest.raises(IllegalTransition, match=r"allowed now: none"):
        review_transition(review=review, action=action, by=lead)
    assert Review.objects.get(pk=review.pk).state == S.WITHDRAWN


def test_a_full_round_trip_is_in_the_history(review, lead, reviewer):
    review_transition(review=review, action="submit", by=lead)
    review_transition(review=review, action="request_changes", by=reviewer)
    review_transition(review=review, action="submit", by=lead)
    review_transition(review=review, action="approve", by=reviewer)
    states = list(review.history.order_by("history_id").values_list("state", flat=True))
    assert states[-4:] == ["submitted", "changes_requested", "submitted", "approved"]
    reasons = list(
        review.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )
    assert reasons[-1] == f"submitted → approved by {reviewer.email}"


# --- readiness ---------------------------------------------------------------------------------


def set_statuses(review: Review, statuses: dict[str, str]) -> None:
    for text, status in statuses.items():
        Answer.objects.filter(review=review, item__text=text).update(status=status)


def test_readiness_counts_a_known_mix(review):
    set_statuses(
        review,
        {
            "Backups run nightly": A.MET,  # must-have, done
            "Alerts page someone": A.NOT_MET,  # must-have, open
            "HTTPS everywhere": A.NOT_APPLICABLE,  # must-have, not applicable
            "Runbook exists": A.MET,
            "Dashboards exist": A.PARTIALLY_MET,
            # "Security contact listed" stays not started
        },
    )
    readiness = compute_readiness(review)
    assert readiness.item_count == 6
    assert readiness.applicable_count == 5  # not applicable is left out
    assert readiness.met_count == 2
    assert readiness.readiness_percent == 40  # 2 met of 5 applicable
    assert readiness.must_have_count == 2  # applicable must-haves
    assert readiness.must_haves_done == 1
    assert readiness.open_must_haves == 1
    assert readiness.not_started_count == 1


def test_readiness_is_rounded_down(review):
    # 2 met of 3 applicable is 66.7%: shown as 66, never rounded up to 67.
    set_statuses(
        review,
        {
            "Backups run nightly": A.MET,
            "Runbook exists": A.MET,
            "Alerts page someone": A.NOT_MET,
            "HTTPS everywhere": A.NOT_APPLICABLE,
            "Dashboards exist": A.NOT_APPLICABLE,
            "Security contact listed": A.NOT_APPLICABLE,
        },
    )
    assert compute_readiness(review).readiness_percent == 66


@pytest.mark.parametrize(
    ("met", "applicable", "percent"),
    [(0, 0, 0), (0, 5, 0), (1, 3, 33), (2, 3, 66), (99, 100, 99), (199, 200, 99), (5, 5, 100)],
)
def test_readiness_percent_is_met_over_applicable_rounded_down(met, applicable, percent):
    counts = {field.name: 0 for field in dataclasses.fields(Readiness)}
    counts |= {"item_count": applicable, "applicable_count": applicable, "met_count": met}
    assert Readiness(**counts).readiness_percent == percent


def test_only_a_fully_met_review_is_100_percent(review):
    set_statuses(review, {a.item.text: A.MET for a in review.answers.select_related("item")})
    answer = answer_for(review, "Runbook exists")
    answer_update(
        answer=answer, change=change(A.NOT_APPLICABLE, "No ops"), based_on_revision=1, by=None
    )
    review.refresh_from_db()
    assert review.readiness_percent == 100
    assert review.applicable_count == 5
    assert review.open_must_haves == 0


def test_the_stored_summary_follows_each_answer(review, lead):
    steps = [
        ("Backups run nightly", change(A.MET)),
        ("Alerts page someone", change(A.NOT_MET, "Pager contract signs next week")),
        ("HTTPS everywhere", change(A.NOT_APPLICABLE, "Internal batch job, no web traffic")),
        ("Runbook exists", change(A.MET)),
    ]
    for text, new in steps:
        answer = answer_for(review, text)
        answer_update(answer=answer, change=new, based_on_revision=answer.revision, by=lead)
        stored = Review.objects.get(pk=review.pk)
        computed = compute_readiness(stored)
        assert stored.item_count == computed.item_count
        assert stored.applicable_count == computed.applicable_count
        assert stored.met_count == computed.met_count
        assert stored.readiness_percent == computed.readiness_percent
        assert stored.must_have_count == computed.must_have_count
        assert stored.must_haves_done == computed.must_haves_done
        assert stored.open_must_haves == computed.open_must_haves
        assert stored.not_started_count == computed.not_started_count
    stored = Review.objects.get(pk=review.pk)
    assert (stored.met_count, stored.applicable_count, stored.readiness_percent) == (2, 5, 40)
    assert (stored.must_have_count, stored.must_haves_done, stored.open_must_haves) == (2, 1, 1)
    assert stored.not_started_count == 2


# --- answer_update ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status", "message"),
    [
        ("Runbook exists", A.NOT_APPLICABLE, "Say why this item does not apply."),
        ("Backups run nightly", A.NOT_APPLICABLE, "Say why this item does not apply."),
        ("Backups run nightly", A.NOT_MET, "A must-have that is not met needs a justification."),
        (
            "Backups run nightly",
            A.PARTIALLY_MET,
            "A must-have that is not met needs a justification.",
        ),
    ],
)
@pytest.mark.parametrize("justification", ["", "   \n "])
def test_a_justification_is_required_where_the_product_says(
    review, lead, text, status, message, justification
):
    answer = answer_for(review, text)
    with pytest.raises(ValidationError) as caught:
        answer_update(
            answer=answer, change=change(status, justification), based_on_revision=1, by=lead
        )
    assert caught.value.message_dict == {"justification": [message]}
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.status, stored.revision) == (A.NOT_STARTED, 1)
    assert Review.objects.get(pk=review.pk).content_revision == 0


@pytest.mark.parametrize("status", [A.NOT_MET, A.PARTIALLY_MET, A.MET, A.NOT_STARTED])
def test_an_ordinary_item_needs_no_justification(review, lead, status):
    answer = answer_for(review, "Runbook exists")
    saved = answer_update(
        answer=answer, change=change(status, notes="x"), based_on_revision=1, by=lead
    )
    assert saved.status == status


def test_a_status_outside_the_list_is_refused(review, lead):
    answer = answer_for(review, "Runbook exists")
    with pytest.raises(ValidationError) as caught:
        answer_update(answer=answer, change=change("done"), based_on_revision=1, by=lead)
    assert "status" in caught.value.message_dict
    assert Answer.objects.get(pk=answer.pk).status == A.NOT_STARTED


def test_saving_an_answer_bumps_its_revision_and_the_reviews(review, lead):
    answer = answer_for(review, "Backups run nightly")
    saved = answer_update(
        answer=answer,
        change=change(A.MET, notes="AWS Backup", owner=lead),
        based_on_revision=1,
        by=lead,
    )
    stored = Answer.objects.get(pk=answer.pk)
    assert saved.revision == stored.revision == 2
    assert (stored.status, stored.notes, stored.owner, stored.updated_by) == (
        A.MET,
        "AWS Backup",
        lead,
        lead,
    )
    assert Review.objects.get(pk=review.pk).content_revision == 1
    assert stored.history.latest().history_change_reason == "Answered: Met"
    assert review.history.latest().history_change_reason == "Answer changed"
    # Outside any request (a command, the demo), the person the service acts for is
    # the history's actor, and the record's.
    assert stored.history.latest().history_user == lead
    assert review.history.latest().history_user == lead
    line = Entry.objects.filter(record_type="reviews.answer", record_id=str(answer.pk))
    assert line.latest("id").actor_label == lead.email

    answer_update(
        answer=stored, change=change(A.PARTIALLY_MET, "Weekly only"), based_on_revision=2, by=lead
    )
    assert Answer.objects.get(pk=answer.pk).revision == 3
    assert Review.objects.get(pk=review.pk).content_revision == 2


def test_saving_the_same_values_again_changes_nothing(review, lead):
    answer = answer_for(review, "Backups run nightly")
    same = change(A.MET, notes="AWS Backup", owner=lead)
    answer_update(answer=answer, change=same, based_on_revision=1, by=lead)
    answer_history = Answer.objects.get(pk=answer.pk).history.count()
    review_history = review.history.count()

    again = answer_update(answer=answer, change=same, based_on_revision=2, by=lead)

    assert again.revision == 2
    assert Answer.objects.get(pk=answer.pk).revision == 2
    assert Review.objects.get(pk=review.pk).content_revision == 1
    assert Answer.objects.get(pk=answer.pk).history.count() == answer_history
    assert review.history.count() == review_history


def test_a_save_based_on_an_old_revision_is_a_conflict_and_changes_nothing(review, lead):
    answer = answer_for(review, "Alerts page someone")
    answer_update(
        answer=answer, change=change(A.NOT_MET, "Pager next week"), based_on_revision=1, by=lead
    )
    before = Review.objects.get(pk=review.pk)

    with pytest.raises(AnswerConflict) as caught:
        answer_update(
            answer=answer, change=change(A.MET, notes="mine"), based_on_revision=1, by=lead
        )

    current = caught.value.current
    assert (current.pk, current.revision, current.status) == (answer.pk, 2, A.NOT_MET)
    assert current.justification == "Pager next week"
    assert "Someone else changed this answer" in str(caught.value)
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.revision, stored.status, stored.notes) == (2, A.NOT_MET, "")
    after = Review.objects.get(pk=review.pk)
    assert after.content_revision == before.content_revision == 1
    assert (after.met_count, after.open_must_haves, after.not_started_count) == (
        before.met_count,
        before.open_must_haves,
        before.not_started_count,
    )


def test_the_same_change_sent_twice_from_one_revision_is_saved_once(review, lead, reviewer):
    """The htmx save on leaving a field, then the row's button: both say revision 1 and
    the same content. The second is a success (nothing more to save), not a conflict."""
    answer = answer_for(review, "Alerts page someone")
    sent = change(A.NOT_MET, "Pager next week")
    first = answer_update(answer=answer, change=sent, based_on_revision=1, by=lead)
    rows = Answer.objects.get(pk=answer.pk).history.count()

    again = answer_update(answer=answer, change=sent, based_on_revision=1, by=lead)

    assert again.revision == first.revision == 2
    assert Answer.objects.get(pk=answer.pk).history.count() == rows
    assert Review.objects.get(pk=review.pk).content_revision == 1
    # A different change from that revision, or the same one from someone else whose
    # page was as old, is still a conflict: it would overwrite what they have not seen.
    with pytest.raises(AnswerConflict):
        answer_update(
            answer=answer, change=change(A.NOT_MET, "Pager today"), based_on_revision=1, by=lead
        )
    other = User.objects.create_user(email="second@example.com", password="x")
    with pytest.raises(AnswerConflict):
        answer_update(answer=answer, change=sent, based_on_revision=1, by=other)


def test_a_save_from_a_future_revision_is_a_conflict_too(review, lead):
    answer = answer_for(review, "Runbook exists")
    with pytest.raises(AnswerConflict):
        answer_update(answer=answer, change=change(A.MET), based_on_revision=7, by=lead)
    assert Answer.objects.get(pk=answer.pk).revision == 1


def test_editing_an_approved_review_reopens_it_as_a_draft(review, lead):
    set_state(review, S.APPROVED)
    answer = answer_for(review, "Runbook exists")
    answer_update(answer=answer, change=change(A.MET), based_on_revision=1, by=lead)
    stored = Review.objects.get(pk=review.pk)
    assert stored.state == S.DRAFT
    assert stored.content_revision == 1
    assert stored.met_count == 1


def test_saving_unchanged_values_does_not_reopen_an_approved_review(review, lead):
    set_state(review, S.APPROVED)
    answer = answer_for(review, "Runbook exists")
    answer_update(answer=answer, change=change(A.NOT_STARTED), based_on_revision=1, by=lead)
    assert Review.objects.get(pk=review.pk).state == S.APPROVED


@pytest.mark.parametrize("state", [S.SUBMITTED, S.WITHDRAWN])
def test_answers_of_a_submitted_or_withdrawn_review_cannot_change(review, lead, state):
    set_state(review, state)
    answer = answer_for(review, "Runbook exists")
    with pytest.raises(IllegalTransition, match="answers cannot be changed now"):
        answer_update(answer=answer, change=change(A.MET), based_on_revision=1, by=lead)
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.status, stored.revision) == (A.NOT_STARTED, 1)
    after = Review.objects.get(pk=review.pk)
    assert (after.state, after.content_revision, after.met_count) == (state, 0, 0)


def test_answers_reopen_for_editing_when_changes_are_requested(review, lead):
    set_state(review, S.CHANGES_REQUESTED)
    answer = answer_for(review, "Runbook exists")
    answer_update(answer=answer, change=change(A.MET), based_on_revision=1, by=lead)
    stored = Review.objects.get(pk=review.pk)
    assert (stored.state, stored.met_count) == (S.CHANGES_REQUESTED, 1)


def test_a_failure_after_the_answer_is_written_rolls_everything_back(review, lead, monkeypatch):
    # The answer row is written first, the review (summary, revision) last: fail there.
    def broken(self, *args, **kwargs):
        raise RuntimeError("review save failed")

    monkeypatch.setattr(Review, "save", broken)
    answer = answer_for(review, "Runbook exists")
    history_before = answer.history.count()
    with pytest.raises(RuntimeError):
        answer_update(answer=answer, change=change(A.MET), based_on_revision=1, by=lead)
    stored = Answer.objects.get(pk=answer.pk)
    assert (stored.status, stored.revision) == (A.NOT_STARTED, 1)
    assert stored.history.count() == history_before
    assert Review.objects.get(pk=review.pk).content_revision == 0


# --- two people at once, for real -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_saves_from_the_same_revision_never_both_win(
    lead, benefits_team, monkeypatch
):
    service = service_create(by=lead, name="Race", slug="race", team=benefits_team)
    review = review_start(service=service, checklist_version=publish(), by=lead)
    answer_id = answer_for(review, "Alerts page someone").pk

    # Hold the winner inside its transaction a moment, so the loser really waits on it.
    real_save = Review.save

    def slow_save(self, *args, **kwargs):
        time.sleep(0.3)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Review, "save", slow_save)

    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def edit(name: str, new: AnswerChange) -> None:
        try:
            loaded = Answer.objects.select_related("item").get(pk=answer_id)
            assert loaded.revision == 1
            start.wait(timeout=10)
            answer_update(answer=loaded, change=new, based_on_revision=1, by=lead)
            outcomes[name] = "saved"
        except AnswerConflict as exc:
            outcomes[name] = exc
        except Exception as exc:  # surfaced by the assertions below
            outcomes[name] = exc
        finally:
            connection.close()

    changes = {
        "alice": change(A.MET, notes="alice: PagerDuty is live"),
        "bob": change(A.NOT_MET, "bob: contract not signed", notes="bob"),
    }
    threads = [threading.Thread(target=edit, args=(n, c)) for n, c in changes.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    winners = [name for name, outcome in outcomes.items() if outcome == "saved"]
    losers = [name for name, outcome in outcomes.items() if isinstance(outcome, AnswerConflict)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    (winner,), (loser,) = winners, losers
    conflict = outcomes[loser]
    assert isinstance(conflict, AnswerConflict)
    assert conflict.current.revision == 2
    assert conflict.current.notes == changes[winner].notes

    stored = Answer.objects.get(pk=answer_id)
    assert stored.revision == 2
    assert (stored.status, stored.notes) == (changes[winner].status, changes[winner].notes)
    after = Review.objects.get(pk=review.pk)
    assert after.content_revision == 1
    assert after.not_started_count == 5
