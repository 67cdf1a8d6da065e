"""The journal (issue 12, audit sessions): attributed notes on a service or a review,
written by whoever may comment on its reviews, edited only by their author, never
deleted, every version in the record; read by everyone who reads the service."""

from __future__ import annotations

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portal.accounts import services as account_services
from portal.audit.models import Entry
from reviews.audits import services as audit_services
from reviews.models import JournalNote
from tests.factories import ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

CAST = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]
WRITERS = ("lead", "reviewer", "manager")


@pytest.fixture
def other_review(permits_team, other_lead):
    """Another team's service and review."""
    service = ServiceFactory(name="Permit finder", slug="permit-finder", team=permits_team)
    return ReviewFactory(service=service, by=other_lead)


def journal_url(service) -> str:
    return reverse("reviews:journal", args=[service.slug])


def edit_url(note: JournalNote) -> str:
    return reverse("reviews:journal_note_edit", args=[note.pk])


def write(service, by, body="A note.", review=None) -> JournalNote:
    return audit_services.journal_note_add(service=service, review=review, by=by, body=body)


def history(note: JournalNote):
    return JournalNote.history.filter(id=note.pk).order_by("history_date")


# --- writing -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", WRITERS)
def test_the_team_reviewers_and_managers_write_notes_on_a_service(cast, client_for, service, who):
    person = cast[who]
    response = client_for(person).post(journal_url(service), {"body": "Launch moved to Tuesday."})
    assert response.status_code == 302
    assert response["Location"] == f"{service.get_absolute_url()}#journal"
    note = JournalNote.objects.get()
    assert (note.service, note.review, note.author) == (service, None, person)
    assert note.body == "Launch moved to Tuesday." and note.revision == 1
    (row,) = history(note)
    assert row.history_type == "+" and row.history_user == person
    assert row.history_change_reason == "Journal note written"
    line = Entry.objects.get(record_type="reviews.journalnote", record_id=str(note.pk))
    assert line.actor == person and line.root == f"reviews.service:{service.pk}"


def test_a_note_on_a_review_belongs_to_the_review_and_its_service(
    cast, client_for, service, review
):
    response = client_for(cast["reviewer"]).post(
        journal_url(service), {"body": "Restore test booked.", "review": str(review.pk)}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{review.get_absolute_url()}#journal"
    note = JournalNote.objects.get()
    assert (note.service, note.review) == (service, review)
    line = Entry.objects.get(record_type="reviews.journalnote", record_id=str(note.pk))
    assert line.branch == f"reviews.review:{review.pk}"
    page = client_for(cast["auditor"]).get(review.get_absolute_url()).content.decode()
    assert "Restore test booked." in page


@pytest.mark.parametrize("who", CAST)
def test_who_may_not_write_is_refused_and_nothing_is_stored(cast, client_for, service, who):
    if who in WRITERS:
        return
    response = client_for(cast[who]).post(journal_url(service), {"body": "Mine."})
    # Who may not read the service is told it does not exist; readers are refused in words.
    assert response.status_code == (404 if who in ("other_lead", "nobody") else 403), who
    if response.status_code == 403:
        assert "Only the service's team, reviewers and managers write journal notes." in (
            unescape(response.content.decode())
        )
    assert not JournalNote.objects.exists() and not JournalNote.history.exists()


def test_anonymous_visitors_are_sent_to_sign_in(cast, service):
    note = write(service, cast["lead"])
    for path in (journal_url(service), edit_url(note)):
        for response in (Client().get(path), Client().post(path, {"body": "x", "revision": "1"})):
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")
    assert JournalNote.objects.get().body == "A note." and history(note).count() == 1


def test_another_teams_review_in_the_form_is_an_error_and_nothing_is_stored(
    cast, client_for, service, other_review
):
    for value in (str(other_review.pk), "abc", "99999999999999999999999", "-1"):
        response = client_for(cast["reviewer"]).post(
            journal_url(service), {"body": "Misfiled.", "review": value}
        )
        assert response.status_code == 400, value
        assert "That review is not one of this service's." in unescape(response.content.decode()), (
            value
        )
    assert not JournalNote.objects.exists()


def test_the_service_refuses_a_review_of_another_service_even_without_the_form(
    cast, service, other_review
):
    with pytest.raises(audit_services.ValidationError):
        write(service, cast["reviewer"], review=other_review)
    assert not JournalNote.objects.exists()


def test_another_teams_service_in_the_address_is_not_found_for_a_lead(
    cast, client_for, other_review
):
    other = other_review.service
    client = client_for(cast["lead"])
    assert client.get(journal_url(other)).status_code == 404
    assert client.post(journal_url(other), {"body": "Sneaky."}).status_code == 404
    assert client.get("/services/no-such-service/journal/").status_code == 404
    assert not JournalNote.objects.exists()


def test_the_same_note_sent_twice_is_kept_once(cast, client_for, service):
    client = client_for(cast["lead"])
    for _ in range(2):
        assert client.post(journal_url(service), {"body": "Launch moved."}).status_code == 302
    assert JournalNote.objects.count() == 1 and JournalNote.history.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("n" * 10_001, "at most 10000 characters"),
        ("note\x00", "Remove the control character (U+0000)"),
        ("note\x1b[2J", "Remove the control character (U+001B)"),
        ("no\x85te", "Remove the control character (U+0085)"),
    ],
)
def test_hostile_notes_are_refused_in_words_and_nothing_is_stored(
    cast, client_for, service, body, message
):
    response = client_for(cast["lead"]).post(journal_url(service), {"body": body})
    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert not JournalNote.objects.exists()


def test_right_to_left_text_and_script_payloads_are_kept_and_shown_escaped(
    cast, client_for, service, review
):
    body = '\u202eمرحبا <script>alert("x")</script>\n<img src=x onerror=alert(1)>'
    client = client_for(cast["lead"])
    assert client.post(journal_url(service), {"body": body}).status_code == 302
    assert JournalNote.objects.get().body == body
    for path in (service.get_absolute_url(), journal_url(service)):
        html = client_for(cast["auditor"]).get(path).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html and "\u202eمرحبا" in html, path


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.text(max_size=300))
@example(body="\u202e\u200f<svg onload=alert(1)>")
@example(body="line one\r\nline two\tcolumn")
def test_any_text_is_stored_as_written_or_refused_in_words_never_a_500(
    cast, client_for, service, body
):
    before = JournalNote.objects.count()
    response = client_for(cast["lead"]).post(journal_url(service), {"body": body})
    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 400:
        assert JournalNote.objects.count() == before
        return
    note = JournalNote.objects.order_by("-id").first()
    assert note is not None and note.body == body.strip()
    assert not any((ord(c) < 32 and c not in "\r\n\t") or 0x7F <= ord(c) <= 0x9F for c in note.body)


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", CAST)
def test_everyone_who_reads_the_service_reads_its_journal(cast, client_for, service, who):
    write(service, cast["lead"], "Visible to readers.")
    response = client_for(cast[who]).get(journal_url(service))
    if who in ("other_lead", "nobody"):
        assert response.status_code == 404
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert "Visible to readers." in html
    # The form is offered to writers only.
    assert ('name="body"' in html) == (who in WRITERS), who
    page = client_for(cast[who]).get(service.get_absolute_url()).content.decode()
    assert "Visible to readers." in page
    assert ("Add to the journal" in page) == (who in WRITERS), who


def test_the_journal_is_paginated_and_costs_the_same_per_page(
    cast, client_for, service, review, django_assert_num_queries
):
    for n in range(30):
        write(service, cast["lead"] if n % 2 else cast["reviewer"], f"Note number {n}.", review)
    client = client_for(cast["auditor"])
    client.get(reverse("checklists:library"))  # settle the session
    # 1 session, 2 user, 3 roles, 4 the service + team, 5 the count, 6 the page's notes
    # with their authors and reviews.
    with django_assert_num_queries(6):
        first = client.get(journal_url(service)).content.decode()
    with django_assert_num_queries(6):
        second = client.get(journal_url(service) + "?page=2").content.decode()
    assert first.count('id="note-') == 25 and second.count('id="note-') == 5
    assert "Note number 29." in first and "Note number 0." in second
    assert "Page 1 of 2" in first
    for query in ("?page=abc", "?page=99999999999999999999", "?review=abc", "?review=-1"):
        assert client.get(journal_url(service) + query).status_code == 200, query


def test_the_journal_shows_one_reviews_notes_when_asked_and_ignores_other_services_reviews(
    cast, client_for, service, review, other_review
):
    write(service, cast["lead"], "About the service.")
    write(service, cast["lead"], "About the review.", review)
    client = client_for(cast["reviewer"])
    html = client.get(f"{journal_url(service)}?review={review.pk}").content.decode()
    assert "About the review." in html and "About the service." not in html
    html = client.get(f"{journal_url(service)}?review={other_review.pk}").content.decode()
    assert "About the review." in html and "About the service." in html


# --- editing -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", CAST)
def test_only_its_author_edits_a_note(cast, client_for, service, who):
    note = write(service, cast["lead"], "Original.")
    client = client_for(cast[who])
    get = client.get(edit_url(note))
    post = client.post(edit_url(note), {"body": "Changed.", "revision": "1"})
    if who == "lead":
        assert (get.status_code, post.status_code) == (200, 302)
        return
    expected = 404 if who in ("other_lead", "nobody") else 403
    assert (get.status_code, post.status_code) == (expected, expected), who
    if expected == 403:
        assert "Only the author of a journal note edits it." in unescape(post.content.decode())
    note.refresh_from_db()
    assert note.body == "Original." and history(note).count() == 1


def test_an_author_who_lost_the_right_to_write_no_longer_edits(cast, client_for, service):
    note = write(service, cast["manager"], "Original.")
    account_services.user_set_roles(user=cast["manager"], roles=[], reason="left")
    response = client_for(cast["manager"]).post(edit_url(note), {"body": "x", "revision": "1"})
    assert response.status_code == 404  # may not even read the service now
    assert JournalNote.objects.get().body == "Original."


def test_an_edit_keeps_the_old_version_in_the_record(cast, client_for, service):
    note = write(service, cast["lead"], "Launch on Monday.")
    response = client_for(cast["lead"]).post(
        edit_url(note), {"body": "Launch on Tuesday.", "revision": "1"}
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.body == "Launch on Tuesday." and note.revision == 2
    first, second = history(note)
    assert (first.body, second.body) == ("Launch on Monday.", "Launch on Tuesday.")
    assert second.history_type == "~" and second.history_user == cast["lead"]
    assert second.history_change_reason == "Journal note edited"
    line = Entry.objects.filter(record_type="reviews.journalnote", record_id=str(note.pk)).latest(
        "id"
    )
    assert line.changes["note"] == ["Launch on Monday.", "Launch on Tuesday."]
    html = client_for(cast["auditor"]).get(service.get_absolute_url()).content.decode()
    assert "Launch on Tuesday." in html and "edited" in html
    assert reverse("audit:timeline", args=["reviews.journalnote", note.pk]) in html


def test_the_same_edit_sent_twice_succeeds_once(cast, client_for, service):
    note = write(service, cast["lead"], "Draft.")
    client = client_for(cast["lead"])
    for _ in range(2):
        response = client.post(edit_url(note), {"body": "Final.", "revision": "1"})
        assert response.status_code == 302
    note.refresh_from_db()
    assert note.revision == 2 and history(note).count() == 2


def test_a_stale_edit_is_a_conflict_showing_both_versions(cast, client_for, service):
    note = write(service, cast["lead"], "Draft.")
    client = client_for(cast["lead"])
    assert (
        client.post(edit_url(note), {"body": "From tab one.", "revision": "1"}).status_code == 302
    )
    response = client.post(edit_url(note), {"body": "From tab two.", "revision": "1"})
    assert response.status_code == 409
    html = unescape(response.content.decode())
    assert "This note changed while you were editing it" in html
    assert "From tab one." in html and "From tab two." in html
    assert 'name="revision" value="2"' in html
    note.refresh_from_db()
    assert note.body == "From tab one." and history(note).count() == 2
    # Saving again from the conflict form is deliberate.
    assert (
        client.post(edit_url(note), {"body": "From tab two.", "revision": "2"}).status_code == 302
    )
    note.refresh_from_db()
    assert note.body == "From tab two." and note.revision == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"body": "", "revision": "1"}, "This field is required."),
        ({"body": "x\x00", "revision": "1"}, "Remove the control character (U+0000)"),
        ({"body": "x" * 10_001, "revision": "1"}, "at most 10000 characters"),
        ({"body": "x"}, "This form is out of date or damaged"),
        ({"body": "x", "revision": "zero"}, "This form is out of date or damaged"),
        ({"body": "x", "revision": "99999999999999999999"}, "This form is out of date"),
    ],
)
def test_a_bad_edit_is_refused_in_words_and_the_note_stays(
    cast, client_for, service, data, message
):
    note = write(service, cast["lead"], "Kept.")
    response = client_for(cast["lead"]).post(edit_url(note), data)
    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert JournalNote.objects.get().body == "Kept." and history(note).count() == 1


def test_notes_cannot_be_deleted_in_the_app_nor_in_the_django_admin(cast, client_for, service):
    note = write(service, cast["lead"], "Forever.")
    admin = client_for(cast["admin"])
    delete = reverse("admin:reviews_journalnote_delete", args=[note.pk])
    assert admin.post(delete, {"post": "yes"}).status_code == 403
    assert admin.get(reverse("admin:reviews_journalnote_changelist")).status_code == 200
    assert JournalNote.objects.filter(pk=note.pk).exists()
    # The journal's own addresses take nothing away either.
    for method in ("delete", "put", "patch"):
        response = getattr(client_for(cast["lead"]), method)(edit_url(note))
        assert response.status_code == 405, method
    assert JournalNote.objects.filter(pk=note.pk).exists()
