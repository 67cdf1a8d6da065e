"""A real Celery worker on Redis (the ``redis_worker`` fixture in conftest): arguments
cross the JSON serializer, /readyz sees it."""

from __future__ import annotations

import time
from datetime import date

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from kombu.exceptions import EncodeError

from portal.accounts.tasks import email_message_to_payload, enqueue_email, send_email
from portal.celery import app as celery_app


def make_message() -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject="Review submitted: Benefits portal ✓",
        body="Plain text body with unicode: café",
        from_email="Preflight <preflight@example.com>",
        to=["security@example.com", "second@example.com"],
    )
    message.attach_alternative("<p>HTML body</p>", "text/html")
    return message


def test_an_email_crosses_the_broker_and_is_sent_by_the_worker(redis_worker):
    result = send_email.delay(email_message_to_payload(make_message()))
    assert result.get(timeout=20) == 1
    (sent,) = mail.outbox
    assert sent.subject == "Review submitted: Benefits portal ✓"
    assert sent.body == "Plain text body with unicode: café"
    assert sent.to == ["security@example.com", "second@example.com"]
    assert [tuple(alt) for alt in sent.alternatives] == [("<p>HTML body</p>", "text/html")]


@pytest.mark.django_db(transaction=True)
def test_enqueueing_waits_for_the_commit(redis_worker):
    from django.db import transaction

    with transaction.atomic():
        enqueue_email(make_message())
        # Nothing was sent yet. (This alone cannot catch an email enqueued before the
        # commit, since the worker would not have had time to send it: see
        # test_rule_second_paths.py, where a rolled-back change is given that time.)
        assert mail.outbox == []
    # After the commit the worker sends it; poll its inbox briefly.
    deadline = time.monotonic() + 20
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(mail.outbox) == 1


def test_arguments_that_are_not_json_are_refused(redis_worker):
    with pytest.raises(EncodeError):
        send_email.delay({"subject": "x", "when": date(2026, 1, 1), "obj": object()})


@pytest.mark.django_db
def test_readyz_is_ready_with_redis_and_a_live_worker(redis_worker):
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["components"]["broker"]["status"] == "ok"
    assert body["components"]["workers"]["status"] == "ok"
    assert body["components"]["workers"]["answered"]


def test_without_a_broker_tasks_run_in_process():
    # The embedded default (make demo): eager, so no Redis is needed.
    assert celery_app.conf.task_always_eager is True
    assert send_email.delay(email_message_to_payload(make_message())).get(timeout=10) == 1
    assert len(mail.outbox) == 1
