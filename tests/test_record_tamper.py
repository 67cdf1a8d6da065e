"""Tamper evidence (issue 12, item 6): the record built by the real services verifies
intact; every edit, deletion and insertion made behind the application's back with raw
SQL is caught and the report names the row; ``manage.py verify_record`` exits non-zero
on a break; the Verify page is for auditors and admins; concurrent writers never fork
the chain.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.audit import ledger, verify_runs
from portal.audit.models import AuditEvent, AuditKind, ChainHead, Entry
from portal.audit.verify import verify_record
from reviews import evidence, services, signoffs, waivers
from reviews.models import Answer, AnswerStatus, EvidenceKind, Review, SignOff
from tests.conftest import PASSWORD
from tests.factories import ReviewFactory

pytestmark = pytest.mark.django_db

VERIFY = reverse("audit:verify")


def sql(statement: str, *params: Any) -> Any:
    """Run one statement behind the application's back; the first column of the first
    row it returns, if any."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0] if cursor.description else None


def answered(answer: Answer, status: str, by: Any, justification: str = "") -> Answer:
    return services.answer_update(
        answer=answer,
        change=services.AnswerChange(status, justification, "", None),
        based_on_revision=answer.revision,
        by=by,
    )


@pytest.fixture
def record(review, lead, reviewer) -> SimpleNamespace:
    """A review's life through the real services: answers, evidence, an approved
    exception, a submission and a sign-off; then a sign-in and a failed one."""
    answers = {a.item.text: a for a in review.answers.select_related("item")}
    backups = answered(answers["Backups run"], AnswerStatus.MET, lead)
    dashboards = answered(answers["Dashboards exist"], AnswerStatus.NOT_MET, lead, "Not yet.")
    note = evidence.evidence_add(
        answer=backups,
        by=lead,
        kind=EvidenceKind.NOTE,
        note="Restore drill passed on 3 March.",
        effective_date=timezone.localdate(),
    )
    waiver = waivers.waiver_request(
        answer=dashboards,
        by=lead,
        rationale="Dashboards come with the second release.",
        compensating_controls="Alerts page the on-call engineer.",
        expires_on=timezone.localdate() + timedelta(days=30),
    )
    waivers.waiver_decide(waiver=waiver, by=reviewer, approve=True, comment="Fine for launch.")
    services.review_transition(review=review, action="submit", by=lead)
    signoff = signoffs.signoff_record(
        review=Review.objects.get(pk=review.pk),
        by=reviewer,
        role="security_reviewer",
        decision="approve",
        comment="Good to go.",
    )
    Client().post("/accounts/login/", {"login": lead.email, "password": PASSWORD})
    Client().post("/accounts/login/", {"login": lead.email, "password": "not the password"})
    return SimpleNamespace(
        review=review, answer=backups, evidence=note, waiver=waiver, signoff=signoff
    )


def line_of(table: str, row_id: int) -> Entry:
    return Entry.objects.get(source_table=table, source_id=row_id)


def latest_history(model: Any, **lookup: Any) -> Any:
    return model.history.filter(**lookup).order_by("-history_id").first()


def assert_broken_at(report: Any, words: str, *, line_id: Any = None, table: str = "",
                     row_id: Any = None) -> None:  # fmt: skip
    assert not report.ok
    assert words in report.broken.problem, report.broken.problem
    if line_id is not None:
        assert report.broken.line_id == line_id, report.broken
    if table:
        assert (report.broken.source_table, report.broken.source_id) == (table, row_id)


# --- intact ---------------------------------------------------------------------------------


def test_a_record_written_by_the_services_verifies_intact(record):
    report = verify_record()

    assert report.ok, report.broken
    lines = Entry.objects.count()
    head = ChainHead.objects.get()
    assert report.lines == lines == head.count
    assert report.events == AuditEvent.objects.count() >= 2  # sign-ins, roles of the cast
    assert report.history_rows == lines - report.events
    assert (report.head_id, report.head_hash) == (head.last_id, head.last_hash)
    assert report.summary.startswith(f"Record intact: {lines} lines, ")
    kinds = set(AuditEvent.objects.values_list("kind", flat=True))
    assert {AuditKind.LOGIN_SUCCEEDED, AuditKind.LOGIN_FAILED} <= kinds
    # What the fixture promises is really in the record, so the tests below tamper with it.
    recorded = set(Entry.objects.values_list("record_type", flat=True))
    assert {
        "reviews.review",
        "reviews.answer",
        "reviews.evidence",
        "reviews.waiver",
        "reviews.signoff",
        "audit.event",
    } <= recorded


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_the_result_does_not_depend_on_the_chunk_size(record, chunk):
    whole = verify_record()
    assert verify_record(chunk=chunk).as_dict() | {"seconds": 0} == whole.as_dict() | {"seconds": 0}


def test_its_queries_do_not_grow_with_the_lines(record, lead):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert verify_record().ok
        return len(captured)

    before = queries()
    answer = Answer.objects.get(pk=record.answer.pk)
    for status in [AnswerStatus.PARTIALLY_MET, AnswerStatus.MET] * 5:
        answer = answered(answer, status, lead, "Half." if status != AnswerStatus.MET else "")
    # Per chunk: the lines, then one query per table they point at (the review's
    # editors snapshot adds one), then per table the anti-join; plus the head.
    assert queries() == before


# --- each way of tampering, caught ------------------------------------------------------------


def test_it_catches_an_edited_history_row(record):
    row = latest_history(Answer, id=record.answer.pk)
    sql("UPDATE reviews_historicalanswer SET status = 'not_met' WHERE history_id = %s",
        row.history_id)  # fmt: skip

    report = verify_record()

    assert_broken_at(
        report,
        f"history row reviews_historicalanswer #{row.history_id} (answer) differs from what "
        "the record holds",
        line_id=line_of("reviews_historicalanswer", row.history_id).pk,
        table="reviews_historicalanswer",
        row_id=row.history_id,
    )


def test_it_catches_a_deleted_history_row(record):
    row = latest_history(type(record.evidence), id=record.evidence.pk)
    sql("DELETE FROM reviews_historicalevidence WHERE history_id = %s", row.history_id)

    report = verify_record()

    assert_broken_at(
        report,
        f"history row reviews_historicalevidence #{row.history_id} (evidence) was deleted",
        line_id=line_of("reviews_historicalevidence", row.history_id).pk,
        table="reviews_historicalevidence",
        row_id=row.history_id,
    )


def test_it_catches_a_history_row_slipped_in(record):
    history = Answer.history.model
    columns = ", ".join(
        f.column for f in history._meta.concrete_fields if not f.primary_key
    )  # a copy of a real row, as if the answer had been set back
    source = latest_history(Answer, id=record.answer.pk).history_id
    added = sql(
        f"INSERT INTO reviews_historicalanswer ({columns}) SELECT {columns} "  # noqa: S608
        "FROM reviews_historicalanswer WHERE history_id = %s RETURNING history_id",
        source,
    )

    report = verify_record()

    assert_broken_at(
        report,
        f"history row reviews_historicalanswer #{added} (answer) was added behind the "
        "application's back (no line records it)",
        table="reviews_historicalanswer",
        row_id=added,
    )


def test_it_catches_an_edited_security_event(record):
    event = AuditEvent.objects.filter(kind=AuditKind.LOGIN_FAILED).get()
    sql("UPDATE audit_auditevent SET ip_address = '203.0.113.9' WHERE id = %s", event.pk)

    report = verify_record()

    assert_broken_at(
        report,
        f"security event audit_auditevent #{event.pk} differs from what the record holds",
        line_id=line_of("audit_auditevent", event.pk).pk,
        table="audit_auditevent",
        row_id=event.pk,
    )


def test_it_catches_a_line_removed_from_the_middle(record):
    ids = list(Entry.objects.order_by("id").values_list("id", flat=True))
    before, removed, after = ids[len(ids) // 2 - 1 : len(ids) // 2 + 2]
    sql("DELETE FROM audit_entry WHERE id = %s", removed)

    report = verify_record()

    assert_broken_at(report, f"the chain skips from line {before} to line {after}", line_id=after)
    assert report.lines == ids.index(before) + 1  # every line before the break checked


@pytest.mark.parametrize("chunk", [1, 2, 3])
@pytest.mark.parametrize("position", [1, 2, 3, 4])
def test_a_removed_line_is_caught_wherever_the_chunks_fall(record, chunk, position):
    ids = list(Entry.objects.order_by("id").values_list("id", flat=True))
    sql("DELETE FROM audit_entry WHERE id = %s", ids[position])

    report = verify_record(chunk=chunk)

    assert report.broken is not None and report.broken.line_id == ids[position + 1]
    assert report.lines == position


def test_it_catches_the_last_line_removed(record):
    last = Entry.objects.order_by("-id").first()
    sql("DELETE FROM audit_entry WHERE id = %s", last.pk)

    report = verify_record()

    assert_broken_at(
        report, f"the chain ends before its recorded head: the last line is {last.pk - 1}, "
        f"the head names line {last.pk}"
    )  # fmt: skip


def test_it_catches_an_edited_line(record):
    line = line_of("reviews_historicalanswer", latest_history(Answer, id=record.answer.pk).pk)
    sql(
        """UPDATE audit_entry SET changes = '{"Status": ["Not met", "Met"]}' WHERE id = %s""",
        line.pk,
    )

    report = verify_record()

    assert_broken_at(report, f"line {line.pk} was altered", line_id=line.pk)


def test_it_catches_a_forged_line_even_when_it_is_chained_correctly(record, lead):
    head = ChainHead.objects.get()
    forged = Entry(
        at=timezone.now(),
        record_type="reviews.answer",
        record_id=str(record.answer.pk),
        record_label="Backups run",
        change="changed",
        changes={"Status": ["Not met", "Met"]},
        reason="Answered: Met",
        actor=lead,
        actor_label=lead.email,
        source_table="reviews_historicalanswer",
        source_id=999_999,
        content_hash="0" * 64,
        prev_hash=head.last_hash,
    )
    forged.chain_hash = ledger.digest(ledger.line_content(forged))
    columns = [f for f in Entry._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.value_from_object(forged), connection) for f in columns]
    line_id = sql(
        f"INSERT INTO audit_entry ({', '.join(f.column for f in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id",
        *values,
    )

    report = verify_record()

    assert_broken_at(
        report,
        f"line {line_id} was added behind the application's back (it comes after the chain "
        f"head, line {head.last_id})",
        line_id=line_id,
    )


def test_it_catches_an_edited_sign_off(record):
    row = latest_history(SignOff, id=record.signoff.pk)
    sql("UPDATE reviews_historicalsignoff SET comment = 'Not reviewed.' WHERE history_id = %s",
        row.history_id)  # fmt: skip

    report = verify_record()

    assert_broken_at(
        report,
        f"history row reviews_historicalsignoff #{row.history_id} (sign off) differs",
        table="reviews_historicalsignoff",
        row_id=row.history_id,
    )


def test_it_catches_an_edited_editors_snapshot(record, lead):
    # Who edited a review decides who may sign it off: its snapshot is covered too.
    row = latest_history(Review, id=record.review.pk)
    sql("DELETE FROM reviews_historicalreview_editors WHERE history_id = %s", row.history_id)

    report = verify_record()

    assert_broken_at(report, "differs", table="reviews_historicalreview", row_id=row.history_id)


def test_it_catches_a_row_edit_whose_line_was_rewritten_to_match(record):
    row = latest_history(Answer, id=record.answer.pk)
    sql("UPDATE reviews_historicalanswer SET status = 'not_met' WHERE history_id = %s",
        row.history_id)  # fmt: skip
    row.refresh_from_db()
    line = line_of("reviews_historicalanswer", row.history_id)
    sql(
        "UPDATE audit_entry SET content_hash = %s WHERE id = %s",
        ledger.digest(ledger.row_content(row)),
        line.pk,
    )

    report = verify_record()

    assert_broken_at(report, f"line {line.pk} was altered", line_id=line.pk)


def test_it_names_the_first_break_when_there_are_several(record):
    lines = list(Entry.objects.order_by("id"))
    first, later = lines[3], lines[-3]
    for line in (later, first):
        sql("UPDATE audit_entry SET reason = 'rewritten' WHERE id = %s", line.pk)

    assert verify_record().broken.line_id == first.pk


def test_an_empty_record_is_intact(db):
    report = verify_record()
    assert report.ok and report.lines == 0
    assert report.summary.startswith("Record intact: 0 lines")


# --- manage.py verify_record ---------------------------------------------------------------------


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py verify_record`` as its own process, on the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TEST_DATABASE_NAME"}}
    return subprocess.run(
        [sys.executable, "manage.py", "verify_record", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env={**env, "DATABASE_URL": url},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)  # the command's own process reads what is committed
def test_the_command_exits_zero_when_intact_and_one_at_the_first_broken_link(record):
    intact = run_command()

    assert intact.returncode == 0, intact.stderr
    head = ChainHead.objects.get()
    assert f"Record intact: {head.count} lines" in intact.stdout
    assert head.last_hash in intact.stdout

    sql("DELETE FROM audit_entry WHERE id = %s", head.last_id)
    broken = run_command()

    assert broken.returncode == 1
    assert (
        f"Record broken: the chain ends before its recorded head: the last line is "
        f"{head.last_id - 1}, the head names line {head.last_id}." in broken.stderr
    )


def test_the_command_prints_the_report_and_refuses_a_chunk_below_one(record):
    out = io.StringIO()
    call_command("verify_record", "--chunk", "3", stdout=out)
    assert out.getvalue().startswith("Record intact: ")

    with pytest.raises(CommandError, match="--chunk must be at least 1") as refused:
        call_command("verify_record", "--chunk", "0")
    assert refused.value.returncode == 1


# --- the Verify page --------------------------------------------------------------------------


def test_anonymous_people_are_sent_to_sign_in(client):
    for method in (client.get, client.post):
        response = method(VERIFY)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("who", ["lead", "other_lead", "reviewer", "manager", "nobody"])
def test_other_roles_are_refused_in_words(cast, client_for, who):
    client = client_for(cast[who])
    for method in (client.get, client.post):
        response = method(VERIFY)
        assert response.status_code == 403
        assert "Verifying the record is for auditors and admins." in response.content.decode()


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_auditors_and_admins_verify_with_the_button(cast, client_for, record, who):
    client = client_for(cast[who])

    page = client.get(VERIFY).content.decode()
    assert "The record has not been verified yet." in page
    assert f'action="{VERIFY}"' in page and "csrfmiddlewaretoken" in page

    response = client.post(VERIFY)  # no broker in tests: the task runs at once
    assert response.status_code == 302 and response["Location"] == VERIFY
    page = client.get(VERIFY).content.decode()
    assert "Verification started." in page
    assert "The record is intact" in page
    head = ChainHead.objects.get()
    assert f"Line {head.last_id}, fingerprint" in page
    assert head.last_hash[:8] in page

    # The next reader sees the last result, who ran it and when, without running it.
    later = client_for(cast["auditor"]).get(VERIFY).content.decode()
    assert "The record is intact" in later and f"by {cast[who].email}" in later


def test_the_page_names_the_first_broken_link(client_for, auditor, record):
    row = latest_history(Answer, id=record.answer.pk)
    sql("UPDATE reviews_historicalanswer SET status = 'not_met' WHERE history_id = %s",
        row.history_id)  # fmt: skip
    client = client_for(auditor)

    page = client.get(client.post(VERIFY)["Location"]).content.decode()

    assert "The record is broken" in page
    assert f"history row reviews_historicalanswer #{row.history_id} (answer) differs" in page


def test_one_run_at_a_time(client_for, auditor, admin_user, record):
    running = verify_runs.claim(by=admin_user.email)
    assert running is not None
    client = client_for(auditor)

    page = client.get(client.post(VERIFY)["Location"]).content.decode()

    assert "A verification is already running." in page
    assert f"A verification started by {admin_user.email}" in page
    assert verify_runs.last() is None  # nothing ran
    # While it runs, htmx refreshes the status (the partial, polling itself).
    partial = client.get(VERIFY, headers={"HX-Request": "true"}).content.decode()
    assert 'id="verify-status"' in partial
    assert 'hx-trigger="every 3s"' in partial and "<html" not in partial

    verify_runs.release()
    client.post(VERIFY)
    partial = client.get(VERIFY, headers={"HX-Request": "true"}).content.decode()
    assert "The record is intact" in partial and "hx-trigger" not in partial


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_verification(client_for, auditor, record, redis_worker):
    client_for(auditor).post(VERIFY)

    deadline = time.monotonic() + 30
    while (last := verify_runs.last()) is None and time.monotonic() < deadline:
        time.sleep(0.1)

    assert last is not None and last.report is not None and last.report.ok
    assert last.by == auditor.email
    assert verify_runs.running() is None


def test_the_button_needs_the_csrf_token(auditor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(auditor)
    assert client.post(VERIFY).status_code == 403


def test_the_page_refuses_other_methods(client_for, auditor):
    assert client_for(auditor).put(VERIFY).status_code == 405


def test_the_activity_page_links_to_verify(client_for, auditor):
    assert f'href="{VERIFY}"' in client_for(auditor).get(reverse("audit:activity")).content.decode()


# --- concurrent writers -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain(lead):
    """Writers in their own transactions on their own connections contend for the head;
    the lock makes them take turns, so the chain stays one line after another."""
    writers, changes = 4, 6
    reviews = [ReviewFactory(by=lead) for _ in range(writers)]
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(review: Review) -> None:
        try:
            answer = review.answers.select_related("item").first()
            start.wait()
            for n in range(changes):
                status = AnswerStatus.MET if n % 2 else AnswerStatus.PARTIALLY_MET
                answer = answered(answer, status, lead, "" if n % 2 else "Half way.")
                services.comment_add(answer=answer, by=lead, body=f"Change {n}")
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(review,)) for review in reviews]
    before = Entry.objects.count()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures, failures
    # Each change: the answer, the review (its summary) and the comment.
    assert Entry.objects.count() - before == writers * changes * 3
    report = verify_record()  # outside any transaction: one REPEATABLE READ snapshot
    assert report.ok, report.broken
    forks = Entry.objects.values("prev_hash").annotate(n=Count("id")).filter(n__gt=1)
    assert not forks.exists()


def test_history_from_before_the_record_is_brought_into_it_once(record):
    """A database upgraded with history (and events) written before the record began:
    backfill_record gives every row its line, oldest first, and a second run adds none."""
    rows = Entry.objects.count()
    sql("DELETE FROM audit_entry")
    sql("DELETE FROM audit_chainhead")
    assert not verify_record().ok

    out = io.StringIO()
    call_command("backfill_record", stdout=out)
    assert out.getvalue().strip() == f"Added {rows} lines to the record."
    report = verify_record()
    assert report.ok, report.broken
    times = list(Entry.objects.order_by("id").values_list("at", flat=True))
    assert times == sorted(times)

    out = io.StringIO()
    call_command("backfill_record", stdout=out)
    assert out.getvalue().strip() == "Added 0 lines to the record."
