"""One table says what may be written to a review in which state (reviews.workflow.WRITES):
every write path obeys it, and the page offers exactly what it allows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.models import (
    AnswerStatus,
    Comment,
    Evidence,
    EvidenceKind,
    Review,
    ReviewState,
    SignOff,
    Waiver,
    WaiverState,
)
from reviews.workflow import WRITES, IllegalTransition, allows

pytestmark = pytest.mark.django_db

# ``review`` and ``answer`` (its must-have, "Backups run") are the shared ones in conftest.

ALL_STATES = list(ReviewState.values)


def unmet(answer, lead):
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.NOT_MET, "Not yet", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )


def set_state(review: Review, state: str) -> Review:
    # Straight to the state under test: these tests are about what is refused in it.
    Review.objects.filter(pk=review.pk).update(state=state)
    review.refresh_from_db()
    return review


def exception(answer, lead):
    return waivers.waiver_request(
        answer=answer,
        by=lead,
        rationale="Risk is low",
        compensating_controls="Manual checks",
        expires_on=date.today() + timedelta(days=30),
    )


def test_the_table_names_every_write_and_withdrawn_allows_none(review):
    assert set(WRITES) == {
        "answer",
        "evidence",
        "exception_request",
        "exception_decision",
        "comment",
        "signoff",
    }
    set_state(review, ReviewState.WITHDRAWN)
    assert not any(allows(review, write) for write in WRITES)


def test_exception_requests_follow_the_same_states_as_answers():
    assert WRITES["exception_request"][0] == WRITES["answer"][0]


# --- the service layer, in every state ----------------------------------------------------------


def _attempts(answer, lead, reviewer, manager):
    """One call per write, each as the person who would make it."""
    return {
        "answer": lambda: services.answer_update(
            answer=answer,
            change=services.AnswerChange(AnswerStatus.NOT_MET, "Still not", "changed", None),
            based_on_revision=answer.__class__.objects.get(pk=answer.pk).revision,
            by=lead,
        ),
        "evidence": lambda: evidence_services.evidence_add(
            answer=answer,
            by=lead,
            kind=EvidenceKind.NOTE,
            note="A note",
            effective_date=date.today(),
        ),
        "exception_request": lambda: exception(answer, lead),
        "comment": lambda: services.comment_add(answer=answer, by=manager, body="A comment"),
    }


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("write", ["answer", "evidence", "exception_request", "comment"])
def test_every_write_is_refused_outside_its_states_and_changes_nothing(
    review, answer, lead, reviewer, manager, state, write
):
    answer = unmet(answer, lead)
    set_state(review, state)
    before = (
        Review.objects.get(pk=review.pk).content_revision,
        Evidence.objects.count(),
        Waiver.objects.count(),
        Comment.objects.count(),
        answer.__class__.objects.get(pk=answer.pk).revision,
    )
    attempt = _attempts(answer, lead, reviewer, manager)[write]
    if allows(review, write):
        attempt()
        return
    with pytest.raises(IllegalTransition, match=f"This review is {state.replace('_', ' ')}"):
        attempt()
    after = (
        Review.objects.get(pk=review.pk).content_revision,
        Evidence.objects.count(),
        Waiver.objects.count(),
        Comment.objects.count(),
        answer.__class__.objects.get(pk=answer.pk).revision,
    )
    assert after == before
    assert Review.objects.get(pk=review.pk).state == state


@pytest.mark.parametrize("state", [ReviewState.SUBMITTED, ReviewState.WITHDRAWN])
def test_an_exception_cannot_be_requested_on_a_submitted_or_withdrawn_review(
    review, answer, lead, state
):
    answer = unmet(answer, lead)
    set_state(review, state)
    with pytest.raises(IllegalTransition, match="exceptions cannot be requested"):
        exception(answer, lead)
    assert not Waiver.objects.exists()


def test_an_exception_on_a_withdrawn_review_cannot_be_approved(review, answer, lead, reviewer):
    waiver = exception(unmet(answer, lead), lead)
    services.review_transition(review=review, action="withdraw", by=lead)
    with pytest.raises(IllegalTransition, match="exceptions cannot be decided"):
        waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    waiver.refresh_from_db()
    assert waiver.state == WaiverState.REQUESTED


def test_evidence_cannot_be_withdrawn_from_a_withdrawn_review(review, answer, lead):
    evidence = evidence_services.evidence_add(
        answer=answer, by=lead, kind=EvidenceKind.NOTE, note="n", effective_date=date.today()
    )
    services.review_transition(review=review, action="withdraw", by=lead)
    with pytest.raises(IllegalTransition, match="evidence cannot be added or withdrawn"):
        evidence_services.evidence_withdraw(evidence=evidence, by=lead, reason="wrong")
    evidence.refresh_from_db()
    assert evidence.withdrawn_at is None


def test_a_withdrawn_review_cannot_be_signed_off(review, lead, reviewer):
    set_state(review, ReviewState.WITHDRAWN)
    with pytest.raises(IllegalTransition, match="cannot be signed off now"):
        signoffs.signoff_record(
            review=review, by=reviewer, role="security_reviewer", decision="approve"
        )
    assert not SignOff.objects.exists()


def test_exceptions_on_withdrawn_reviews_neither_expire_nor_remind(review, answer, lead, reviewer):
    from django.core import mail

    waiver = exception(unmet(answer, lead), lead)
    waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    services.review_transition(review=review, action="withdraw", by=lead)
    history = review.history.count()
    mail.outbox.clear()
    assert waivers.waivers_expire(today=date.today() + timedelta(days=20)) == (0, 0)
    assert waivers.waivers_expire(today=date.today() + timedelta(days=60)) == (0, 0)
    waiver.refresh_from_db()
    assert waiver.state == WaiverState.APPROVED
    assert review.history.count() == history
    assert mail.outbox == []


def test_a_comment_with_nothing_but_spaces_is_still_a_field_error_first(review, answer, manager):
    set_state(review, ReviewState.WITHDRAWN)
    with pytest.raises(ValidationError):
        services.comment_add(answer=answer, by=manager, body="   ")


# --- over HTTP: direct posts are refused, and the page offers only what is allowed --------------


def _url(review, answer, tail):
    return f"/reviews/{review.pk}/answers/{answer.pk}/{tail}"


@pytest.mark.parametrize("state", [ReviewState.SUBMITTED, ReviewState.WITHDRAWN])
def test_a_direct_post_of_an_exception_request_is_refused_on_a_closed_review(
    client_for, review, answer, lead, state
):
    unmet(answer, lead)
    set_state(review, state)
    response = client_for(lead).post(
        _url(review, answer, "exceptions/"),
        {
            "rationale": "Risk is low",
            "compensating_controls": "Manual checks",
            "expires_on": (date.today() + timedelta(days=30)).isoformat(),
        },
    )
    assert response.status_code == 400
    assert "exceptions cannot be requested now" in response.content.decode()
    assert not Waiver.objects.exists()


def test_a_reviewer_cannot_approve_an_exception_on_a_withdrawn_review_over_http(
    client_for, review, answer, lead, reviewer
):
    waiver = exception(unmet(answer, lead), lead)
    services.review_transition(review=review, action="withdraw", by=lead)
    response = client_for(reviewer).post(
        _url(review, answer, f"exceptions/{waiver.pk}/decide/"), {"decision": "approve"}
    )
    assert response.status_code == 400
    assert "exceptions cannot be decided now" in response.content.decode()
    waiver.refresh_from_db()
    assert waiver.state == WaiverState.REQUESTED


def test_nobody_comments_on_a_withdrawn_review_over_http(client_for, review, answer, manager):
    set_state(review, ReviewState.WITHDRAWN)
    response = client_for(manager).post(_url(review, answer, "comments/"), {"body": "Late"})
    assert response.status_code == 400
    assert not Comment.objects.exists()


@pytest.mark.parametrize("state", ALL_STATES)
def test_the_review_page_offers_exactly_the_writes_the_table_allows(
    client_for, review, answer, lead, reviewer, state
):
    waiver = exception(unmet(answer, lead), lead)
    set_state(review, state)
    # The item's editor (its own page) holds every form of the item.
    item = reverse("reviews:item", args=[review.pk, answer.pk])
    lead_page = client_for(lead).get(item).content.decode()
    reviewer_page = client_for(reviewer).get(item).content.decode()
    offers = {
        "answer": f'name="a{answer.pk}-status"' in lead_page,
        "evidence": "Add evidence" in lead_page,
        # The item already has a pending exception, so the request form is not shown;
        # the decision form is.
        "exception_decision": f"exceptions/{waiver.pk}/decide/" in reviewer_page,
        "comment": f"answers/{answer.pk}/comments/" in reviewer_page,
    }
    for write, offered in offers.items():
        assert offered == allows(review, write), (state, write)
