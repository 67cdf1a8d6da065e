"""In-person launch audits and the journal: what the people in the room decided, and
notes anyone working on a review or service leaves for the record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from checklists.models import Item
from portal.audit.history import recorded
from portal.validators import multi_line_text, single_line_text
from reviews.models.review import Review
from reviews.models.service import Service


class AuditSession(models.Model):
    """One in-person launch audit of a review: when it was held, who attended, the
    minutes, and the moment of the record it worked from (``as_of``), whose as-of view
    its page shows."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="audit_sessions")
    title = models.CharField(max_length=200, validators=[single_line_text])
    held_at = models.DateTimeField("held")
    as_of = models.DateTimeField(
        "record as of", help_text="The moment of the record the audit worked from."
    )
    attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="audit_sessions_attended"
    )
    other_attendees = models.TextField(
        "other attendees",
        max_length=2000,
        blank=True,
        help_text="People without an account here, one per line.",
        validators=[multi_line_text],
    )
    minutes = models.TextField(max_length=50_000, blank=True, validators=[multi_line_text])
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revision = models.PositiveIntegerField(default=1)

    history = recorded(m2m_fields=[attendees])

    class Meta:
        ordering = ("-held_at", "-id")
        verbose_name = "launch audit"

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("reviews:audit_session", args=[self.pk])


class DecisionOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    ACTION = "action", "Action required"
    NOTED = "noted", "Noted"


class AuditDecision(models.Model):
    """A decision a launch audit took, about one item of the review or about the whole."""

    session = models.ForeignKey(AuditSession, on_delete=models.CASCADE, related_name="decisions")
    item = models.ForeignKey(
        Item, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(
        max_length=20,
        choices=DecisionOutcome.choices,
        default=DecisionOutcome.NOTED,
        validators=[single_line_text],
    )
    text = models.TextField("decision", max_length=5000, validators=[multi_line_text])
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded()

    class Meta:
        ordering = ("created_at", "id")
        verbose_name = "audit decision"

    def __str__(self) -> str:
        return f"Decision #{self.pk}: {self.get_outcome_display()}"


class JournalNote(models.Model):
    """An attributed note on a service or one of its reviews; only its author edits it,
    and every version stays in the record."""

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="journal")
    review = models.ForeignKey(
        Review, null=True, blank=True, on_delete=models.PROTECT, related_name="journal"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField("note", max_length=10_000, validators=[multi_line_text])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    revision = models.PositiveIntegerField(default=1)

    history = recorded()

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "journal note"
        indexes = [models.Index(fields=["service", "-created_at"], name="journal_by_service")]

    def __str__(self) -> str:
        return f"Note #{self.pk}"
