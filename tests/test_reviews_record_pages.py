"""Evidence, comments, exceptions, sign-offs and the queue over HTTP: roles and bad input."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from reviews import evidence as evidence_services
from reviews import services, waivers
from reviews.models import (
    AnswerStatus,
    Comment,
    Evidence,
    EvidenceKind,
    Review,
    ReviewState,
    Service,
    SignOff,
    Waiver,
    WaiverState,
)
from tests.conftest import PASSWORD
from tests.factories import ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

# ``review`` and ``answer`` (its must-have, "Backups run") are the shared ones in conftest.

CAST = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]


def url(review, answer, tail):
    return f"/reviews/{review.pk}/answers/{answer.pk}/{tail}"


def item_url(review, answer):
    """The item's own page: its editor, with evidence, exceptions and comments."""
    return f"/reviews/{review.pk}/items/{answer.pk}/"


def link_evidence(**overrides):
    data = {
        "kind": "link",
        "url": "https://example.com/report",
        "effective_date": date.today().isoformat(),
    }
    return data | overrides


# --- evidence ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", CAST)
def test_only_the_owning_team_adds_evidence(cast, client_for, review, answer, who):
    response = client_for(cast[who]).post(url(review, answer, "evidence/"), link_evidence())
    if who == "lead":
        assert response.status_code == 302
        assert Evidence.objects.count() == 1
    else:
        # Those who may not read the review are told it does not exist.
        assert response.status_code == (404 if who in {"other_lead", "nobody"} else 403), who
        assert Evidence.objects.count() == 0


def test_anonymous_visitors_are_sent_to_sign_in(review, answer):
    response = Client().post(url(review, answer, "evidence/"), link_evidence())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Evidence.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (link_evidence(url="javascript:alert(1)"), "Enter a valid URL"),
        (link_evidence(url="not a url"), "Enter a valid URL"),
        (link_evidence(url=""), "Give the link"),
        (link_evidence(effective_date="2026-13-45"), "Enter a valid date"),
        (link_evidence(effective_date=""), "This field is required"),
        (link_evidence(fresh_until="2000-01-01"), "cannot be before the effective date"),
        (link_evidence(kind="telepathy"), "Select a valid choice"),
        (
            {"kind": "note", "note": "   ", "effective_date": date.today().isoformat()},
            "Write the note",
        ),
    ],
)
def test_bad_evidence_gets_a_clear_400_and_nothing_is_saved(
    client_for, lead, review, answer, data, message
):
    response = client_for(lead).post(url(review, answer, "evidence/"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Evidence.objects.count() == 0


def test_a_100_mb_upload_is_refused_and_nothing_is_saved(
    client_for, lead, review, answer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    big = SimpleUploadedFile("huge.txt", b"x" * (100 * 1024 * 1024), content_type="text/plain")
    response = client_for(lead).post(
        url(review, answer, "evidence/"), {**link_evidence(kind="file"), "file": big}
    )
    assert response.status_code == 400
    assert "the limit is 20 MB" in response.content.decode()
    assert Evidence.objects.count() == 0
    assert not any(tmp_path.rglob("*.txt"))


def test_a_file_whose_content_is_not_its_type_is_refused(
    client_for, lead, review, answer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    fake = SimpleUploadedFile(
        "report.pdf", b"<script>alert(1)</script>", content_type="application/pdf"
    )
    response = client_for(lead).post(
        url(review, answer, "evidence/"), {**link_evidence(kind="file"), "file": fake}
    )
    assert response.status_code == 400
    assert "not PDF" in response.content.decode()
    assert Evidence.objects.count() == 0


def test_evidence_files_are_downloaded_only_by_those_who_read_the_review(
    cast, client_for, lead, review, answer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    evidence = evidence_services.evidence_add(
        answer=answer,
        by=lead,
        kind=EvidenceKind.FILE,
        upload=SimpleUploadedFile("restore.txt", b"restore ok\n"),
        effective_date=date.today(),
    )
    for who in CAST:
        response = client_for(cast[who]).get(f"/evidence/{evidence.pk}/file/")
        if who in {"lead", "reviewer", "manager", "auditor", "admin"}:
            assert response.status_code == 200, who
            assert b"".join(response.streaming_content) == b"restore ok\n"
            assert response["Content-Disposition"].startswith("attachment")
            assert response["X-Content-Type-Options"] == "nosniff"
            assert "no-store" in response["Cache-Control"]
        else:
            assert response.status_code == 404, who


def test_forged_ids_of_another_teams_answer_are_not_found(client_for, other_lead, review, answer):
    response = client_for(other_lead).post(url(review, answer, "evidence/"), link_evidence())
    assert response.status_code == 404
    response = client_for(other_lead).post(url(review, answer, "exceptions/"), {})
    assert response.status_code == 404
    assert Evidence.objects.count() == 0 and Waiver.objects.count() == 0


def test_an_answer_id_from_another_review_is_not_found(
    client_for, lead, review, answer, benefits_team
):
    other = services.review_start(
        service=Service.objects.create(name="Other", slug="other", team=benefits_team),
        checklist_version=review.checklist_version,
        by=lead,
    )
    response = client_for(lead).post(url(other, answer, "evidence/"), link_evidence())
    assert response.status_code == 404
    assert Evidence.objects.count() == 0


def test_withdrawing_evidence_needs_a_reason_and_keeps_the_record(client_for, lead, review, answer):
    evidence = evidence_services.evidence_add(
        answer=answer, by=lead, kind=EvidenceKind.NOTE, note="n", effective_date=date.today()
    )
    client = client_for(lead)
    refused = client.post(url(review, answer, f"evidence/{evidence.pk}/withdraw/"), {"reason": ""})
    assert refused.status_code == 400
    done = client.post(
        url(review, answer, f"evidence/{evidence.pk}/withdraw/"), {"reason": "Wrong file"}
    )
    assert done.status_code == 302
    evidence.refresh_from_db()
    assert evidence.withdrawn_at is not None and evidence.withdrawal_reason == "Wrong file"
    page = client.get(item_url(review, answer)).content.decode()
    assert "withdrawn by lead@example.com: Wrong file" in page


def test_script_in_a_note_is_shown_as_text(client_for, lead, reviewer, review, answer):
    client_for(lead).post(
        url(review, answer, "evidence/"),
        {
            "kind": "note",
            "note": "<script>alert(1)</script>",
            "effective_date": date.today().isoformat(),
        },
    )
    page = client_for(reviewer).get(item_url(review, answer)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- comments -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", CAST)
def test_the_team_reviewers_and_managers_comment(cast, client_for, review, answer, who):
    response = client_for(cast[who]).post(url(review, answer, "comments/"), {"body": "Looks fine"})
    allowed = {"lead", "reviewer", "manager"}
    refused = 404 if who in {"other_lead", "nobody"} else 403
    assert response.status_code == (302 if who in allowed else refused), who
    assert Comment.objects.count() == (1 if who in allowed else 0)


def test_comments_are_visible_to_everyone_who_reads_the_review(
    client_for, reviewer, auditor, review, answer
):
    client_for(reviewer).post(
        url(review, answer, "comments/"), {"body": "Where is the restore test?"}
    )
    assert (
        "Where is the restore test?"
        in client_for(auditor).get(item_url(review, answer)).content.decode()
    )
    # The overview counts it on the item's row.
    overview = client_for(auditor).get(review.get_absolute_url()).content.decode()
    assert "1 comment<" in overview
    empty = client_for(reviewer).post(url(review, answer, "comments/"), {"body": ""})
    assert empty.status_code == 400
    assert Comment.objects.count() == 1


# --- exceptions ----------------------------------------------------------------------------


def unmet(answer, lead):
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.NOT_MET, "Soon", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )


def test_requesting_an_exception_validates_the_expiry(client_for, lead, review, answer):
    unmet(answer, lead)
    client = client_for(lead)
    base = {"rationale": "r", "compensating_controls": "c"}
    too_far = client.post(
        url(review, answer, "exceptions/"),
        {**base, "expires_on": (date.today() + timedelta(days=400)).isoformat()},
    )
    assert too_far.status_code == 400 and "at most 180 days" in too_far.content.decode()
    bad_date = client.post(url(review, answer, "exceptions/"), {**base, "expires_on": "tomorrow"})
    assert bad_date.status_code == 400
    assert Waiver.objects.count() == 0
    ok = client.post(
        url(review, answer, "exceptions/"),
        {**base, "expires_on": (date.today() + timedelta(days=30)).isoformat()},
    )
    assert ok.status_code == 302
    assert Waiver.objects.get().state == WaiverState.REQUESTED


@pytest.mark.parametrize("who", CAST)
def test_only_security_reviewers_and_managers_decide_exceptions(
    cast, client_for, lead, review, answer, who
):
    waiver = waivers.waiver_request(
        answer=unmet(answer, lead),
        by=lead,
        rationale="r",
        compensating_controls="c",
        expires_on=date.today() + timedelta(days=30),
    )
    response = client_for(cast[who]).post(
        url(review, answer, f"exceptions/{waiver.pk}/decide/"), {"decision": "approve"}
    )
    waiver.refresh_from_db()
    if who in {"reviewer", "manager"}:
        assert response.status_code == 302
        assert waiver.state == WaiverState.APPROVED
    else:
        assert response.status_code == (404 if who in {"other_lead", "nobody"} else 403), who
        assert waiver.state == WaiverState.REQUESTED


# --- sign-offs and the queue ----------------------------------------------------------------


def submit(review, lead):
    services.review_transition(review=review, action="submit", by=lead)


@pytest.mark.parametrize("who", ["lead", "other_lead", "manager", "auditor", "admin", "nobody"])
def test_only_reviewers_reach_the_sign_off_page(cast, client_for, lead, review, who):
    submit(review, lead)
    response = client_for(cast[who]).get(f"/reviews/{review.pk}/sign-off/")
    # Refused at once: asking for a password first would be pointless.
    assert response.status_code == (404 if who in {"other_lead", "nobody"} else 403), who
    assert "Location" not in response
    if response.status_code == 403:
        assert b"Only reviewers sign off reviews." in response.content
    assert not SignOff.objects.exists()


def test_a_reviewer_is_asked_for_the_password_only_when_the_sign_off_could_go_ahead(
    client_for, lead, reviewer, review
):
    client = client_for(reviewer)
    # A draft cannot be signed: said at once, without asking for a password.
    response = client.get(f"/reviews/{review.pk}/sign-off/")
    assert response.status_code == 302 and response["Location"] == review.get_absolute_url()
    submit(review, lead)
    response = client.get(f"/reviews/{review.pk}/sign-off/")
    assert response.status_code == 302 and "/accounts/reauthenticate/" in response["Location"]


def signed_in(email):
    """A client that signed in and then re-authenticated, as signing requires."""
    client = Client()
    client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def test_a_reviewer_signs_off_after_signing_in_and_the_review_leaves_the_queue(
    client_for, lead, reviewer, review, answer
):
    for each in review.answers.all():
        services.answer_update(
            answer=each,
            change=services.AnswerChange(AnswerStatus.MET, "", "", None),
            based_on_revision=each.revision,
            by=lead,
        )
    submit(review, lead)
    client = signed_in(reviewer.email)
    queue = client.get("/queue/").content.decode()
    assert "Benefits portal" in queue and "Security reviewer" in queue
    # Role names, not codes (the role filter's option values are codes).
    assert re.search(r">[^<]*security_reviewer", queue) is None
    form = client.get(f"/reviews/{review.pk}/sign-off/")
    assert form.status_code == 200
    bad = client.post(f"/reviews/{review.pk}/sign-off/", {"role": "manager", "decision": "approve"})
    assert bad.status_code == 400
    done = client.post(
        f"/reviews/{review.pk}/sign-off/",
        {"role": "security_reviewer", "decision": "approve", "comment": "ok"},
    )
    assert done.status_code == 302
    assert Review.objects.get(pk=review.pk).state == ReviewState.APPROVED
    assert "No reviews are waiting on you" in client.get("/queue/").content.decode()


def test_the_queue_lists_the_oldest_submission_first_and_only_for_the_roles_it_needs(
    client_for, lead, reviewer, manager, review, benefits_team
):
    newer = services.review_start(
        service=Service.objects.create(name="Zeta service", slug="zeta", team=benefits_team),
        checklist_version=review.checklist_version,
        by=lead,
    )
    submit(review, lead)
    submit(newer, lead)
    html = client_for(reviewer).get("/queue/").content.decode()
    assert html.index("Benefits portal") < html.index("Zeta service")
    assert client_for(manager).get("/queue/").status_code == 403


def test_the_queue_costs_the_same_whatever_its_length(
    client_for, lead, reviewer, review, benefits_team, django_assert_num_queries
):
    submit(review, lead)
    client = client_for(reviewer)
    client.get("/queue/")
    waiting = [review]
    for added in (0, 5):
        for n in range(added):
            extra = ReviewFactory(
                service=ServiceFactory(name=f"S{n}", slug=f"s-{n}", team=benefits_team),
                checklist_version=review.checklist_version,
                by=lead,
            )
            submit(extra, lead)
            waiting.append(extra)
        # session, user, roles (groups), security policy (the MFA rule for reviewers),
        # the page's count, one page of reviews, their services, their checklist versions
        with django_assert_num_queries(8):
            response = client.get("/queue/")
        # Every waiting review is listed, oldest first, with what the row shows from the
        # joined rows: not just within budget.
        html = response.content.decode()
        rows = re.findall(r'<th scope="row"><a href="([^"]+)">([^<]+)</a>', html)
        assert rows == [(r.get_absolute_url(), r.service.name) for r in waiting]
        title = f"{review.checklist_version.checklist.title} v{review.checklist_version.number}"
        assert html.count(title) == len(waiting)
        assert html.count("Benefits Team") == len(waiting)
        assert html.count("<td>Security reviewer</td>") == len(waiting)
