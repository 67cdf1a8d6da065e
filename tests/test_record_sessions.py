"""Launch audits (issue 12, audit sessions) through the real pages: who records, reads and
edits them, decisions tied to the review's own items, the embedded as-of view, double
submits and stale forms, hostile input, and one attributed history row per change."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from html import unescape
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.accounts.demo import demo_setup
from portal.accounts.models import User
from portal.audit.models import Entry
from reviews import services
from reviews.audits import services as audit_services
from reviews.demo import demo_reviews
from reviews.models import (
    AnswerStatus,
    AuditDecision,
    AuditSession,
    DecisionOutcome,
    JournalNote,
    Review,
)
from tests.factories import ReviewFactory, ServiceFactory

pytestmark = pytest.mark.django_db

CAST = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]
MOMENT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def review(service, lead):
    """conftest's draft review of the Benefits portal, started yesterday and answered since
    (its must-have, "Backups run", met an hour ago): the audit works from that record."""
    with time_machine.travel(timezone.now() - timedelta(days=1), tick=False):
        started = ReviewFactory(service=service, by=lead)
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        backups = started.answers.get(item__text="Backups run")
        services.answer_update(
            answer=backups,
            change=services.AnswerChange(AnswerStatus.MET, "", "", None),
            based_on_revision=backups.revision,
            by=lead,
        )
    return Review.objects.get(pk=started.pk)


@pytest.fixture
def items(review):
    """The review's own items by text: "Backups run" and "Dashboards exist"."""
    return {i.text: i for i in review.checklist_version.items.all()}


@pytest.fixture
def other_review(permits_team, other_lead):
    """Another team's review, on another checklist version."""
    service = ServiceFactory(name="Permit finder", slug="permit-finder", team=permits_team)
    return ReviewFactory(service=service, by=other_lead)


def at(moment: datetime, fmt: str = MOMENT) -> str:
    return moment.strftime(fmt)


def session_data(items, **overrides) -> dict[str, Any]:
    """A launch audit held 30 minutes ago, working from the record as it is now, with two
    decisions and one blank row (as the page sends it)."""
    held = timezone.now() - timedelta(minutes=30)
    data = {
        "title": "Launch audit, June",
        "held_at": at(held),
        "as_of": "",
        "other_attendees": "Dana Lee (service owner)",
        "minutes": "Walked through the review.\nNo objections.",
        "decisions-TOTAL_FORMS": "3",
        "decisions-INITIAL_FORMS": "0",
        "decisions-MIN_NUM_FORMS": "0",
        "decisions-MAX_NUM_FORMS": "30",
        "decisions-0-outcome": DecisionOutcome.ACCEPTED,
        "decisions-0-item": str(items["Backups run"].pk),
        "decisions-0-text": "Backups accepted as shown.",
        "decisions-1-outcome": DecisionOutcome.ACTION,
        "decisions-1-item": "",
        "decisions-1-text": "Add a restore test before launch.",
        "decisions-2-outcome": DecisionOutcome.NOTED,
        "decisions-2-item": "",
        "decisions-2-text": "",
    }
    return data | overrides


def create_url(review) -> str:
    return reverse("reviews:audit_session_create", args=[review.pk])


def record(review, items, by, **overrides) -> AuditSession:
    """A launch audit recorded through the service, as the page would."""
    held = timezone.now() - timedelta(minutes=30)
    return audit_services.audit_session_record(
        review=review,
        by=by,
        details=audit_services.SessionDetails(
            title=overrides.get("title", "Launch audit"),
            held_at=held,
            as_of=overrides.get("as_of", held),
            attendees=tuple(overrides.get("attendees", ())),
            other_attendees="",
            minutes=overrides.get("minutes", "Minutes."),
        ),
        decisions=[
            audit_services.DecisionInput(
                outcome=DecisionOutcome.ACTION,
                text="Add a restore test.",
                item=items["Backups run"],
            ),
            audit_services.DecisionInput(outcome=DecisionOutcome.NOTED, text="Noted."),
        ],
    )


def edit_data(session: AuditSession, **overrides) -> dict[str, Any]:
    """The edit form exactly as the page fills it for ``session``."""
    decisions = list(session.decisions.all())
    data: dict[str, Any] = {
        "title": session.title,
        "held_at": at(session.held_at),
        "as_of": at(session.as_of, "%Y-%m-%dT%H:%M:%S"),  # as the page shows them
        "other_attendees": session.other_attendees,
        "minutes": session.minutes,
        "revision": str(session.revision),
        "decisions-TOTAL_FORMS": str(len(decisions) + 1),
        "decisions-INITIAL_FORMS": str(len(decisions)),
        "decisions-MIN_NUM_FORMS": "0",
        "decisions-MAX_NUM_FORMS": "30",
    }
    attendees = [str(pk) for pk in session.attendees.values_list("pk", flat=True)]
    for n, decision in enumerate(decisions):
        data |= {
            f"decisions-{n}-decision": str(decision.pk),
            f"decisions-{n}-outcome": decision.outcome,
            f"decisions-{n}-item": str(decision.item_id or ""),
            f"decisions-{n}-text": decision.text,
        }
    blank = len(decisions)
    data |= {f"decisions-{blank}-outcome": "noted", f"decisions-{blank}-text": ""}
    if attendees:
        data["attendees"] = attendees
    return data | overrides


def history_counts(session: AuditSession | None = None) -> tuple[int, int]:
    sessions = AuditSession.history.all()
    decisions = AuditDecision.history.all()
    if session is not None:
        sessions = sessions.filter(id=session.pk)
        decisions = decisions.filter(session_id=session.pk)
    return sessions.count(), decisions.count()


# --- recording ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["reviewer", "manager"])
def test_a_security_reviewer_or_manager_records_a_launch_audit_with_its_decisions(
    cast, client_for, review, items, who
):
    person = cast[who]
    data = session_data(items, attendees=[str(cast["reviewer"].pk), str(cast["lead"].pk)])
    response = client_for(person).post(create_url(review), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    session = AuditSession.objects.get()
    assert response["Location"] == session.get_absolute_url()
    assert session.review == review and session.recorded_by == person
    assert session.as_of == session.held_at  # the default: the record as it was then
    assert set(session.attendees.all()) == {cast["reviewer"], cast["lead"]}
    decisions = list(session.decisions.order_by("id"))
    assert [(d.outcome, d.item, d.text) for d in decisions] == [
        (DecisionOutcome.ACCEPTED, items["Backups run"], "Backups accepted as shown."),
        (DecisionOutcome.ACTION, None, "Add a restore test before launch."),
    ]
    # One attributed history row for the audit (attendees included) and one per decision.
    (row,) = AuditSession.history.filter(id=session.pk)
    assert row.history_type == "+" and row.history_user == person
    assert row.history_change_reason == "Launch audit recorded"
    assert sorted(a.user_id for a in row.attendees.all()) == sorted(
        [cast["reviewer"].pk, cast["lead"].pk]
    )
    assert row.history_request_id
    rows = AuditDecision.history.filter(session_id=session.pk)
    assert rows.count() == 2
    assert {(r.history_user, r.history_change_reason) for r in rows} == {
        (person, "Decision recorded at the launch audit")
    }
    # ...and each is a line of the shared record, on the review's and service's timelines.
    line = Entry.objects.get(record_type="reviews.auditsession", record_id=str(session.pk))
    assert line.actor == person and line.change == "created"
    assert line.branch == f"reviews.review:{review.pk}"
    assert line.root == f"reviews.service:{review.service_id}"
    assert Entry.objects.filter(record_type="reviews.auditdecision").count() == 2


def test_the_form_offers_people_who_may_have_attended_and_the_reviews_own_items(
    cast, client_for, review, items, other_review
):
    page = client_for(cast["reviewer"]).get(create_url(review)).content.decode()
    for who in ("reviewer", "manager", "auditor", "lead"):
        assert cast[who].email in page, who
    # Another team's product lead and people with no role did not attend this service's audit.
    assert cast["other_lead"].email not in page
    assert cast["nobody"].email not in page
    assert "Backups run" in page and "Dashboards exist" in page
    foreign = other_review.checklist_version.items.first()
    assert f'value="{foreign.pk}"' not in page


@pytest.mark.parametrize("who", CAST)
def test_only_security_reviewers_and_managers_record_launch_audits(
    cast, client_for, review, items, who
):
    client = client_for(cast[who])
    get, post = client.get(create_url(review)), client.post(create_url(review), session_data(items))
    if who in ("reviewer", "manager"):
        assert (get.status_code, post.status_code) == (200, 302)
        return
    # Who may not read the review is told it does not exist; readers are refused in words.
    expected = 404 if who in ("other_lead", "nobody") else 403
    assert (get.status_code, post.status_code) == (expected, expected), who
    if expected == 403:
        assert "Only security reviewers and managers record launch audits." in unescape(
            post.content.decode()
        )
    assert not AuditSession.objects.exists()
    assert history_counts() == (0, 0)


def test_anonymous_visitors_are_sent_to_sign_in_from_every_launch_audit_address(
    cast, review, items
):
    session = record(review, items, cast["reviewer"])
    for path in (
        create_url(review),
        session.get_absolute_url(),
        reverse("reviews:audit_session_edit", args=[session.pk]),
    ):
        for response in (Client().get(path), Client().post(path, session_data(items))):
            assert response.status_code == 302, path
            assert response["Location"].startswith("/accounts/login/"), path
    assert history_counts() == (1, 2)


def test_a_decision_about_another_checklists_item_is_a_form_error_and_nothing_is_stored(
    cast, client_for, review, items, other_review
):
    foreign = other_review.checklist_version.items.first()
    response = client_for(cast["reviewer"]).post(
        create_url(review), session_data(items, **{"decisions-0-item": str(foreign.pk)})
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not AuditSession.objects.exists() and not AuditDecision.objects.exists()


def test_the_service_refuses_an_item_of_another_version_even_without_the_form(
    cast, review, items, other_review
):
    foreign = other_review.checklist_version.items.first()
    with pytest.raises(audit_services.ValidationError):
        audit_services.audit_session_record(
            review=review,
            by=cast["reviewer"],
            details=audit_services.SessionDetails(
                "Audit", timezone.now(), timezone.now(), (), "", ""
            ),
            decisions=[audit_services.DecisionInput(DecisionOutcome.NOTED, "x", item=foreign)],
        )
    assert not AuditSession.objects.exists()


def test_another_teams_review_or_a_missing_one_in_the_address_is_not_found(
    cast, client_for, review, items, other_review
):
    lead = client_for(cast["lead"])
    assert lead.get(create_url(other_review)).status_code == 404
    assert lead.post(create_url(other_review), session_data(items)).status_code == 404
    reviewer = client_for(cast["reviewer"])
    assert reviewer.get("/reviews/999999/launch-audits/new/").status_code == 404
    assert reviewer.get("/reviews/99999999999999999999999/launch-audits/new/").status_code == 404
    assert reviewer.get("/launch-audits/999999/").status_code == 404
    assert not AuditSession.objects.exists()


def test_an_attendee_who_cannot_have_been_there_is_a_form_error(cast, client_for, review, items):
    data = session_data(items, attendees=[str(cast["other_lead"].pk)])
    response = client_for(cast["reviewer"]).post(create_url(review), data)
    assert response.status_code == 400
    assert not AuditSession.objects.exists()


def test_recording_the_same_audit_twice_keeps_one(cast, client_for, review, items):
    client = client_for(cast["reviewer"])
    data = session_data(items)
    first, second = client.post(create_url(review), data), client.post(create_url(review), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert AuditSession.objects.count() == 1 and AuditDecision.objects.count() == 2
    assert history_counts() == (1, 2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "This field is required."),
        ("title", "x" * 201, "at most 200 characters"),
        ("title", "Audit\x00", "Remove the control character (U+0000)"),
        ("title", "Audit\nJune", "Remove the line break"),
        ("minutes", "m" * 50_001, "at most 50000 characters"),
        ("minutes", "ok\x07", "Remove the control character (U+0007)"),
        ("other_attendees", "x" * 2001, "at most 2000 characters"),
        ("held_at", "", "This field is required."),
        ("held_at", "yesterday", "Enter a valid date/time."),
        ("held_at", "9999-99-99T99:99", "Enter a valid date/time."),
        ("held_at", "0001-01-01T00:00", "The review did not exist yet then"),
        ("held_at", "9999-12-31T23:59", "A launch audit is recorded once it was held."),
        ("as_of", "2000-01-01T00:00", "The review did not exist yet then"),
        ("as_of", "2999-01-01T00:00", "The record has no moment later than now."),
        ("decisions-0-text", "", "Say what was decided."),
        ("decisions-0-text", "d" * 5001, "at most 5000 characters"),
        ("decisions-0-text", "ok\x1b[31m", "Remove the control character (U+001B)"),
        ("decisions-0-outcome", "approved", "Select a valid choice"),
        ("decisions-0-item", "abc", "Select a valid choice"),
        ("decisions-0-item", "99999999999999999999999", "Select a valid choice"),
        ("decisions-0-item", "-1", "Select a valid choice"),
        ("decisions-TOTAL_FORMS", "100000", "Please submit at most 30 forms."),
        ("decisions-TOTAL_FORMS", "many", "ManagementForm data is missing or has been tampered"),
        ("decisions-0-decision", "1", "cannot be edited here"),
        ("attendees", "abc", "is not a valid value"),
    ],
)
def test_hostile_input_is_a_clear_error_and_nothing_is_stored(
    cast, client_for, review, items, field, value, message
):
    response = client_for(cast["reviewer"]).post(
        create_url(review), session_data(items, **{field: value})
    )
    assert response.status_code == 400, field
    assert message in unescape(response.content.decode()), field
    assert not AuditSession.objects.exists() and not AuditDecision.objects.exists()
    assert history_counts() == (0, 0)


def test_a_form_without_its_management_data_is_refused_in_words(cast, client_for, review):
    response = client_for(cast["reviewer"]).post(
        create_url(review), {"title": "Audit", "held_at": at(timezone.now())}
    )
    assert response.status_code == 400
    assert "ManagementForm data is missing" in response.content.decode()
    assert not AuditSession.objects.exists()


def test_right_to_left_text_and_script_payloads_are_kept_as_typed_and_shown_escaped(
    cast, client_for, review, items
):
    script = '<script>alert("x")</script>'
    rtl = "\u202eמבחן שפה עברית"
    data = session_data(
        items,
        title=f"{rtl} {script}",
        minutes=f"{script}\n{rtl}",
        other_attendees=f"<img src=x onerror=alert(1)>\n{rtl}",
        **{"decisions-0-text": script},
    )
    client = client_for(cast["reviewer"])
    assert client.post(create_url(review), data).status_code == 302
    session = AuditSession.objects.get()
    assert session.minutes == f"{script}\n{rtl}"
    for page in (client.get(session.get_absolute_url()), client.get(review.get_absolute_url())):
        html = page.content.decode()
        assert script not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
        assert rtl in html


# --- the session page --------------------------------------------------------------------


def test_the_session_page_embeds_the_review_as_of_the_audits_moment_and_links_each_decision(
    cast, client_for, review, items
):
    as_of = timezone.now() - timedelta(minutes=45)  # after "Backups run" was met
    session = record(review, items, cast["reviewer"], as_of=as_of)
    # Changed after the audit's moment: the embedded view shows it as it was, marked.
    dashboards = review.answers.get(item__text="Dashboards exist")
    services.answer_update(
        answer=dashboards,
        change=services.AnswerChange(AnswerStatus.MET, "", "", None),
        based_on_revision=dashboards.revision,
        by=cast["lead"],
    )
    html = client_for(cast["auditor"]).get(session.get_absolute_url()).content.decode()
    assert "The review then" in html  # the as-of partial
    assert f"The record as of {as_of:%Y-%m-%d %H:%M:%S} UTC" in html
    assert "Changed since" in html
    backups = review.answers.get(item__text="Backups run")
    assert f'href="{review.get_absolute_url()}#answer-{backups.pk}"' in html
    # The decision about the whole review links nowhere in particular.
    assert "about the review as a whole" in html
    # The auditor reads its history, a click away; only the recorder is offered an edit.
    assert reverse("audit:timeline", args=["reviews.auditsession", session.pk]) in html
    assert "Edit launch audit" not in html
    recorder = client_for(cast["reviewer"]).get(session.get_absolute_url()).content.decode()
    assert "Edit launch audit" in recorder


@pytest.mark.parametrize("who", CAST)
def test_everyone_who_reads_the_review_reads_its_launch_audits(
    cast, client_for, review, items, who
):
    session = record(review, items, cast["reviewer"])
    response = client_for(cast[who]).get(session.get_absolute_url())
    assert response.status_code == (404 if who in ("other_lead", "nobody") else 200), who


def test_the_review_page_lists_its_launch_audits_and_offers_recording_to_who_may(
    cast, client_for, review, items
):
    session = record(review, items, cast["manager"])
    for who in CAST:
        if who in ("other_lead", "nobody"):
            continue
        html = client_for(cast[who]).get(review.get_absolute_url()).content.decode()
        assert "Launch audits" in html and session.get_absolute_url() in html, who
        offered = create_url(review) in html
        assert offered == (who in ("reviewer", "manager")), who


def test_the_session_page_costs_the_same_with_many_decisions(
    cast, client_for, review, items, django_assert_num_queries
):
    few = record(review, items, cast["reviewer"], title="Few")
    many = record(review, items, cast["reviewer"], title="Many", attendees=[cast["lead"]])
    for n in range(12):
        AuditDecision.objects.create(
            session=many, outcome="noted", text=f"Decision {n}", item=items["Dashboards exist"]
        )
    client = client_for(cast["auditor"])
    client.get(reverse("checklists:library"))  # settle the session
    # 1 session, 2 user, 3 roles; 4 the audit + review + service + team + version +
    # recorder, 5 attendees, 6 decisions + items; the review as of the moment (7 review,
    # 8 service, 9 answers, 10 version, 11 items, 12 evidence, 13 exceptions, 14 sign-offs,
    # 15 people) and now, to mark what changed since (16-23, the same but the service);
    # 24 the answers the decisions link to.
    for session in (few, many):
        with django_assert_num_queries(24):
            assert client.get(session.get_absolute_url()).status_code == 200


# --- editing -----------------------------------------------------------------------------


def edit_url(session: AuditSession) -> str:
    return reverse("reviews:audit_session_edit", args=[session.pk])


@pytest.mark.parametrize("who", CAST)
def test_only_the_recorder_edits_a_launch_audit(cast, client_for, review, items, who):
    session = record(review, items, cast["reviewer"])
    client = client_for(cast[who])
    get = client.get(edit_url(session))
    post = client.post(edit_url(session), edit_data(session, minutes="Changed."))
    if who == "reviewer":
        assert (get.status_code, post.status_code) == (200, 302)
        return
    expected = 404 if who in ("other_lead", "nobody") else 403
    assert (get.status_code, post.status_code) == (expected, expected), who
    session.refresh_from_db()
    assert session.minutes == "Minutes." and session.revision == 1
    assert history_counts(session) == (1, 2)


def test_an_edit_of_the_minutes_writes_one_history_row_and_touches_no_decision(
    cast, client_for, review, items
):
    session = record(review, items, cast["reviewer"])
    response = client_for(cast["reviewer"]).post(
        edit_url(session), edit_data(session, minutes="Better minutes.")
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.minutes == "Better minutes." and session.revision == 2
    assert history_counts(session) == (2, 2)
    latest = AuditSession.history.filter(id=session.pk).latest("history_date")
    assert latest.history_user == cast["reviewer"]
    assert latest.history_change_reason == "Launch audit edited"


def test_changing_attendees_and_a_decision_and_taking_one_out_is_one_row_each(
    cast, client_for, review, items
):
    session = record(review, items, cast["reviewer"], attendees=[cast["lead"]])
    first, second = session.decisions.order_by("id")
    data = edit_data(
        session,
        attendees=[str(cast["manager"].pk)],
        **{
            "decisions-0-text": "Restore test before launch, reported to the manager.",
            "decisions-1-DELETE": "on",
            "decisions-2-outcome": "accepted",
            "decisions-2-text": "Dashboards accepted.",
            "decisions-2-item": str(items["Dashboards exist"].pk),
        },
    )
    assert client_for(cast["reviewer"]).post(edit_url(session), data).status_code == 302
    session.refresh_from_db()
    assert list(session.attendees.all()) == [cast["manager"]]
    latest = AuditSession.history.filter(id=session.pk).latest("history_date")
    assert [a.user_id for a in latest.attendees.all()] == [cast["manager"].pk]
    assert AuditSession.history.filter(id=session.pk).count() == 2
    assert AuditDecision.history.filter(id=first.pk).count() == 2
    gone = AuditDecision.history.filter(id=second.pk).latest("history_date")
    assert gone.history_type == "-"
    assert gone.history_change_reason == "Decision taken out of the launch audit"
    assert gone.history_user == cast["reviewer"]
    added = session.decisions.exclude(pk=first.pk).get()
    assert AuditDecision.history.filter(id=added.pk).count() == 1
    assert [d.text for d in session.decisions.order_by("id")] == [
        "Restore test before launch, reported to the manager.",
        "Dashboards accepted.",
    ]


def test_saving_an_unchanged_form_writes_nothing(cast, client_for, review, items):
    session = record(review, items, cast["reviewer"], attendees=[cast["lead"]])
    response = client_for(cast["reviewer"]).post(edit_url(session), edit_data(session))
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.revision == 1
    assert history_counts(session) == (1, 2)


def test_the_same_edit_sent_twice_succeeds_once(cast, client_for, review, items):
    session = record(review, items, cast["reviewer"])
    data = edit_data(
        session,
        minutes="Edited once.",
        **{"decisions-2-outcome": "noted", "decisions-2-text": "One more."},
    )
    client = client_for(cast["reviewer"])
    assert client.post(edit_url(session), data).status_code == 302
    assert client.post(edit_url(session), data).status_code == 302
    session.refresh_from_db()
    assert session.revision == 2
    assert session.decisions.count() == 3  # "One more." once
    assert history_counts(session) == (2, 3)


def test_taking_a_decision_out_twice_is_not_an_error(cast, client_for, review, items):
    session = record(review, items, cast["reviewer"])
    data = edit_data(session, **{"decisions-1-DELETE": "on"})
    client = client_for(cast["reviewer"])
    assert client.post(edit_url(session), data).status_code == 302
    assert client.post(edit_url(session), data).status_code == 302
    assert session.decisions.count() == 1
    assert history_counts(session) == (2, 3)


def test_a_stale_edit_is_a_conflict_showing_both_versions_and_saving_again_overwrites(
    cast, client_for, review, items
):
    session = record(review, items, cast["reviewer"])
    stale = edit_data(session, minutes="Mine: the restore test is due Friday.")
    client = client_for(cast["reviewer"])
    # The same person saved from another tab in between.
    assert client.post(edit_url(session), edit_data(session, minutes="Theirs.")).status_code == 302
    response = client.post(edit_url(session), stale)
    assert response.status_code == 409
    html = unescape(response.content.decode())
    assert "saved this launch audit while you were editing it" in html
    assert "Theirs." in html and "Mine: the restore test is due Friday." in html
    assert 'name="revision" value="2"' in html
    session.refresh_from_db()
    assert session.minutes == "Theirs." and session.revision == 2
    assert history_counts(session) == (2, 2)
    # Saving again from the conflict form is a deliberate overwrite.
    again = stale | {"revision": "2"}
    assert client.post(edit_url(session), again).status_code == 302
    session.refresh_from_db()
    assert session.minutes == "Mine: the restore test is due Friday." and session.revision == 3


def test_an_edit_of_a_decision_removed_since_is_a_conflict_that_keeps_it_as_new(
    cast, client_for, review, items
):
    session = record(review, items, cast["reviewer"])
    stale = edit_data(session, **{"decisions-1-text": "Noted, with more words."})
    client = client_for(cast["reviewer"])
    removal = edit_data(session, **{"decisions-1-DELETE": "on"})
    assert client.post(edit_url(session), removal).status_code == 302
    response = client.post(edit_url(session), stale)
    assert response.status_code == 409
    assert session.decisions.count() == 1
    html = response.content.decode()
    removed_id = AuditDecision.history.filter(history_type="-").get().id
    assert f'name="decisions-1-decision" value="{removed_id}"' not in html


def test_another_audits_decision_in_the_edit_form_is_an_error_and_nothing_changes(
    cast, client_for, review, items
):
    mine = record(review, items, cast["reviewer"], title="Mine")
    theirs = record(review, items, cast["manager"], title="Theirs")
    foreign = theirs.decisions.first()
    data = edit_data(mine, **{"decisions-0-decision": str(foreign.pk), "decisions-0-text": "x"})
    response = client_for(cast["reviewer"]).post(edit_url(mine), data)
    assert response.status_code == 400
    assert "A decision of another launch audit cannot be edited here." in unescape(
        response.content.decode()
    )
    assert foreign.text == AuditDecision.objects.get(pk=foreign.pk).text
    assert history_counts(mine) == (1, 2) and history_counts(theirs) == (1, 2)


@pytest.mark.parametrize("revision", ["", "abc", "0", "99999999999999999999"])
def test_a_damaged_revision_is_said_in_words(cast, client_for, review, items, revision):
    session = record(review, items, cast["reviewer"])
    response = client_for(cast["reviewer"]).post(
        edit_url(session), edit_data(session, minutes="x", revision=revision)
    )
    assert response.status_code == 400
    assert "This form is out of date or damaged" in response.content.decode()
    assert history_counts(session) == (1, 2)


def test_the_auditor_changes_nothing_anywhere_in_launch_audits(cast, client_for, review, items):
    session = record(review, items, cast["reviewer"])
    client = client_for(cast["auditor"])
    lines = Entry.objects.filter(record_type__in=["reviews.auditsession", "reviews.auditdecision"])
    before = (history_counts(), lines.count())
    assert client.post(create_url(review), session_data(items)).status_code == 403
    assert client.post(edit_url(session), edit_data(session, minutes="x")).status_code == 403
    assert client.get(session.get_absolute_url()).status_code == 200
    assert (history_counts(), lines.count()) == before


# --- the demo ----------------------------------------------------------------------------


def test_the_demo_has_a_recorded_launch_audit_the_auditor_reads_at_first_sign_in(client_for):
    call_command("load_builtin_checklists", stdout=io.StringIO())
    demo_setup()
    demo_reviews()
    demo_reviews()  # a second run records nothing more
    session = AuditSession.objects.select_related("review__service").get()
    assert session.review.service.slug == "benefits-api"
    assert session.decisions.count() == 3 and session.attendees.count() == 4
    assert session.recorded_by.email == "security@example.com"
    assert JournalNote.objects.count() == 2
    auditor = client_for(User.objects.get(email="auditor@example.com"))
    review_page = auditor.get(session.review.get_absolute_url()).content.decode()
    assert session.get_absolute_url() in review_page
    html = auditor.get(session.get_absolute_url()).content.decode()
    assert "The review then" in html
    assert html.count(f'href="{session.review.get_absolute_url()}#answer-') == 2
