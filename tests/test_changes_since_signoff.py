"""Changes since a sign-off (issue 13, item 7): the selector the overview's "changed since"
filters use (which answers changed since a moment, in one query whatever the review
holds), a person's latest sign-off, and the page that says what changed since a sign-off,
field by field, and who changed it.

Moments are made distinct with time-machine: each step happens an hour after the last.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.accounts import services as account_services
from portal.accounts.roles import Role
from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.models import AnswerStatus, EvidenceKind, SignOffDecision
from reviews.record.changed import changed_answer_ids, changes_by_answer, latest_signoff_moment
from tests.conftest import PASSWORD
from tests.factories import ChecklistVersionFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

A = AnswerStatus
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECURITY = "security_reviewer"

# Two must-haves and a plain item; a security reviewer signs off (the default).
CHECKLIST = b"""---
title: Since
slug: since
---
## Ops
- **Backups run**
- **Alerts reach a human**
- Dashboards exist
"""


def at(hours: float):
    return time_machine.travel(START + timedelta(hours=hours), tick=False)


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


def add_link(review, text, by, url):
    return evidence_services.evidence_add(
        answer=answer_for(review, text),
        by=by,
        kind=EvidenceKind.LINK,
        url=url,
        effective_date=timezone.localdate(),
    )


def request_exception(review, text, by, days=30):
    return waivers.waiver_request(
        answer=answer_for(review, text),
        by=by,
        rationale="Low risk for a month.",
        compensating_controls="Manual copies every night.",
        expires_on=timezone.localdate() + timedelta(days=days),
    )


def sign_off(review, by, decision=SignOffDecision.APPROVE, comment=""):
    return signoffs.signoff_record(
        review=review, by=by, role=SECURITY, decision=decision, comment=comment
    )


def page_url(review, signoff=None):
    url = reverse("reviews:review_changes_since_signoff", args=[review.pk])
    return url if signoff is None else f"{url}?signoff={signoff}"


@pytest.fixture
def version(db):
    return ChecklistVersionFactory(markdown=CHECKLIST)


@pytest.fixture
def teammate(benefits_team):
    """A second product lead of the Benefits team: changes are told apart by author."""
    user = UserFactory(
        email="teammate@example.com", first_name="Tess", last_name="Mate", password=PASSWORD
    )
    account_services.user_set_roles(user=user, roles=[Role.PRODUCT_LEAD], reason="test cast")
    account_services.team_add_members(team=benefits_team, users=[user])
    return user


@pytest.fixture
def review(service, lead, version):
    with at(0):
        return ReviewFactory(service=service, checklist_version=version, by=lead)


@pytest.fixture
def signed(review, lead, reviewer):
    """The review answered, with evidence, submitted and approved by ``reviewer`` at
    START + 2h (its evidence on "Dashboards exist" was added before: it is not new)."""
    with at(1):
        for text in ("Backups run", "Alerts reach a human", "Dashboards exist"):
            answer(review, text, A.MET, lead)
        old = add_link(review, "Dashboards exist", lead, "https://example.com/old-dashboard")
        services.review_transition(review=review, action="submit", by=lead)
    with at(2):
        signoff = sign_off(review, reviewer)
    return {"signoff": signoff, "old_evidence": old}


@pytest.fixture
def changed(review, signed, lead, teammate, reviewer):
    """After the sign-off: ``lead`` changes "Backups run" to not met and asks for an
    exception, ``teammate`` adds evidence to "Alerts reach a human" and withdraws the old
    evidence of "Dashboards exist", ``reviewer`` comments on "Alerts reach a human"."""
    with at(3):
        answer(review, "Backups run", A.NOT_MET, lead, "Restores fail since the upgrade.")
    with at(4):
        add_link(review, "Alerts reach a human", teammate, "https://example.com/pager-policy")
        evidence_services.evidence_withdraw(
            evidence=signed["old_evidence"], by=teammate, reason="The dashboard moved."
        )
    with at(5):
        waiver = request_exception(review, "Backups run", lead)
        services.comment_add(
            answer=answer_for(review, "Alerts reach a human"), by=reviewer, body="Who is paged?"
        )
    return {**signed, "waiver": waiver}


# --- the selector ----------------------------------------------------------------------------


def test_it_finds_the_answers_written_since_and_none_of_the_others(review, changed):
    ids = {text: answer_for(review, text).pk for text in ITEMS}
    since = changed["signoff"].created_at
    assert changed_answer_ids(review, since) == set(ids.values())
    # Each kind of change on its own: at 3h the answer, at 4h evidence, at 5h the rest.
    assert changed_answer_ids(review, START + 3.5 * HOUR) == {
        ids["Alerts reach a human"],  # evidence added, then a comment
        ids["Dashboards exist"],  # evidence withdrawn
        ids["Backups run"],  # the exception requested
    }
    assert changed_answer_ids(review, START + 4.5 * HOUR) == {
        ids["Backups run"],
        ids["Alerts reach a human"],
    }
    assert changed_answer_ids(review, START + 5 * HOUR) == set()


ITEMS = ("Backups run", "Alerts reach a human", "Dashboards exist")


def test_a_decided_exception_counts_as_a_change(review, changed, reviewer):
    with at(6):
        waivers.waiver_decide(waiver=changed["waiver"], by=reviewer, approve=False, comment="No.")
    assert changed_answer_ids(review, START + 5.5 * HOUR) == {answer_for(review, "Backups run").pk}


def test_an_exception_that_lapses_since_counts_as_a_change(review, lead, reviewer, client_for):
    with at(1):
        answer(review, "Backups run", A.NOT_MET, lead, "Not yet.")
        for text in ("Alerts reach a human", "Dashboards exist"):
            answer(review, text, A.MET, lead)
        waiver = request_exception(review, "Backups run", lead, days=3)
        services.review_transition(review=review, action="submit", by=lead)
        waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True)
    with at(2):
        signoff = sign_off(review, reviewer)
    backups = answer_for(review, "Backups run").pk
    # The exception's last day is 2025-03-06: it still counts then, not on the 7th.
    with time_machine.travel(datetime(2025, 3, 6, 23, 0, tzinfo=UTC), tick=False):
        assert changed_answer_ids(review, signoff.created_at) == set()
    with time_machine.travel(datetime(2025, 3, 7, 1, 0, tzinfo=UTC), tick=False):
        assert changed_answer_ids(review, signoff.created_at) == {backups}
        # Lapsed before the moment: not a change since it.
        later = datetime(2025, 3, 7, 0, 30, tzinfo=UTC)
        assert changed_answer_ids(review, later) == set()
        # The page says so, and that nobody did it.
        (since,) = changes_by_answer(review, signoff.created_at).answers
        (exception,) = since.exceptions
        assert [(c.label, c.then, c.now) for c in exception.fields] == [("Counts", "yes", "no")]
        assert [(e.what, e.automatic) for e in exception.edits] == [
            ("No longer counts: its last day was 2025-03-06", True)
        ]
        page = unescape(client_for(reviewer).get(page_url(review)).content.decode())
    assert "No longer counts: its last day was 2025-03-06, 2025-03-07 00:00:00 UTC" in page
    assert "Counts: <mark>no</mark> now (at the sign-off: yes)" in page


def test_it_takes_one_query_however_big_the_review_is(
    review, changed, lead, service, django_assert_num_queries
):
    since = changed["signoff"].created_at
    with django_assert_num_queries(
        1
    ):  # one UNION of answers' history, evidence, exceptions, comments
        small = changed_answer_ids(review, since)
    assert len(small) == 3

    big_version = ChecklistVersionFactory(
        markdown=b"## Ops\n" + b"".join(f"- **Item {i}**\n".encode() for i in range(40))
    )
    with at(1):
        big = ReviewFactory(service=service, checklist_version=big_version, by=lead)
    for i in range(0, 40, 4):
        with at(3):
            answer(big, f"Item {i}", A.NOT_MET, lead, "Not yet.")
            add_link(big, f"Item {i + 1}", lead, f"https://example.com/{i}")
            request_exception(big, f"Item {i}", lead)
            services.comment_add(answer=answer_for(big, f"Item {i + 2}"), by=lead, body="Why?")
    with django_assert_num_queries(1):
        seen = changed_answer_ids(big, START + 2 * HOUR)
    assert len(seen) == 30


def test_the_latest_sign_off_of_a_person_whatever_it_decided(
    review, changed, reviewer, manager, django_assert_num_queries
):
    with at(6):
        waivers.waiver_decide(waiver=changed["waiver"], by=reviewer, approve=True)
        services.review_transition(review=review, action="submit", by=review.created_by)
    with at(7):
        refusal = sign_off(
            review, reviewer, SignOffDecision.REQUEST_CHANGES, comment="Test the restores."
        )
    with django_assert_num_queries(1):
        assert latest_signoff_moment(review, reviewer) == refusal.created_at == START + 7 * HOUR
    assert latest_signoff_moment(review, manager) is None


# --- the page -----------------------------------------------------------------------------


def test_it_shows_what_changed_since_my_sign_off_and_who_changed_it(
    review, changed, lead, teammate, reviewer, client_for
):
    response = client_for(reviewer).get(page_url(review))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "changes since your sign-off" in page
    assert "Your sign-off: approve as Security reviewer, 2025-03-03 11:00:00 UTC" in page
    assert "It is stale: the review's content has changed since" in page
    assert f"3 items changed since, by {lead}, {teammate}, {reviewer}." in page

    # The answer, field by field, and who saved it.
    assert '<th scope="row">Status</th><td>Met</td><td><mark>Not met</mark></td>' in page
    assert "<td><mark>Restores fail since the upgrade.</mark></td>" in page
    assert f"{lead}, 2025-03-03 12:00:00 UTC: Answered: Not met" in page
    # Evidence added, and the old evidence withdrawn, by the teammate.
    assert "Added since" in page and "https://example.com/pager-policy" in page
    assert "2025-03-03 13:00 UTC by Tess Mate" in page
    assert "Withdrawn since" in page
    assert "Withdrawn by Tess Mate, 2025-03-03 13:00:00 UTC: “The dashboard moved.”" in page
    # The exception requested by the lead, and the reviewer's comment.
    assert "Requested since" in page
    assert f"requested by {lead}, 2025-03-03 14:00 UTC" in page
    assert f"{reviewer}, 2025-03-03 14:00:00 UTC: “Who is paged?”" in page
    # Titles and role names, never keys; names, never ids.
    assert "security_reviewer" not in page and "not_met" not in page
    assert (
        f'href="{reverse("reviews:item", args=[review.pk, answer_for(review, "Backups run").pk])}"'
        in page
    )


def test_evidence_corrected_or_added_and_withdrawn_since_says_by_whom(
    review, signed, lead, teammate, reviewer, client_for
):
    with at(3):
        evidence_services.evidence_add(
            answer=answer_for(review, "Dashboards exist"),
            by=teammate,
            kind=EvidenceKind.NOTE,
            note="The dashboard lives in Grafana now.",
            effective_date=timezone.localdate(),
            supersedes=signed["old_evidence"],
        )
        passing = add_link(review, "Backups run", lead, "https://example.com/wrong-runbook")
    with at(4):
        evidence_services.evidence_withdraw(evidence=passing, by=lead, reason="Wrong link.")
    assert changed_answer_ids(review, signed["signoff"].created_at) == {
        answer_for(review, "Dashboards exist").pk,
        answer_for(review, "Backups run").pk,
    }
    page = unescape(client_for(reviewer).get(page_url(review)).content.decode())
    assert "Replaced since" in page and "https://example.com/old-dashboard" in page
    assert "Replaced by a correction by Tess Mate, 2025-03-03 12:00:00 UTC" in page
    assert "The dashboard lives in Grafana now." in page and "(a correction)" in page
    assert (
        "Added and removed since</span> Link “https://example.com/wrong-runbook”, then withdrawn"
        f" by {lead} at 2025-03-03 13:00:00 UTC; added by {lead}, 2025-03-03 12:00:00 UTC"
    ) in page


def test_what_changed_before_the_sign_off_does_not_show(review, signed, lead, reviewer, client_for):
    with at(3):
        answer(review, "Backups run", A.MET, lead, notes="Restores tested on Monday.")
    page = unescape(client_for(reviewer).get(page_url(review)).content.decode())
    assert "1 item changed since, by" in page
    assert "Backups run" in page and "Restores tested on Monday." in page
    # Answered and given evidence before the sign-off: not listed.
    assert (
        "Dashboards exist"
        not in page.split("Compare with another sign-off")[0].split("1 item changed since")[1]
    )
    assert "https://example.com/old-dashboard" not in page
    assert "Alerts reach a human" not in page


def test_nothing_changed_since_says_so(review, signed, reviewer, client_for):
    page = unescape(client_for(reviewer).get(page_url(review)).content.decode())
    assert "It is still current: the review's content is what it saw." in page
    assert "Nothing in the answers, evidence, exceptions or comments has changed since." in page


def test_an_answer_changed_and_changed_back_is_shown_as_touched(
    review, signed, lead, reviewer, client_for
):
    with at(3):
        answer(review, "Backups run", A.PARTIALLY_MET, lead, "Half of them.")
    with at(4):
        answer(review, "Backups run", A.MET, lead)
    page = unescape(client_for(reviewer).get(page_url(review)).content.decode())
    assert "Its answer was saved since, but reads now as it did at the sign-off." in page
    assert "Answered: Partially met" in page and "Answered: Met" in page


def test_someone_who_never_signed_it_off_is_told_so_and_sent_to_the_as_of_page(
    review, changed, manager, client_for
):
    response = client_for(manager).get(page_url(review))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "You have not signed off this review" in page
    assert f'href="{reverse("reviews:review_as_of", args=[review.pk])}"' in page
    # Any sign-off of the review can still be chosen.
    assert f'href="?signoff={changed["signoff"].pk}"' in page


def test_any_sign_off_of_the_review_can_be_chosen(review, changed, reviewer, manager, client_for):
    response = client_for(manager).get(page_url(review, changed["signoff"].pk))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert f"changes since the sign-off by {reviewer}" in page
    assert "The sign-off: approve as Security reviewer" in page
    assert "3 items changed since" in page


def test_another_reviews_sign_off_is_not_found(
    review, changed, reviewer, manager, service, lead, version, client_for
):
    with at(1):
        other = ReviewFactory(service=service, checklist_version=version, by=lead)
        for text in ITEMS:
            answer(other, text, A.MET, lead)
        services.review_transition(review=other, action="submit", by=lead)
    with at(2):
        elsewhere = sign_off(other, reviewer)
    assert client_for(manager).get(page_url(review, elsewhere.pk)).status_code == 404
    assert client_for(manager).get(page_url(review, 999_999_999)).status_code == 404


@pytest.mark.parametrize("asked", ["abc", "1.5", "-3", "9" * 19, "<script>", "1%00"])
def test_a_sign_off_that_is_not_one_is_a_clear_400(review, changed, manager, client_for, asked):
    response = client_for(manager).get(page_url(review), {"signoff": asked})
    assert response.status_code == 400
    page = unescape(response.content.decode())
    assert "That is not a sign-off: choose one of this review's sign-offs" in page
    assert "<script>" not in response.content.decode()


READERS = {"lead", "reviewer", "manager", "auditor", "admin"}


@pytest.mark.parametrize(
    "who", ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]
)
def test_whoever_reads_the_review_reads_the_page_and_nobody_else(
    cast, client_for, review, changed, who
):
    response = client_for(cast[who]).get(page_url(review, changed["signoff"].pk))
    # Another team's lead, or someone without a role, is told it is not there at all.
    assert response.status_code == (200 if who in READERS else 404), who


def test_signed_out_visitors_are_sent_to_sign_in(client, review):
    response = client.get(page_url(review))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_page_only_reads(review, changed, reviewer, client_for):
    assert client_for(reviewer).post(page_url(review)).status_code == 405


def test_the_page_takes_the_same_queries_however_big_the_review_is(
    service, lead, teammate, reviewer, client_for
):
    """Session, user, roles, the review and its sign-offs; the review at the sign-off
    (nine) and now (eight); the answers' history since, the evidence written since and
    the comments since: the same at 3 and 30 items."""

    def measure(items: int) -> int:
        version = ChecklistVersionFactory(
            markdown=b"## Ops\n" + b"".join(f"- **Item {i}**\n".encode() for i in range(items))
        )
        with at(0):
            review = ReviewFactory(service=service, checklist_version=version, by=lead)
        with at(1):
            for i in range(items):
                answer(review, f"Item {i}", A.MET, lead)
            services.review_transition(review=review, action="submit", by=lead)
        with at(2):
            sign_off(review, reviewer)
        with at(3):
            for i in range(0, items, 3):
                answer(review, f"Item {i}", A.NOT_MET, lead, "Broken.")
                add_link(review, f"Item {i}", teammate, f"https://example.com/{i}")
                request_exception(review, f"Item {i}", lead)
                services.comment_add(answer=answer_for(review, f"Item {i}"), by=reviewer, body="?")
        client = client_for(reviewer)
        client.get("/")  # the session and the security policy exist from here on
        with CaptureQueriesContext(connection()) as queries:
            response = client.get(page_url(review))
        assert response.status_code == 200
        assert response.content.decode().count('id="since-answer-') == len(range(0, items, 3))
        return len(queries)

    small, big = measure(3), measure(30)
    assert small == big
    assert small <= 27


def connection():
    from django.db import connection as default

    return default
