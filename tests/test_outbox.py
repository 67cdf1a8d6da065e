"""The transactional outbox (``portal.outbox``) and what leans on it while Redis is away.

A task is written with the change that asked for it and sent once that change commits;
a broker that is away leaves it in the table for the relay, never lost and never sent
for a change that rolled back. Around it: the page cache and the Verify button read an
unreachable cache as "unknown", not as a crash; a request that finds the database away
gets a 503; the cache's repeated errors are logged once a minute; admins see what waits.

Brokers and caches that are "away" are real clients pointed at a port where nothing
listens (``tests.http_servers.closed_port``): connections are refused at once, as when
Redis has stopped. The end-to-end version, with real processes and Redis really
stopping, is tests/test_faults.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from io import StringIO
from typing import Any

import pytest
import redis
from celery import Celery
from celery import current_app as celery_current_app
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, transaction
from django.test import Client, RequestFactory
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from portal import errors
from portal.accounts.tasks import email_message_to_payload, enqueue_email, send_email
from portal.audit import verify_runs
from portal.logs import OncePerInterval, RequestContextFilter
from portal.outbox import relay
from portal.outbox.models import OutboxTask
from portal.outbox.relay import Sent, counts, enqueue, keep, send, waiting
from reviews.checks.services import token_create
from reviews.models import CheckRun
from reviews.pagecache import WORKSPACE, bump_pages
from tests.conftest import PASSWORD
from tests.http_servers import closed_port
from tests.services import isolated_celery_app, require_redis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _not_paused() -> Iterator[None]:
    # The pause after a refusal is per process: one test's outage must not leave the
    # next test's tasks to the relay.
    relay._paused_until = 0.0
    yield
    relay._paused_until = 0.0


def message(subject: str) -> EmailMessage:
    return EmailMessage(subject=subject, body="Body", to=["security@example.com"])


def payload(subject: str) -> Any:
    return email_message_to_payload(message(subject))


@contextmanager
def broker_away() -> Iterator[Celery]:
    """The project's Celery app, current, with its broker on a port where nothing listens."""
    previous = celery_current_app._get_current_object()
    with closed_port() as port:
        app = isolated_celery_app(f"redis://127.0.0.1:{port}/0")
        app.set_current()
        try:
            yield app
        finally:
            previous.set_current()
            app.close()


def django_redis(url: str) -> dict[str, Any]:
    """A cache as production configures it (portal.settings: django-redis, an unreachable
    Redis read as an empty cache) on ``url``."""
    return {
        "default": {
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"preflight-test-{uuid.uuid4().hex}",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }


@pytest.fixture
def cache_away(settings) -> Iterator[None]:
    """The default cache is django-redis on a port where nothing listens. (Changing
    CACHES through the settings fixture resets ``django.core.cache.caches``, and again
    when the test ends.)"""
    with closed_port() as port:
        settings.CACHES = django_redis(f"redis://127.0.0.1:{port}/0")
        yield


@pytest.fixture
def cache_on_redis(settings) -> Iterator[None]:
    """The default cache is django-redis on the test Redis, under a prefix of its own."""
    settings.CACHES = django_redis(require_redis())
    yield
    cache.delete(WORKSPACE.version_key)  # kept without a timeout: leave none behind


def wait_for_mail(count: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mail.outbox) == count, [m.subject for m in mail.outbox]


# --- enqueueing with the change -------------------------------------------------------------


def test_a_task_enqueued_in_a_transaction_that_rolls_back_is_neither_kept_nor_sent(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        enqueue_email(message("Never"))
        assert OutboxTask.objects.count() == 1
        1 / 0  # noqa: B018 - the change fails, and takes its task with it
    assert callbacks == []
    assert not OutboxTask.objects.exists()
    assert mail.outbox == []


def test_in_the_embedded_mode_the_email_is_sent_once_the_change_commits(
    django_capture_on_commit_callbacks,
):
    assert celery_current_app.conf.task_always_eager
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue_email(message("Review submitted"))
            # Kept with the change, not sent yet.
            (row,) = OutboxTask.objects.all()
            assert row.task == "accounts.send_email"
            assert row.args == [payload("Review submitted")]
            assert mail.outbox == []
        assert mail.outbox == []  # committed, but the callbacks run on leaving the block
    assert [m.subject for m in mail.outbox] == ["Review submitted"]
    assert not OutboxTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_email_once_the_change_commits(redis_worker):
    with transaction.atomic():
        enqueue_email(message("Across the broker"))
        assert OutboxTask.objects.count() == 1
    # The broker took it at the commit: the row is gone before the worker even runs it.
    assert not OutboxTask.objects.exists()
    wait_for_mail(1)
    assert mail.outbox[0].subject == "Across the broker"


def test_arguments_that_are_not_json_are_refused_in_the_callers_transaction(
    django_capture_on_commit_callbacks,
):
    # Refused while the caller's change is still open, so the change fails with it, not
    # by the broker after the commit, when the change would be saved without its task.
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(TypeError, match="date is not JSON serializable"),
        transaction.atomic(),
    ):
        enqueue_email(message("The change's other task"))  # stands for the change itself
        enqueue(send_email, {**payload("x"), "when": date(2026, 1, 1)})
    assert callbacks == []
    assert not OutboxTask.objects.exists()
    assert mail.outbox == []


# --- the broker away -------------------------------------------------------------------------


def test_while_the_broker_is_away_tasks_wait_in_the_outbox_and_the_relay_sends_them_in_order(
    redis_worker, django_capture_on_commit_callbacks, caplog
):
    with broker_away():
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            enqueue_email(message("First"))  # the broker refuses it: no exception
        (first,) = OutboxTask.objects.all()
        assert first.attempts == 1
        assert first.last_error.startswith("OperationalError: ")
        assert "Connection refused" in first.last_error
        assert first.given_up_at is None
        assert "stays in the outbox for the relay" in caplog.text

        # Moments later, the next request does not even try the broker: it is paused.
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            enqueue_email(message("Second"))
        second = OutboxTask.objects.get(pk__gt=first.pk)
        assert second.attempts == 0
        assert waiting() == 2

    # The broker is back (the worker's app is current again): the relay sends them.
    assert mail.outbox == []
    assert relay.relay() == 2
    assert not OutboxTask.objects.exists()
    wait_for_mail(2)
    assert [m.subject for m in mail.outbox] == ["First", "Second"]


def test_once_the_broker_is_back_this_process_sends_at_the_commit_again(
    private_redis, django_capture_on_commit_callbacks
):
    """The web process's pooled broker connection recovers: after an outage, its tasks
    go at their commit again instead of all waiting for the relay."""

    def commit_an_email(subject: str) -> None:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            enqueue_email(message(subject))

    app = isolated_celery_app(private_redis.url)
    previous = celery_current_app._get_current_object()
    app.set_current()
    try:
        commit_an_email("Before")  # opens the pooled connection
        assert not OutboxTask.objects.exists()
        private_redis.stop()
        commit_an_email("During")
        assert OutboxTask.objects.get().attempts == 1
        private_redis.start()  # the same port, empty
        relay._paused_until = 0.0  # the pause is over
        commit_an_email("After")
        assert OutboxTask.objects.get().attempts == 1  # only "During" waits
        assert relay.relay() == 1
        assert not OutboxTask.objects.exists()
        # The restarted Redis lost "Before"; it holds "After", then "During" from the
        # relay (LPUSH: the newest first).
        with redis.Redis.from_url(private_redis.url) as broker:
            queued = broker.lrange(app.conf.task_default_queue, 0, -1)
        said = [json.loads(m)["headers"]["argsrepr"] for m in queued]
        assert [("During" in s, "After" in s) for s in said] == [(True, False), (False, True)]
    finally:
        previous.set_current()
        app.close()


def test_checks_asked_for_while_the_broker_is_away_wait_in_the_outbox(
    lead, service, client_for, django_capture_on_commit_callbacks
):
    with broker_away(), django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).post(f"/services/{service.slug}/check-now/")
    run = CheckRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/checks/runs/{run.pk}/"
    (row,) = OutboxTask.objects.all()
    assert (row.task, row.args, row.attempts) == ("checks.sweep", [run.pk, [service.pk]], 1)


# --- what cannot be sent at all --------------------------------------------------------------


def test_a_task_that_cannot_be_sent_is_set_aside_and_the_rest_still_go(caplog):
    unknown = OutboxTask.objects.create(task="no.such.task", args=[1])
    keep(send_email, payload("After the unknown one"))

    with caplog.at_level(logging.ERROR, logger="preflight.outbox"):
        assert relay.relay() == 1

    unknown.refresh_from_db()
    assert unknown.given_up_at is not None
    assert unknown.attempts == 1
    assert "NotRegistered" in unknown.last_error and "no.such.task" in unknown.last_error
    (logged,) = [r for r in caplog.records if r.name == "preflight.outbox"]
    assert logged.levelno == logging.ERROR
    assert "no.such.task cannot be sent" in logged.getMessage()
    assert [m.subject for m in mail.outbox] == ["After the unknown one"]
    assert waiting() == 0
    assert counts() == {"waiting": 0, "set_aside": 1}
    # Set aside means left alone: the next relay does not try it again.
    assert relay.relay() == 0
    unknown.refresh_from_db()
    assert unknown.attempts == 1


def test_relay_outbox_fails_while_tasks_still_wait_and_succeeds_when_none_do():
    OutboxTask.objects.create(task="no.such.task", given_up_at=timezone.now())
    keep(send_email, payload("Kept"))

    out = StringIO()
    with broker_away(), pytest.raises(CommandError, match="1 tasks are still waiting"):
        call_command("relay_outbox", stdout=out)
    assert out.getvalue() == "Sent 0 tasks; 1 still waiting.\n"
    assert counts() == {"waiting": 1, "set_aside": 1}

    # The broker is back (embedded mode here: sent in-process). The set-aside task is
    # an admin's business, not a reason to fail.
    out = StringIO()
    call_command("relay_outbox", stdout=out)
    assert out.getvalue() == "Sent 1 tasks; 0 still waiting.\n"
    assert [m.subject for m in mail.outbox] == ["Kept"]
    assert counts() == {"waiting": 0, "set_aside": 1}


# --- two senders of one row ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_row_another_process_is_sending_is_left_to_it():
    keep(send_email, payload("Once"))
    row = OutboxTask.objects.get()
    locked, release = threading.Event(), threading.Event()

    def other_sender() -> None:
        # Its own connection: another web process or the relay, holding the row's lock.
        try:
            with transaction.atomic():
                OutboxTask.objects.select_for_update().get(pk=row.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_sender)
    thread.start()
    try:
        assert locked.wait(10)
        assert send(row.pk) is Sent.BUSY
        assert relay.relay() == 0
        assert OutboxTask.objects.filter(pk=row.pk).exists()
        assert mail.outbox == []
    finally:
        release.set()
        thread.join(10)
    assert send(row.pk) is Sent.SENT
    assert send(row.pk) is Sent.BUSY  # sent already: never twice
    assert [m.subject for m in mail.outbox] == ["Once"]
    assert not OutboxTask.objects.exists()


# --- the cache away --------------------------------------------------------------------------


def test_an_unreachable_cache_reads_as_empty_and_a_page_bump_waits_in_the_outbox(cache_away):
    assert cache.get("anything") is None
    cache.set("anything", 1)  # no exception either
    WORKSPACE.bump()
    WORKSPACE.bump()  # a second change while Redis is away: one bump afterwards is enough
    (row,) = OutboxTask.objects.all()
    assert (row.task, row.args, row.kwargs) == ("pages.bump", ["workspace"], {})


def test_the_relay_makes_the_page_bump_once_the_cache_is_back(cache_on_redis):
    keep(bump_pages, "workspace")
    before = WORKSPACE.version()
    assert relay.relay() == 1
    assert WORKSPACE.version() > before
    assert not OutboxTask.objects.exists()


def test_an_unreachable_cache_adds_like_an_empty_one_but_never_passes_a_used_code(cache_away):
    # allauth's rate-limit lock: granted, or every sign-in would wait and be refused.
    assert cache.add("allauth.ratelimit:login:lock", True) is True
    # A run claimed: the broker (the same Redis, in production) then says whether it starts.
    assert verify_runs.claim(by="auditor@example.com") is not None
    # allauth's record of used two-factor codes cannot say "not used before": refused.
    assert cache.add("allauth.mfa.totp.used?user=1&code=123456", "y") is False


def test_the_verify_page_says_the_run_could_not_start_while_redis_is_away(
    cache_away, auditor, client_for
):
    with broker_away():
        response = client_for(auditor).post("/activity/verify/", follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said == [
        "The verification could not start: the task queue is unavailable. "
        "Run manage.py verify_record on the server instead."
    ]
    assert "already running" not in response.content.decode()


def test_a_person_can_sign_in_while_the_cache_is_away(cache_away, lead):
    # allauth's rate limits take a lock with cache.add: granted while Redis is away.
    response = Client().post("/accounts/login/", {"login": lead.email, "password": PASSWORD})
    assert response.status_code == 302, response.status_code


def test_a_push_is_let_through_rather_than_failed_while_the_cache_is_away(
    cache_away, service, lead
):
    # The push rate limit's cache.incr answers None while Redis is away: the push goes
    # through (here, to be told its body is not JSON).
    token = token_create(service=service, name="GitHub Actions", by=lead)[1]
    response = Client(raise_request_exception=False).post(
        "/api/v1/evidence",
        data="not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400, response.status_code


# --- the database away -----------------------------------------------------------------------


def server_error_during(exc: Exception, path: str) -> Any:
    request = RequestFactory().get(path)
    try:
        raise exc
    except Exception:  # as Django's handler calls it: inside the handling of the exception
        return errors.server_error(request)


def test_a_page_that_finds_the_database_away_answers_503_with_retry_after(
    django_assert_num_queries,
):
    with django_assert_num_queries(0):  # the page must not need the database it lacks
        response = server_error_during(OperationalError("server closed the connection"), "/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    page = response.content.decode()
    assert "Preflight is briefly unavailable" in page
    assert "cannot reach its database just now" in page


def test_an_api_call_that_finds_the_database_away_gets_the_json_error_with_503():
    response = server_error_during(OperationalError("server closed the connection"), "/api/v1/x")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "error": "The database is unreachable just now. Try again shortly, "
        "and check what was saved."
    }


def test_any_other_crash_is_still_a_500():
    response = server_error_during(ValueError("a bug"), "/queue/")
    assert response.status_code == 500
    assert not response.has_header("Retry-After")
    api = server_error_during(ValueError("a bug"), "/api/v1/x")
    assert api.status_code == 500
    assert "error" in json.loads(api.content)


def test_a_log_line_made_while_the_database_is_away_goes_out_without_the_user_id():
    def user_from_the_database() -> Any:
        raise OperationalError("server closed the connection")

    request = RequestFactory().get("/queue/")
    request.user = SimpleLazyObject(user_from_the_database)  # as AuthenticationMiddleware
    line = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", None, None)
    line.request = request
    assert RequestContextFilter().filter(line)
    assert line.user_id is None


# --- the cache's errors, once a minute -------------------------------------------------------


def record(msg: str = "Exception ignored") -> logging.LogRecord:
    return logging.LogRecord("preflight.cache", logging.ERROR, __file__, 1, msg, None, None)


def test_a_repeated_error_is_logged_once_per_interval_saying_how_many_were_held():
    once = OncePerInterval(seconds=60)
    first = record()
    assert once.filter(first)
    assert first.getMessage() == "Exception ignored"
    assert not once.filter(record())
    assert not once.filter(record())
    # time_machine leaves time.monotonic alone: move the last pass back instead.
    once._last -= 59
    assert not once.filter(record())
    once._last -= 2
    after = record()
    assert once.filter(after)
    assert after.getMessage() == "Exception ignored (and 3 more like it since the last)"
    # And the count starts again.
    once._last -= 61
    again = record()
    assert once.filter(again)
    assert again.getMessage() == "Exception ignored"


def test_the_caches_logger_is_filtered_once_a_minute():
    # (Each django.setup() adds the filter again: a worker sets Django up twice. Stacked,
    # the filters pass the same records, so one or several behave alike.)
    filters = logging.getLogger("preflight.cache").filters
    assert filters
    assert all(isinstance(f, OncePerInterval) and f.seconds == 60 for f in filters)


# --- the Administration page and the admin ---------------------------------------------------


def test_the_administration_page_says_nothing_waits_when_the_outbox_is_empty(
    admin_user, client_for
):
    page = client_for(admin_user).get("/administration/").content.decode()
    assert "Nothing waits for the task queue" in page
    assert "set aside" not in page


def test_the_administration_page_counts_waiting_and_set_aside_tasks(admin_user, client_for):
    keep(send_email, payload("One"))
    keep(send_email, payload("Two"))
    OutboxTask.objects.create(task="no.such.task", given_up_at=timezone.now())
    page = " ".join(client_for(admin_user).get("/administration/").content.decode().split())
    assert "<strong>2 tasks</strong> (emails, check runs) wait for the task queue" in page
    assert "<strong>1 task</strong> could not be sent at all and is set aside" in page
    assert "Nothing waits" not in page


def test_one_waiting_task_reads_in_the_singular(admin_user, client_for):
    keep(send_email, payload("One"))
    page = " ".join(client_for(admin_user).get("/administration/").content.decode().split())
    assert "<strong>1 task</strong> (emails, check runs) waits for the task queue" in page


def test_an_admin_sees_the_outbox_and_has_set_aside_tasks_tried_again(admin_user, client_for):
    waiting_row = OutboxTask.objects.create(task="accounts.send_email", args=[payload("W")])
    set_aside = OutboxTask.objects.create(
        task="no.such.task", attempts=1, last_error="NotRegistered", given_up_at=timezone.now()
    )
    client: Client = client_for(admin_user)
    changelist = client.get("/admin/outbox/outboxtask/")
    assert changelist.status_code == 200
    assert "no.such.task" in changelist.content.decode()
    assert client.get(f"/admin/outbox/outboxtask/{set_aside.pk}/change/").status_code == 200
    for state, shown in (("set-aside", [set_aside]), ("waiting", [waiting_row])):
        filtered = client.get(f"/admin/outbox/outboxtask/?state={state}")
        assert list(filtered.context["cl"].result_list) == shown

    response = client.post(
        "/admin/outbox/outboxtask/",
        {"action": "try_again", "_selected_action": [str(waiting_row.pk), str(set_aside.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "1 task will be sent at the next relay."
    ]
    set_aside.refresh_from_db()
    assert set_aside.given_up_at is None
    assert waiting() == 2


def current_code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def test_a_two_factor_code_is_refused_while_redis_cannot_record_it_as_used(cache_away, reviewer):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    totp = TOTP.activate(reviewer, secret)
    assert totp.validate_code(current_code(secret)) is False


def test_with_the_cache_a_two_factor_code_is_accepted_once(reviewer):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    totp = TOTP.activate(reviewer, secret)
    code = current_code(secret)
    assert totp.validate_code(code) is True
    assert totp.validate_code(code) is False  # never twice
