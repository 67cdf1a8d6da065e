"""Every way into a rule, not just the first one.

Each rule here was once broken by a one-line change that the suite caught on its direct
path (an answer edited, a job run, a form posted) but not on these second paths:
evidence changing what a sign-off vouches for, evidence making its author an editor, an
exception lapsing before the nightly job runs, a token revoked through someone else's
service, an email enqueued before the commit.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal.accounts import services as account_services
from portal.accounts.roles import Role
from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.checks.pushed import PushedEvidence
from reviews.checks.selectors import token_for
from reviews.checks.services import evidence_push, token_create, token_revoke
from reviews.models import (
    AnswerStatus,
    EvidenceKind,
    Review,
    ReviewState,
    ServiceToken,
    SignOff,
    Waiver,
    WaiverState,
)
from reviews.readiness import compute_readiness, failing_must_haves, is_ready, missing_approvals
from tests.factories import (
    AnswerFactory,
    ChecklistVersionFactory,
    ReviewFactory,
    ServiceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def fresh(review: Review) -> Review:
    return Review.objects.get(pk=review.pk)


def add_evidence(answer, by):
    return evidence_services.evidence_add(
        answer=answer,
        by=by,
        kind=EvidenceKind.LINK,
        url="https://example.com/backup-report",
        effective_date=date.today(),
    )


def approve(review: Review, lead, reviewer) -> SignOff:
    """Every item met by ``lead``, submitted, and approved by the security reviewer."""
    for answer in review.answers.select_related("item"):
        AnswerFactory(review=review, item_text=answer.item.text, by=lead)
    services.review_transition(review=review, action="submit", by=lead)
    signoff = signoffs.signoff_record(
        review=fresh(review), by=reviewer, role="security_reviewer", decision="approve"
    )
    assert fresh(review).state == ReviewState.APPROVED
    assert signoff.is_current and is_ready(fresh(review))
    return signoff


def assert_no_longer_vouched_for(review: Review, signoff: SignOff) -> None:
    review = fresh(review)
    stored = SignOff.objects.select_related("review").get(pk=signoff.pk)
    assert not stored.is_current
    assert not review.signoffs.current().exists()
    assert review.state == ReviewState.DRAFT
    assert missing_approvals(review) == ["security_reviewer"]
    assert not is_ready(review)
    # Submitted again, it waits for a new sign-off: the old one does not approve it.
    services.review_transition(review=review, action="submit", by=review.created_by)
    assert fresh(review).state == ReviewState.SUBMITTED
    assert not is_ready(fresh(review))


# --- 1. the content digest covers evidence --------------------------------------------------


def test_adding_evidence_makes_an_existing_sign_off_stale(review, answer, lead, reviewer):
    signoff = approve(review, lead, reviewer)
    add_evidence(answer, lead)
    assert_no_longer_vouched_for(review, signoff)


def test_withdrawing_evidence_makes_an_existing_sign_off_stale(review, answer, lead, reviewer):
    evidence = add_evidence(answer, lead)
    signoff = approve(review, lead, reviewer)
    evidence_services.evidence_withdraw(evidence=evidence, by=lead, reason="Wrong system")
    assert_no_longer_vouched_for(review, signoff)


# --- 2. adding or withdrawing evidence makes you an editor ------------------------------------


@pytest.fixture
def reviewing_lead(benefits_team):
    """A security reviewer who is also a product lead in the Benefits team: may both
    change the review and, were it not for what they changed, sign it off."""
    user = UserFactory(email="reviewing-lead@example.com")
    account_services.user_set_roles(
        user=user, roles=[Role.SECURITY_REVIEWER, Role.PRODUCT_LEAD], reason="test"
    )
    account_services.team_add_members(team=benefits_team, users=[user])
    return user


def assert_cannot_sign(review: Review, who, client_for) -> None:
    review = fresh(review)
    assert review.state == ReviewState.SUBMITTED
    with pytest.raises(PermissionDenied, match="cannot sign it off"):
        signoffs.signoff_record(review=review, by=who, role="security_reviewer", decision="approve")
    client = client_for(who)
    page = client.get(f"/reviews/{review.pk}/sign-off/")
    assert page.status_code == 403
    assert b"You changed this review&#x27;s answers or evidence" in page.content
    posted = client.post(
        f"/reviews/{review.pk}/sign-off/", {"role": "security_reviewer", "decision": "approve"}
    )
    assert posted.status_code == 403
    assert not SignOff.objects.filter(review=review).exists()
    assert fresh(review).state == ReviewState.SUBMITTED


def test_someone_who_only_added_evidence_cannot_sign_the_review_off(
    review, answer, lead, reviewing_lead, client_for
):
    add_evidence(answer, reviewing_lead)
    for each in review.answers.select_related("item"):
        AnswerFactory(review=review, item_text=each.item.text, by=lead)
    services.review_transition(review=review, action="submit", by=lead)
    assert not answer.history.filter(history_user=reviewing_lead).exists()  # no answer edits
    assert_cannot_sign(review, reviewing_lead, client_for)


def test_someone_who_only_withdrew_evidence_cannot_sign_the_review_off(
    review, answer, lead, reviewing_lead, client_for
):
    evidence = add_evidence(answer, lead)
    evidence_services.evidence_withdraw(evidence=evidence, by=reviewing_lead, reason="Stale")
    for each in review.answers.select_related("item"):
        AnswerFactory(review=review, item_text=each.item.text, by=lead)
    services.review_transition(review=review, action="submit", by=lead)
    assert_cannot_sign(review, reviewing_lead, client_for)


# --- 3. an exception past its date stops counting, whether or not the job has run ----------

# Two must-haves, one bound to a check that CI pushes.
CHECKED = b"""---
title: Checked launch
slug: checked-launch
checks:
  load-tested: [ci.load_test]
---
## Ops
- **Load tested** {#load-tested}
- **Backups run**
- Dashboards exist
"""
# Noon UTC: the same calendar day in the portal's time zone, whatever the clock's.
START = datetime(2026, 11, 2, 12, tzinfo=UTC)
EXPIRES = START.date() + timedelta(days=10)
LAST_VALID_DAY = START + timedelta(days=10)
DAY_AFTER = START + timedelta(days=11)


@pytest.fixture
def excepted(service, lead, reviewer):
    """Both must-haves not met, each covered by an approved exception until EXPIRES, and
    the load test (bound to one of them) failing."""
    with time_machine.travel(START, tick=False):
        review = ReviewFactory(
            service=service, checklist_version=ChecklistVersionFactory(markdown=CHECKED), by=lead
        )
        for text in ("Load tested", "Backups run"):
            answer = AnswerFactory(
                review=review, item_text=text, status=AnswerStatus.NOT_MET, by=lead
            )
            waiver = waivers.waiver_request(
                answer=answer,
                by=lead,
                rationale="Internal launch first",
                compensating_controls="Manual checks daily",
                expires_on=EXPIRES,
            )
            waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
        evidence_push(
            service=service,
            payload=PushedEvidence(
                check="ci.load_test", result="fail", summary="p95 2 s at 500 rps"
            ),
        )
    stored = fresh(review)
    assert (stored.open_must_haves, stored.waived_must_haves, stored.failing_must_haves) == (
        0,
        2,
        0,
    )
    return review


def assert_job_has_not_run() -> None:
    assert set(Waiver.objects.values_list("state", flat=True)) == {WaiverState.APPROVED}


def test_an_exception_past_its_date_stops_counting_for_readiness_before_the_expiry_job(
    excepted,
):
    with time_machine.travel(LAST_VALID_DAY, tick=False):
        readiness = compute_readiness(excepted)
        assert (readiness.waived_must_haves, readiness.open_must_haves) == (2, 0)
    with time_machine.travel(DAY_AFTER, tick=False):
        assert_job_has_not_run()
        readiness = compute_readiness(excepted)
        assert (readiness.waived_must_haves, readiness.open_must_haves) == (0, 2)


def test_an_exception_past_its_date_stops_covering_a_failing_check_before_the_expiry_job(
    excepted,
):
    with time_machine.travel(LAST_VALID_DAY, tick=False):
        assert failing_must_haves(excepted) == 0
    with time_machine.travel(DAY_AFTER, tick=False):
        assert_job_has_not_run()
        assert failing_must_haves(excepted) == 1


def refresh_by_sweep(review: Review) -> None:
    assert services.readiness_refresh(service_ids=[review.service_id]) == 1


def refresh_by_an_answer(review: Review) -> None:
    AnswerFactory(review=review, item_text="Dashboards exist", by=review.created_by)


@pytest.mark.parametrize("refresh", [refresh_by_sweep, refresh_by_an_answer])
def test_an_exception_past_its_date_stops_counting_in_the_stored_summary_on_any_refresh(
    excepted, refresh
):
    with time_machine.travel(DAY_AFTER, tick=False):
        assert_job_has_not_run()
        refresh(excepted)
    stored = fresh(excepted)
    assert (stored.open_must_haves, stored.waived_must_haves, stored.failing_must_haves) == (
        2,
        0,
        1,
    )
    assert not is_ready(stored)


# --- 4. a token is revoked only through its own service ----------------------------------------


@pytest.fixture
def their_service(permits_team, other_lead):
    """Another team's service, which ``other_lead`` owns and may revoke tokens of."""
    return ServiceFactory(
        name="Permits portal", slug="permits-portal", team=permits_team, created_by=other_lead
    )


@pytest.fixture
def our_token(service, lead):
    """A live CI token of the Benefits portal: (the row, the plain token)."""
    return token_create(service=service, name="GitHub Actions", by=lead)


def test_another_teams_lead_cannot_revoke_our_token_through_their_own_service(
    client_for, other_lead, their_service, our_token
):
    token, plain = our_token
    client = client_for(other_lead)
    response = client.post(f"/services/{their_service.slug}/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    assert ServiceToken.objects.get(pk=token.pk).revoked_at is None
    assert token_for(plain) == token
    # They may revoke tokens there: the refusal is about whose token it is.
    theirs, _ = token_create(service=their_service, name="Their CI", by=other_lead)
    response = client.post(f"/services/{their_service.slug}/tokens/{theirs.pk}/revoke/")
    assert response.status_code == 302
    assert ServiceToken.objects.get(pk=theirs.pk).revoked_at is not None


def test_revoking_a_token_through_another_service_is_refused_by_the_service_layer(
    other_lead, their_service, our_token
):
    token, plain = our_token
    with pytest.raises(ValueError, match="belongs to another service"):
        token_revoke(service=their_service, token=token, by=other_lead)
    assert ServiceToken.objects.get(pk=token.pk).revoked_at is None
    assert token_for(plain) == token


# --- 5. email leaves only after the commit ---------------------------------------------------

# Long enough for a real worker to deliver an email (it takes well under a second); the
# positive control below proves it within the same test.
DELIVERY_TIMEOUT = 20.0


class RolledBack(Exception):
    pass


def delivered(subject: str) -> bool:
    return any(message.subject == subject for message in mail.outbox)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_sends_no_email_even_with_a_real_worker(
    redis_worker, review, lead, reviewer, benefits_team
):
    control = ReviewFactory(
        service=ServiceFactory(name="Claims portal", slug="claims-portal", team=benefits_team),
        by=lead,
    )
    mail.outbox.clear()

    # Submitting notifies the security reviewers; the submission is rolled back.
    with pytest.raises(RolledBack), transaction.atomic():
        services.review_transition(review=review, action="submit", by=lead)
        raise RolledBack
    assert fresh(review).state == ReviewState.DRAFT

    # Positive control: a committed submission's email arrives through the same worker.
    # The worker takes its queue in order, one task at a time, so once this email is
    # here, an email enqueued by the rolled-back change would have been delivered first.
    services.review_transition(review=control, action="submit", by=lead)
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while not delivered("[Preflight] Review submitted: Claims portal"):
        assert time.monotonic() < deadline, "the committed change's email never arrived"
        time.sleep(0.05)
    time.sleep(0.5)  # and a moment more, for any stray email behind it

    assert not delivered("[Preflight] Review submitted: Benefits portal")
    assert [m.subject for m in mail.outbox] == ["[Preflight] Review submitted: Claims portal"]
    assert mail.outbox[0].to == [reviewer.email]
