"""The whole review flow at the service level: evidence, exceptions, sign-offs, staleness."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from checklists.parsers import parse_file
from checklists.services import checklist_import
from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.models import (
    AnswerStatus,
    EvidenceKind,
    ReviewState,
    SignOff,
    Waiver,
    WaiverState,
)
from reviews.readiness import is_ready, missing_approvals
from reviews.workflow import IllegalTransition
from tests.factories import ChecklistVersionFactory, ReviewFactory

pytestmark = pytest.mark.django_db

CHECKLIST = b"""---
title: Flow
slug: flow
---
## Ops
- **Backups are taken**
- **Alerts reach a human**
- Dashboards exist
"""


@pytest.fixture
def review(service, lead):
    """The shared Benefits service, reviewed on a checklist with two must-haves."""
    return ReviewFactory(
        service=service, checklist_version=ChecklistVersionFactory(markdown=CHECKLIST), by=lead
    )


def answer_for(review, text):
    return review.answers.select_related("item").get(item__text=text)


def set_status(review, text, status, by, justification=""):
    answer = answer_for(review, text)
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(status, justification, "", None),
        based_on_revision=answer.revision,
        by=by,
    )


def fresh(review):
    review.refresh_from_db()
    return review


def test_a_review_is_approved_by_the_required_role_and_goes_stale_on_edit(
    review, lead, reviewer, django_capture_on_commit_callbacks
):
    set_status(review, "Backups are taken", AnswerStatus.MET, lead)
    set_status(review, "Alerts reach a human", AnswerStatus.NOT_MET, lead, "Pager not bought yet")
    backups = answer_for(review, "Backups are taken")
    evidence_services.evidence_add(
        answer=backups,
        by=lead,
        kind=EvidenceKind.LINK,
        url="https://example.com/backup-report",
        effective_date=date.today(),
    )
    alerts = answer_for(review, "Alerts reach a human")
    waiver = waivers.waiver_request(
        answer=alerts,
        by=lead,
        rationale="Launch is internal-only for a month",
        compensating_controls="Daily manual check of the dashboard",
        expires_on=date.today() + timedelta(days=30),
    )
    assert fresh(review).open_must_haves == 1  # a requested exception does not count yet
    waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True, comment="OK for 30 days")
    assert fresh(review).open_must_haves == 0
    assert fresh(review).waived_must_haves == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.review_transition(review=review, action="submit", by=lead)
    assert any("Review submitted" in m.subject for m in mail.outbox)
    assert missing_approvals(fresh(review)) == ["security_reviewer"]

    with django_capture_on_commit_callbacks(execute=True):
        signoffs.signoff_record(
            review=fresh(review), by=reviewer, role="security_reviewer", decision="approve"
        )
    review = fresh(review)
    assert review.state == ReviewState.APPROVED
    assert is_ready(review)
    assert any(m.subject.startswith("[Preflight] Approved") for m in mail.outbox)

    # An edit reopens the review and makes the sign-off stale.
    set_status(review, "Dashboards exist", AnswerStatus.MET, lead)
    review = fresh(review)
    assert review.state == ReviewState.DRAFT
    stale = SignOff.objects.get(review=review)
    assert stale.content_digest != review.content_digest
    assert missing_approvals(review) == ["security_reviewer"]
    assert not is_ready(review)


def test_nobody_signs_off_a_review_they_edited(review, lead, reviewer):
    from portal.accounts import services as account_services
    from portal.accounts.roles import Role

    # A reviewer who is also a product lead of the team edits, then tries to sign.
    account_services.user_set_roles(
        user=reviewer, roles={Role.SECURITY_REVIEWER, Role.PRODUCT_LEAD}, reason="test"
    )
    reviewer.teams.add(review.service.team)
    reviewer.forget_roles()
    set_status(review, "Backups are taken", AnswerStatus.MET, reviewer)
    services.review_transition(review=review, action="submit", by=lead)
    with pytest.raises(PermissionDenied, match="cannot sign it off"):
        signoffs.signoff_record(
            review=fresh(review), by=reviewer, role="security_reviewer", decision="approve"
        )
    assert not SignOff.objects.exists()


def test_sign_offs_need_the_role_a_submitted_review_and_a_reason_to_send_back(
    review, lead, reviewer, manager
):
    with pytest.raises(IllegalTransition, match="cannot be signed off now"):
        signoffs.signoff_record(
            review=review, by=reviewer, role="security_reviewer", decision="approve"
        )
    services.review_transition(review=review, action="submit", by=lead)
    with pytest.raises(PermissionDenied, match="do not hold"):
        signoffs.signoff_record(
            review=fresh(review), by=manager, role="security_reviewer", decision="approve"
        )
    with pytest.raises(ValidationError):
        signoffs.signoff_record(
            review=fresh(review), by=reviewer, role="manager", decision="approve"
        )
    with pytest.raises(ValidationError, match="Say what needs to change"):
        signoffs.signoff_record(
            review=fresh(review), by=reviewer, role="security_reviewer", decision="request_changes"
        )
    signoffs.signoff_record(
        review=fresh(review),
        by=reviewer,
        role="security_reviewer",
        decision="request_changes",
        comment="Add backup evidence",
    )
    assert fresh(review).state == ReviewState.CHANGES_REQUESTED


def test_an_approval_with_open_must_haves_does_not_approve_the_review(review, lead, reviewer):
    services.review_transition(review=review, action="submit", by=lead)
    signoffs.signoff_record(
        review=fresh(review), by=reviewer, role="security_reviewer", decision="approve"
    )
    review = fresh(review)
    assert review.state == ReviewState.SUBMITTED
    assert review.open_must_haves == 2
    assert not is_ready(review)


def test_self_approval_of_an_exception_is_refused(review, lead, reviewer, manager):
    set_status(review, "Backups are taken", AnswerStatus.NOT_MET, lead, "Not yet")
    waiver = waivers.waiver_request(
        answer=answer_for(review, "Backups are taken"),
        by=lead,
        rationale="r",
        compensating_controls="c",
        expires_on=date.today() + timedelta(days=10),
    )
    with pytest.raises(PermissionDenied, match="Only security reviewers and managers"):
        waivers.waiver_decide(waiver=waiver, by=lead, approve=True)
    waiver.requested_by = manager
    waiver.save()
    with pytest.raises(PermissionDenied, match="their own exception"):
        waivers.waiver_decide(waiver=waiver, by=manager, approve=True)
    assert Waiver.objects.get(pk=waiver.pk).state == WaiverState.REQUESTED


@pytest.mark.parametrize(
    ("days", "message"), [(0, "must be in the future"), (181, "at most 180 days"), (-3, "future")]
)
def test_an_exception_needs_an_expiry_within_the_limit(review, lead, days, message):
    set_status(review, "Backups are taken", AnswerStatus.NOT_MET, lead, "Not yet")
    with pytest.raises(ValidationError, match=message):
        waivers.waiver_request(
            answer=answer_for(review, "Backups are taken"),
            by=lead,
            rationale="r",
            compensating_controls="c",
            expires_on=date.today() + timedelta(days=days),
        )


def test_exceptions_are_only_for_unmet_items(review, lead):
    with pytest.raises(ValidationError, match="not met"):
        waivers.waiver_request(
            answer=answer_for(review, "Backups are taken"),
            by=lead,
            rationale="r",
            compensating_controls="c",
            expires_on=date.today() + timedelta(days=10),
        )


def test_an_expired_exception_blocks_readiness_again_and_reminders_go_out_once(
    review, lead, reviewer, django_capture_on_commit_callbacks
):
    start = date(2026, 11, 1)
    with time_machine.travel(start, tick=False):
        set_status(review, "Backups are taken", AnswerStatus.MET, lead)
        set_status(review, "Alerts reach a human", AnswerStatus.NOT_MET, lead, "Pager later")
        waiver = waivers.waiver_request(
            answer=answer_for(review, "Alerts reach a human"),
            by=lead,
            rationale="r",
            compensating_controls="c",
            expires_on=start + timedelta(days=20),
        )
        waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
        assert fresh(review).open_must_haves == 0

    def run(day: date) -> tuple[int, int]:
        with time_machine.travel(day, tick=False), django_capture_on_commit_callbacks(execute=True):
            return waivers.waivers_expire()

    mail.outbox.clear()
    assert run(start + timedelta(days=5)) == (0, 0)  # 15 days left: nothing yet
    assert run(start + timedelta(days=6)) == (0, 1)  # 14 days left
    assert run(start + timedelta(days=7)) == (0, 0)  # already reminded
    assert run(start + timedelta(days=17)) == (0, 1)  # 3 days left
    assert run(start + timedelta(days=20)) == (0, 0)  # last valid day
    assert run(start + timedelta(days=21)) == (1, 0)  # past its date: expired
    assert run(start + timedelta(days=22)) == (0, 0)
    subjects = [m.subject for m in mail.outbox]
    assert sum("Exception expiring" in s for s in subjects) == 2
    assert sum("Exception expired" in s for s in subjects) == 1
    assert Waiver.objects.get(pk=waiver.pk).state == WaiverState.EXPIRED
    assert fresh(review).open_must_haves == 1


def test_evidence_is_append_only(review, lead):
    answer = answer_for(review, "Backups are taken")
    first = evidence_services.evidence_add(
        answer=answer,
        by=lead,
        kind=EvidenceKind.NOTE,
        note="Nightly snapshots",
        effective_date=date.today(),
    )
    second = evidence_services.evidence_add(
        answer=answer,
        by=lead,
        kind=EvidenceKind.NOTE,
        note="Nightly snapshots, kept 35 days",
        effective_date=date.today(),
        supersedes=first,
    )
    assert second.supersedes == first
    with pytest.raises(ValidationError, match="Only current evidence"):
        evidence_services.evidence_add(
            answer=answer,
            by=lead,
            kind=EvidenceKind.NOTE,
            note="x",
            effective_date=date.today(),
            supersedes=first,
        )
    withdrawn = evidence_services.evidence_withdraw(evidence=second, by=lead, reason="Wrong system")
    assert withdrawn.withdrawn_by == lead
    assert answer.evidence.count() == 2  # nothing was deleted
    with pytest.raises(ValidationError, match="already withdrawn"):
        evidence_services.evidence_withdraw(evidence=second, by=lead, reason="again")


def test_uploaded_files_are_checked_hashed_and_stored(review, lead, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    answer = answer_for(review, "Backups are taken")
    pdf = SimpleUploadedFile(
        "restore-test.pdf", b"%PDF-1.7\n...report...", content_type="application/pdf"
    )
    evidence = evidence_services.evidence_add(
        answer=answer, by=lead, kind=EvidenceKind.FILE, upload=pdf, effective_date=date.today()
    )
    import hashlib

    assert evidence.sha256 == hashlib.sha256(b"%PDF-1.7\n...report...").hexdigest()
    assert evidence.original_name == "restore-test.pdf"
    assert evidence.file.read() == b"%PDF-1.7\n...report..."
    for name, content, message in [
        ("fake.pdf", b"<html><script>alert(1)</script>", "not PDF"),
        ("tool.exe", b"MZ....", "not accepted"),
        ("notes.txt", b"\x00\x01binary", "binary"),
    ]:
        with pytest.raises(ValidationError, match=message):
            evidence_services.evidence_add(
                answer=answer,
                by=lead,
                kind=EvidenceKind.FILE,
                upload=SimpleUploadedFile(name, content),
                effective_date=date.today(),
            )
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationError, match="the limit is"):
        evidence_services.evidence_add(
            answer=answer,
            by=lead,
            kind=EvidenceKind.FILE,
            upload=SimpleUploadedFile("big.txt", b"x" * 11),
            effective_date=date.today(),
        )
    assert answer.evidence.count() == 1


def test_a_submitted_review_takes_no_new_evidence(review, lead):
    services.review_transition(review=review, action="submit", by=lead)
    with pytest.raises(IllegalTransition):
        evidence_services.evidence_add(
            answer=answer_for(review, "Backups are taken"),
            by=lead,
            kind=EvidenceKind.NOTE,
            note="late",
            effective_date=date.today(),
        )


def test_a_re_review_carries_unchanged_answers_and_evidence_and_flags_changed_items(review, lead):
    set_status(review, "Backups are taken", AnswerStatus.MET, lead)
    set_status(review, "Dashboards exist", AnswerStatus.MET, lead)
    evidence_services.evidence_add(
        answer=answer_for(review, "Backups are taken"),
        by=lead,
        kind=EvidenceKind.LINK,
        url="https://example.com/backups",
        effective_date=date.today(),
    )
    newer = CHECKLIST.replace(
        b"- Dashboards exist", b"- Dashboards exist for every service {#dashboards-exist}"
    ).replace(b"- **Alerts reach a human**", b"- **Alerts reach a human**\n- Runbooks are written")
    v2 = checklist_import(
        parsed=parse_file("flow.md", newer).checklist, by=None, publish=True
    ).version
    assert v2.number == 2
    second = services.review_start(
        service=review.service, checklist_version=v2, kind="periodic", by=lead
    )
    assert second.previous_review == review
    backups = answer_for(second, "Backups are taken")
    assert backups.status == AnswerStatus.MET and not backups.needs_recheck
    assert [e.url for e in backups.evidence.all()] == ["https://example.com/backups"]
    changed = answer_for(second, "Dashboards exist for every service")
    assert changed.needs_recheck and changed.status == AnswerStatus.NOT_STARTED
    new_item = answer_for(second, "Runbooks are written")
    assert not new_item.needs_recheck and new_item.carried_from is None
    assert fresh(second).met_count == 1
    assert second.answers.first().history.count() == 1


def test_the_expiry_job_is_scheduled_in_beat_and_runs_as_a_task(review, lead, reviewer, settings):
    from portal.celery import app
    from reviews.tasks import expire_waivers

    schedule = settings.CELERY_BEAT_SCHEDULE["expire-exceptions"]
    assert schedule["task"] == expire_waivers.name
    assert expire_waivers.name in app.tasks
    set_status(review, "Backups are taken", AnswerStatus.NOT_MET, lead, "Soon")
    waiver = waivers.waiver_request(
        answer=answer_for(review, "Backups are taken"),
        by=lead,
        rationale="r",
        compensating_controls="c",
        expires_on=date.today() + timedelta(days=2),
    )
    waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    with time_machine.travel(date.today() + timedelta(days=3), tick=False):
        assert expire_waivers.delay().get() == {"expired": 1, "reminded": 0}
    assert Waiver.objects.get(pk=waiver.pk).state == WaiverState.EXPIRED
