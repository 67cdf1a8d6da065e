"""Sign-offs: a reviewer's decision for one role, bound to the content it saw."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.accounts.roles import role_label
from portal.audit.history import recorded
from portal.validators import multi_line_text, single_line_text
from reviews.models.review import Review


class SignOffDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REQUEST_CHANGES = "request_changes", "Request changes"


class SignOffQuerySet(models.QuerySet["SignOff"]):
    def current(self, digest: str | None = None) -> SignOffQuerySet:
        """Sign-offs on the review's content as it is now (not stale): as stored, or as
        ``digest`` says when a refresh has computed a new one that is not saved yet."""
        if digest is not None:
            return self.filter(content_digest=digest)
        return self.filter(content_digest=models.F("review__content_digest"))


class SignOff(models.Model):
    """A reviewer's decision for one sign-off role, bound to the content it saw.

    ``content_digest`` is the review's digest at the moment of signing; once the review
    changes, the sign-off is stale: kept and shown, but it no longer counts.
    """

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="signoffs")
    role = models.CharField(max_length=40, validators=[single_line_text])
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(
        max_length=20, choices=SignOffDecision.choices, validators=[single_line_text]
    )
    comment = models.TextField(max_length=5000, blank=True, validators=[multi_line_text])
    content_digest = models.CharField(max_length=64, validators=[single_line_text])
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded()

    objects = SignOffQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.role_label}) on review #{self.review_id}"

    # --- the rule: a sign-off counts while the review's content is what it saw --------
    # The same rule in SQL (``SignOff.objects.current()``) and on a row (``is_current``).

    @property
    def is_current(self) -> bool:
        return self.content_digest == self.review.content_digest

    @property
    def approves(self) -> bool:
        return self.decision == SignOffDecision.APPROVE

    @property
    def role_label(self) -> str:
        return role_label(self.role)
