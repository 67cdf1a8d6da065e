"""A review as of a moment (issue 12, item 4): rebuilt from the history tables, equal at
every recorded moment to what was live then (a hypothesis property test over random
edits through the real services), what changed since marked, a query budget that does
not grow with the review, the page's readers and refusals, and hostile moments.

Moments are made distinct with time-machine: each step happens a second after the last,
so "as of the step's instant" and "a microsecond before it" are both exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.models import (
    Answer,
    AnswerStatus,
    Evidence,
    EvidenceKind,
    Review,
    SignOff,
    SignOffDecision,
    Waiver,
)
from reviews.record.asof import NotInRecord, review_as_of, review_now
from reviews.record.forms import moment_param
from reviews.record.since import changes_since
from reviews.workflow import IllegalTransition
from tests.factories import ChecklistVersionFactory, ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

A = AnswerStatus
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)
SECURITY = "security_reviewer"

# Two must-haves and a plain item; a security reviewer signs off (the default).
CHECKLIST = b"""---
title: As of
slug: as-of
---
## Ops
- **Backups run**
- **Alerts reach a human**
- Dashboards exist
"""


def as_of_url(review, at=None):
    url = reverse("reviews:review_as_of", args=[review.pk])
    return url if at is None else f"{url}?at={at}"


def answer_for(review, text):
    return review.answers.select_related("item").get(item__text=text)


def answer(review, text, status, by, justification="", notes=""):
    current = answer_for(review, text)
    return services.answer_update(
        answer=current,
        change=services.AnswerChange(status, justification, notes, None),
        based_on_revision=current.revision,
        by=by,
    )


def add_link(review, text, by, url="https://example.com/runbook"):
    return evidence_services.evidence_add(
        answer=answer_for(review, text),
        by=by,
        kind=EvidenceKind.LINK,
        url=url,
        effective_date=timezone.localdate(),
    )


# --- the live state, read straight from the live tables -------------------------------
# Independent of reviews.record: the property test holds the history to this.


def live_state(review) -> dict:
    r = Review.objects.get(pk=review.pk)
    return {
        "state": r.state,
        "digest": r.content_digest,
        "readiness": r.readiness_percent,
        "open_must_haves": r.open_must_haves,
        "awaiting": sorted(role for role in r.awaiting_roles.split(",") if role),
        "answers": {
            a.pk: (a.status, a.justification, a.notes, a.owner_id, a.needs_recheck, a.revision)
            for a in Answer.objects.filter(review=r)
        },
        "evidence": sorted(
            Evidence.objects.filter(
                answer__review=r, withdrawn_at=None, superseded_by__isnull=True
            ).values_list("pk", "answer_id", "kind", "url", "note", "sha256")
        ),
        "exceptions": sorted(
            (w.pk, w.answer_id, w.state, w.expires_on, w.decision_comment, w.is_valid())
            for w in Waiver.objects.filter(answer__review=r)
        ),
        "signoffs": sorted(
            (s.pk, s.role, s.decision, s.is_current)
            for s in SignOff.objects.filter(review=r).select_related("review")
        ),
    }


def seen_state(as_of) -> dict:
    """The same shape, from a ReviewAsOf."""
    r = as_of.review
    return {
        "state": r.state,
        "digest": r.content_digest,
        "readiness": r.readiness_percent,
        "open_must_haves": r.open_must_haves,
        "awaiting": sorted(r.awaiting_roles),
        "answers": {
            a.id: (a.status, a.justification, a.notes, a.owner_id, a.needs_recheck, a.revision)
            for a in as_of.answers
        },
        "evidence": sorted(
            (e.id, e.answer_id, e.kind, e.url, e.note, e.sha256) for e in as_of.evidence
        ),
        "exceptions": sorted(
            (x.id, x.answer_id, x.state, x.expires_on, x.decision_comment, x.counts)
            for x in as_of.exceptions
        ),
        "signoffs": sorted((s.id, s.role, s.decision, s.current) for s in as_of.signoffs),
    }


# --- the property -----------------------------------------------------------------------

ITEMS = ["Backups run", "Alerts reach a human", "Dashboards exist"]
item = st.integers(0, len(ITEMS) - 1)
pick = st.integers(0, 7)
steps = st.one_of(
    st.tuples(
        st.just("answer"),
        item,
        # Not met more often than the rest: exceptions need it.
        st.sampled_from(
            [A.NOT_MET, A.NOT_MET, A.PARTIALLY_MET, A.MET, A.NOT_APPLICABLE, A.NOT_STARTED]
        ),
        st.sampled_from(["Because.", "Restores tested monthly.", ""]),
        st.sampled_from(["", "See the runbook."]),
    ),
    st.tuples(st.just("evidence"), item, st.sampled_from(["link", "note", "file"])),
    st.tuples(st.just("correct"), pick),
    st.tuples(st.just("withdraw"), pick),
    st.tuples(st.just("request_exception"), pick),
    st.tuples(st.just("decide_exception"), pick, st.booleans()),
    st.tuples(st.just("submit")),
    st.tuples(st.just("sign_off"), st.booleans()),
)


def _current_evidence(review):
    return list(
        Evidence.objects.filter(
            answer__review=review, withdrawn_at=None, superseded_by__isnull=True
        ).order_by("id")
    )


def apply(step, review, lead, reviewer, n) -> bool:
    """One edit through the real services (False when there was nothing to do it to);
    refusals (a wrong state, a missing reason) are part of the sequence too: they must
    leave no trace."""
    kind, *args = step
    today = timezone.localdate()
    if kind == "answer":
        index, status, justification, notes = args
        answer(review, ITEMS[index], status, lead, justification, notes)
    elif kind == "evidence":
        index, evidence_kind = args
        target = answer_for(review, ITEMS[index])
        if evidence_kind == "file":
            upload = SimpleUploadedFile(f"proof-{n}.txt", f"proof {n}\n".encode())
            evidence_services.evidence_add(
                answer=target, by=lead, kind="file", upload=upload, effective_date=today
            )
        elif evidence_kind == "link":
            add_link(review, ITEMS[index], lead, url=f"https://example.com/proof/{n}")
        else:
            evidence_services.evidence_add(
                answer=target, by=lead, kind="note", note=f"Checked ({n}).", effective_date=today
            )
    elif kind in ("correct", "withdraw"):
        current = _current_evidence(review)
        if not current:
            return False
        chosen = current[args[0] % len(current)]
        if kind == "withdraw":
            evidence_services.evidence_withdraw(evidence=chosen, by=lead, reason=f"Wrong ({n}).")
        else:
            evidence_services.evidence_add(
                answer=chosen.answer,
                by=lead,
                kind="note",
                note=f"Corrected ({n}).",
                effective_date=today,
                supersedes=chosen,
            )
    elif kind == "request_exception":
        eligible = [
            a
            for a in review.answers.order_by("id")
            if a.may_have_exception and not a.waivers.filter(state="requested").exists()
        ]
        if not eligible:
            return False
        waivers.waiver_request(
            answer=eligible[args[0] % len(eligible)],
            by=lead,
            rationale="Low risk.",
            compensating_controls="Manual checks.",
            expires_on=today + timedelta(days=30),
        )
    elif kind == "decide_exception":
        pending = list(
            Waiver.objects.filter(answer__review=review, state="requested").order_by("id")
        )
        if not pending:
            return False
        waivers.waiver_decide(
            waiver=pending[args[0] % len(pending)], by=reviewer, approve=args[1], comment="OK."
        )
    elif kind == "submit":
        services.review_transition(review=review, action="submit", by=lead)
    elif kind == "sign_off":
        decision = SignOffDecision.APPROVE if args[0] else SignOffDecision.REQUEST_CHANGES
        signoffs.signoff_record(
            review=review, by=reviewer, role=SECURITY, decision=decision, comment="Seen."
        )
    return True


@pytest.fixture
def version(db):
    return ChecklistVersionFactory(markdown=CHECKLIST)


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    database=None,  # nothing written to the work tree; failures print their example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(steps, min_size=3, max_size=12))
# A whole flow, always tried: exceptions requested and decided, evidence corrected and
# withdrawn, a sign-off that goes stale when an edit reopens the approved review.
@example(
    sequence=[
        ("answer", 0, A.NOT_MET, "Because.", ""),
        ("evidence", 0, "file"),
        ("request_exception", 0),
        ("decide_exception", 0, True),
        ("answer", 1, A.MET, "", "See the runbook."),
        ("evidence", 1, "link"),
        ("correct", 1),
        ("submit",),
        ("sign_off", True),
        ("withdraw", 0),
        ("answer", 2, A.NOT_MET, "", ""),
        ("request_exception", 0),  # refused: a valid exception covers it already
        ("request_exception", 1),
        ("decide_exception", 0, False),
    ]
)
def test_at_every_recorded_moment_the_as_of_view_is_what_was_live(
    sequence, version, lead, reviewer, benefits_team, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    with transaction.atomic():  # each example starts from nothing: rolled back below
        with time_machine.travel(START, tick=False) as clock:
            service = ServiceFactory(team=benefits_team)
            review = ReviewFactory(service=service, checklist_version=version, by=lead)
            moments = [(timezone.now(), live_state(review), review_now(review))]
            for n, step in enumerate(sequence):
                clock.shift(STEP)
                try:
                    done = apply(step, review, lead, reviewer, n)
                except (ValidationError, IllegalTransition, PermissionDenied):
                    event(f"refused: {step[0]}")
                else:
                    event(f"{'done' if done else 'nothing to do'}: {step[0]}")
                moments.append((timezone.now(), live_state(review), review_now(review)))
        for i, (moment, live, now_then) in enumerate(moments):
            then = review_as_of(review, moment)
            assert seen_state(then) == live, (i, sequence[:i])
            assert then == now_then, (i, sequence[:i])
            if i:  # a microsecond earlier, the step had not happened yet
                earlier = review_as_of(review, moment - timedelta(microseconds=1))
                assert seen_state(earlier) == moments[i - 1][1]
        # What changed since each moment is exactly what differs from the end.
        final = moments[-1][1]["answers"]
        for moment, live, _ in moments:
            changed = {pk for pk, values in live["answers"].items() if values[:5] != final[pk][:5]}
            assert set(changes_since(review, moment).answers) == changed
        transaction.set_rollback(True)


# --- examples, and what the page shows ------------------------------------------------


@pytest.fixture
def review(service, lead, version):
    with time_machine.travel(START, tick=False):
        return ReviewFactory(service=service, checklist_version=version, by=lead)


def test_a_moment_before_the_review_started_is_not_in_the_record(review):
    with pytest.raises(NotInRecord):
        review_as_of(review, START - timedelta(seconds=1))
    assert review_as_of(review, START).review.state == "draft"


def test_the_view_shows_the_answer_and_evidence_of_then_and_marks_what_changed_since(
    review, lead, auditor, client_for
):
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        answer(review, "Backups run", A.NOT_MET, lead, "Restores untested.")
        old = add_link(review, "Backups run", lead, url="https://example.com/old-runbook")
    moment = START + timedelta(hours=2)
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        answer(review, "Backups run", A.MET, lead)
        evidence_services.evidence_withdraw(evidence=old, by=lead, reason="Outdated.")
        add_link(review, "Backups run", lead, url="https://example.com/new-runbook")

    changes = changes_since(review, moment)
    backups = answer_for(review, "Backups run")
    assert [c.label for c in changes.answers[backups.pk]] == ["Status", "Justification"]
    assert changes.evidence_gone == {old.pk}
    assert [e.url for e in changes.evidence_added] == ["https://example.com/new-runbook"]
    assert [c.label for c in changes.review][:1] == ["Readiness %"]

    response = client_for(auditor).get(as_of_url(review, moment_param(moment)))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "as of 2025-03-03 11:00:00 UTC" in page
    assert "Not met" in page and "Restores untested." in page
    assert "https://example.com/old-runbook" in page
    # Marked in words: the answer, its new status, the withdrawn and the added evidence.
    assert "Changed since" in page and "Status now: <mark>Met</mark> (then: Not met)" in page
    assert "Withdrawn or replaced since" in page
    assert "Added since" in page and "https://example.com/new-runbook" in page
    # Printable: the moment, and when it was printed.
    assert "Printed from Preflight" in page and 'class="preflight-print-only"' in page
    assert "Download audit pack" in page


def test_nothing_changed_since_says_so(review, auditor, client_for):
    page = client_for(auditor).get(as_of_url(review)).content.decode()
    assert "Nothing in this review has changed since." in page
    assert not changes_since(review, timezone.now()).any


def test_sign_offs_current_then_and_stale_since(review, lead, reviewer):
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        for text in ("Backups run", "Alerts reach a human"):
            answer(review, text, A.MET, lead)
        services.review_transition(review=review, action="submit", by=lead)
        signoffs.signoff_record(
            review=review, by=reviewer, role=SECURITY, decision=SignOffDecision.APPROVE
        )
    moment = START + timedelta(hours=2)
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        answer(review, "Dashboards exist", A.MET, lead)  # reopens: the approval goes stale
    then = review_as_of(review, moment)
    assert then.review.state_label == "Approved"
    assert [(s.role_label, s.current) for s in then.signoffs] == [("Security reviewer", True)]
    changes = changes_since(review, moment)
    assert changes.signoffs_stale == {then.signoffs[0].id}
    assert [c.label for c in changes.review][:1] == ["State"]


def test_exceptions_show_their_state_then(review, lead, reviewer):
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        answer(review, "Backups run", A.NOT_MET, lead, "Not yet.")
        waiver = waivers.waiver_request(
            answer=answer_for(review, "Backups run"),
            by=lead,
            rationale="Low risk.",
            compensating_controls="Manual copies.",
            expires_on=timezone.localdate() + timedelta(days=30),
        )
    moment = START + timedelta(hours=2)
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    (then,) = review_as_of(review, moment).exceptions
    assert (then.state_label, then.counts) == ("Requested", False)
    with time_machine.travel(START + timedelta(hours=4), tick=False):
        changed = changes_since(review, moment).exceptions_changed[waiver.pk]
    assert [(c.label, c.then, c.now) for c in changed] == [
        ("State", "Requested", "Approved"),
        ("Counts", "no", "yes"),
    ]
    # Past its expiry date it no longer counts, whatever its state says.
    with time_machine.travel(START + timedelta(days=40), tick=False):
        lapsed = review_as_of(review, timezone.now()).exceptions[0]
    assert (lapsed.state_label, lapsed.counts) == ("Approved", False)


def test_reading_a_review_as_of_a_moment_takes_the_same_queries_however_big_it_is(
    review, lead, service, django_assert_num_queries
):
    # The review, its service, the version, its items, then answers, evidence,
    # exceptions and sign-offs (each the newest row per record), and the people named.
    with django_assert_num_queries(9):
        small = review_as_of(review, timezone.now())
    assert len(small.answers) == 3

    big_version = ChecklistVersionFactory(
        markdown=b"## Ops\n" + b"".join(f"- **Item {i}**\n".encode() for i in range(30))
    )
    big = ReviewFactory(service=service, checklist_version=big_version, by=lead)
    for text in ("Item 0", "Item 1", "Item 2"):
        answer(big, text, A.NOT_MET, lead, "Not yet.")
        add_link(big, text, lead)
        add_link(big, text, lead)
        waivers.waiver_request(
            answer=answer_for(big, text),
            by=lead,
            rationale="Low risk.",
            compensating_controls="Manual.",
            expires_on=timezone.localdate() + timedelta(days=10),
        )
    with django_assert_num_queries(9):
        seen = review_as_of(big, timezone.now())
    assert len(seen.answers) == 30 and len(seen.evidence) == 6 and len(seen.exceptions) == 3


def test_the_page_takes_a_fixed_number_of_queries(
    review, lead, auditor, client_for, django_assert_max_num_queries
):
    for text in ITEMS:
        answer(review, text, A.MET, lead)
        add_link(review, text, lead)
    client = client_for(auditor)
    client.get("/")  # the session and the security policy exist from here on
    # Session, user, roles, the review (4); the moment's view: the review, service,
    # version, items, answers, evidence, exceptions, sign-offs, people (9); now's from
    # the live tables: the same but the service, joined to the review (8).
    with django_assert_max_num_queries(21):
        assert client.get(as_of_url(review)).status_code == 200


# --- who may read it ------------------------------------------------------------------

READERS = {"lead", "reviewer", "manager", "auditor", "admin"}


@pytest.mark.parametrize(
    "who", ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]
)
def test_whoever_reads_the_review_reads_it_as_of_a_moment_and_nobody_else(
    cast, client_for, review, who
):
    response = client_for(cast[who]).get(as_of_url(review))
    # Outside the review's readers it is not found, exactly as the review page is.
    assert response.status_code == (200 if who in READERS else 404), who
    assert client_for(cast[who]).get(review.get_absolute_url()).status_code == response.status_code


def test_signed_out_visitors_are_sent_to_sign_in(client, review):
    response = client.get(as_of_url(review))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_review_page_links_to_the_as_of_view(review, lead, client_for):
    page = client_for(lead).get(review.get_absolute_url()).content.decode()
    assert f'href="{as_of_url(review)}"' in page and "As of a moment" in page


# --- hostile moments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("yesterday", "That is not a moment"),
        ("2025-02-30T10:00", "That is not a moment"),
        ("2025-03-03T25:00", "That is not a moment"),
        ("9999-12-31T23:59:59", "in the future"),
        ("2999-01-01T00:00", "in the future"),
        ("99999-01-01T00:00", "That is not a moment"),
        ("2025-03-03T10:00:00+99:00", "That is not a moment"),
        ("2025-03-03%00T10:00", "That is not a moment"),
        ("%00", "That is not a moment"),
        ("2" * 10_000, "That is not a moment"),
        ("<script>alert(1)</script>", "That is not a moment"),
    ],
)
def test_a_moment_that_is_not_one_is_a_form_error_never_a_500(
    review, auditor, client_for, at, message
):
    response = client_for(auditor).get(as_of_url(review, at))
    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert "<script>alert(1)</script>" not in response.content.decode()


@pytest.mark.parametrize("at", ["0001-01-01T00:00", "1970-01-01T00:00:00", "2025-03-03T08:59:59"])
def test_a_moment_before_the_review_existed_says_so(review, auditor, client_for, at):
    response = client_for(auditor).get(as_of_url(review, at))
    assert response.status_code == 200
    page = response.content.decode()
    assert "did not exist yet" in page and "It was started on 2025-03-03 09:00:00 UTC" in page
    assert "Download audit pack" not in page


def test_an_empty_moment_means_now(review, auditor, client_for):
    response = client_for(auditor).get(as_of_url(review, ""))
    assert response.status_code == 200
    assert "Nothing in this review has changed since." in response.content.decode()


def test_a_link_names_the_moment_to_the_microsecond(review, lead):
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        answer(review, "Backups run", A.MET, lead)
        moment = timezone.now()
    assert moment_param(moment) == "2025-03-03T10:00:00.000000"
    # The answer was written at exactly that instant: included at it, not a microsecond before.
    assert review_as_of(review, moment).answers[0].status == A.MET
    before = review_as_of(review, moment - timedelta(microseconds=1))
    assert before.answers[0].status == A.NOT_STARTED


def test_moments_are_read_as_utc_with_or_without_an_offset(review, auditor, client_for):
    plain = client_for(auditor).get(as_of_url(review, "2025-03-03T09:30:00"))
    offset = client_for(auditor).get(as_of_url(review, "2025-03-03T11:30:00%2B02:00"))
    assert plain.status_code == offset.status_code == 200
    assert "as of 2025-03-03 09:30:00 UTC" in plain.content.decode()
    assert "as of 2025-03-03 09:30:00 UTC" in offset.content.decode()


def test_the_picker_shows_now_when_no_moment_is_asked_for(review, auditor, client_for):
    page = client_for(auditor).get(as_of_url(review)).content.decode()
    assert 'type="datetime-local"' in page
    with time_machine.travel(START + timedelta(hours=5), tick=False):
        page = client_for(auditor).get(as_of_url(review)).content.decode()
    assert 'value="2025-03-03T14:00:00"' in page
    assert "as of 2025-03-03 14:00:00 UTC" in page
