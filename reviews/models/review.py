"""Reviews of a service against a checklist version, and the answer to each item."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from checklists.models import ChecklistVersion, Item
from portal.audit.history import recorded
from portal.validators import multi_line_text, single_line_text
from reviews.models.service import Service


class ReviewKind(models.TextChoices):
    LAUNCH = "launch", "Launch"
    MAJOR_CHANGE = "major_change", "Major change"
    PERIODIC = "periodic", "Periodic re-review"


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Review(models.Model):
    """One readiness review of one service against one published checklist version.

    The summary fields are written by ``reviews.readiness`` in the same transaction as
    every change, so lists and dashboards read them instead of recomputing.
    """

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="reviews")
    checklist_version = models.ForeignKey(
        ChecklistVersion, on_delete=models.PROTECT, related_name="reviews"
    )
    kind = models.CharField(
        max_length=20,
        choices=ReviewKind.choices,
        default=ReviewKind.LAUNCH,
        validators=[single_line_text],
    )
    target_date = models.DateField(null=True, blank=True)
    state = models.CharField(
        max_length=20,
        choices=ReviewState.choices,
        default=ReviewState.DRAFT,
        db_index=True,
        validators=[single_line_text],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    previous_review = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Bumped by every change to answers (and later evidence and exceptions): sign-offs
    # record the revision they saw.
    content_revision = models.PositiveIntegerField(default=0)
    # The stored summary.
    item_count = models.PositiveIntegerField(default=0)
    applicable_count = models.PositiveIntegerField(default=0)
    met_count = models.PositiveIntegerField(default=0)
    readiness_percent = models.PositiveSmallIntegerField(default=0)
    must_have_count = models.PositiveIntegerField(default=0)
    must_haves_done = models.PositiveIntegerField(default=0)
    open_must_haves = models.PositiveIntegerField(default=0)
    not_started_count = models.PositiveIntegerField(default=0)
    waived_must_haves = models.PositiveIntegerField(default=0)
    # Must-haves whose automated check fails, with no valid exception: these block approval.
    failing_must_haves = models.PositiveIntegerField(default=0)
    # Distinct automated checks bound by the review's items that fail now.
    failing_checks = models.PositiveIntegerField(default=0)
    # Exceptions requested and not yet decided.
    pending_exceptions = models.PositiveIntegerField(default=0)
    # Required sign-off roles without a current approval, as ",role,role," (searchable
    # on every database), and how many.
    awaiting_roles = models.CharField(max_length=200, blank=True, validators=[single_line_text])
    pending_signoffs = models.PositiveSmallIntegerField(default=0)
    # When its answers, evidence, exceptions, state or sign-offs last changed.
    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A digest of the content (answers, current evidence, exceptions); sign-offs that
    # saw another digest are stale.
    content_digest = models.CharField(max_length=64, blank=True, validators=[single_line_text])
    # Everyone who changed answers or evidence: none of them may sign it off.
    editors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    # Who may not sign is part of the record: each history row carries the editors.
    history = recorded(m2m_fields=[editors])

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["service", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.service.name}: {self.get_kind_display()} review #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:review", args=[self.pk])

    @property
    def awaiting_role_list(self) -> list[str]:
        return [role for role in self.awaiting_roles.split(",") if role]


class AnswerStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    MET = "met", "Met"
    PARTIALLY_MET = "partially_met", "Partially met"
    NOT_MET = "not_met", "Not met"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class Answer(models.Model):
    """A review's answer to one checklist item.

    ``revision`` counts saves: an edit names the revision it started from, and loses to
    any save made since (optimistic concurrency; see reviews.services.answer_update).
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="answers")
    status = models.CharField(
        max_length=20,
        choices=AnswerStatus.choices,
        default=AnswerStatus.NOT_STARTED,
        validators=[single_line_text],
    )
    justification = models.TextField(blank=True, validators=[multi_line_text])
    notes = models.TextField(blank=True, validators=[multi_line_text])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revision = models.PositiveIntegerField(default=1)
    # Re-reviews: the answer this one was carried over from, and whether the item's text
    # changed since (then nothing is carried and the team must look again).
    carried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    needs_recheck = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = recorded()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "item"], name="one_answer_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.item.text[:60]}: {self.get_status_display()}"

    @property
    def may_have_exception(self) -> bool:
        """Exceptions are for items that are not met, or only partly."""
        return self.status in (AnswerStatus.NOT_MET, AnswerStatus.PARTIALLY_MET)
