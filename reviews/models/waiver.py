"""Exceptions (risk acceptances) for items that are not met."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from portal.audit.history import recorded
from portal.validators import multi_line_text, single_line_text
from reviews.models.review import Answer


class WaiverState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    EXPIRED = "expired", "Expired"


class Waiver(models.Model):
    """An exception (risk acceptance) for an item that is not met, until it expires."""

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="waivers")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rationale = models.TextField(max_length=5000, validators=[multi_line_text])
    compensating_controls = models.TextField(max_length=5000, validators=[multi_line_text])
    expires_on = models.DateField()
    state = models.CharField(
        max_length=10,
        choices=WaiverState.choices,
        default=WaiverState.REQUESTED,
        db_index=True,
        validators=[single_line_text],
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True, validators=[multi_line_text])
    # Reminder days already sent (e.g. [14, 3]), so a beat run never repeats one.
    reminders_sent = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded()

    class Meta:
        verbose_name = "exception"
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["state", "expires_on"])]

    def __str__(self) -> str:
        return f"Exception #{self.pk} ({self.get_state_display()})"

    # --- the rule: an exception counts when approved and not past its expiry date ----
    # The same rule in SQL (``valid_on``, ``covering``) and on a row (``is_valid``); the
    # nightly expiry job only tidies the state, the date alone decides.

    @staticmethod
    def valid_on(today: date) -> Q:
        return Q(state=WaiverState.APPROVED, expires_on__gte=today)

    @classmethod
    def covering(cls, today: date) -> Exists:
        """For annotating answers: whether a valid exception covers the answer."""
        return Exists(cls.objects.filter(cls.valid_on(today), answer=OuterRef("pk")))

    def is_valid(self, today: date | None = None) -> bool:
        return self.state == WaiverState.APPROVED and self.expires_on >= (
            today or timezone.localdate()
        )

    @property
    def counts(self) -> bool:
        """Whether it counts today (for pages)."""
        return self.is_valid()

    @property
    def lapsed(self) -> bool:
        """Approved, but past its date: it no longer counts (the expiry job may not have
        run yet)."""
        return self.state == WaiverState.APPROVED and not self.is_valid()

    @property
    def pending(self) -> bool:
        return self.state == WaiverState.REQUESTED
