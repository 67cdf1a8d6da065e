"""Background jobs for accounts: sending email."""

from __future__ import annotations

import smtplib
from typing import TypedDict

from celery import shared_task
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection

from portal.outbox.relay import enqueue


class EmailPayload(TypedDict):
    subject: str
    body: str
    from_email: str
    to: list[str]
    alternatives: list[tuple[str, str]]


def email_message_to_payload(message: EmailMessage) -> EmailPayload:
    """A message as plain JSON, so it crosses the broker intact."""
    alternatives = [
        (str(alt[0]), str(alt[1])) for alt in getattr(message, "alternatives", []) or []
    ]
    return {
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": str(message.from_email),
        "to": [str(address) for address in message.to],
        "alternatives": alternatives,
    }


@shared_task(
    name="accounts.send_email",
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    acks_late=True,
    time_limit=60,
    soft_time_limit=45,
)
def send_email(payload: EmailPayload) -> int:
    message = EmailMultiAlternatives(
        subject=payload["subject"],
        body=payload["body"],
        from_email=payload["from_email"],
        to=payload["to"],
        connection=get_connection(),
    )
    for content, mimetype in payload["alternatives"]:
        message.attach_alternative(content, mimetype)
    return message.send()


def enqueue_email(message: EmailMessage) -> None:
    """Send ``message`` from a worker once the current transaction commits (enqueueing
    inside it would let the worker run before the commit). The outbox keeps it with the
    change that asked for it, so a broker outage delays it rather than losing it."""
    enqueue(send_email, email_message_to_payload(message))
