"""Evidence: what shows an answer is true (links, files, notes). Append-only."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.audit.history import recorded
from portal.validators import http_url, multi_line_text, single_line_text
from reviews.models.review import Answer


def evidence_upload_to(instance: Evidence, filename: str) -> str:
    # The stored name is the content hash: no user-chosen paths, no collisions.
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"evidence/{instance.sha256[:2]}/{instance.sha256}.{suffix}"


class EvidenceKind(models.TextChoices):
    LINK = "link", "Link"
    FILE = "file", "File"
    NOTE = "note", "Note"


class Evidence(models.Model):
    """Something that shows an answer is true. Append-only.

    A correction is a new row that ``supersedes`` the old one; removal is a recorded
    withdrawal. Neither deletes anything.
    """

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(
        max_length=10, choices=EvidenceKind.choices, validators=[single_line_text]
    )
    url = models.URLField(max_length=2000, blank=True, validators=[http_url, single_line_text])
    file = models.FileField(upload_to=evidence_upload_to, blank=True, max_length=300)
    original_name = models.CharField(max_length=255, blank=True, validators=[single_line_text])
    content_type = models.CharField(max_length=100, blank=True, validators=[single_line_text])
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, validators=[single_line_text])
    note = models.TextField(blank=True, validators=[multi_line_text])
    effective_date = models.DateField(help_text="When the evidence was true.")
    fresh_until = models.DateField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True, validators=[multi_line_text])

    history = recorded()

    class Meta:
        verbose_name_plural = "evidence"
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} evidence #{self.pk}"

    @property
    def is_link(self) -> bool:
        return self.kind == EvidenceKind.LINK

    @property
    def is_file(self) -> bool:
        return self.kind == EvidenceKind.FILE

    @property
    def summary(self) -> str:
        if self.kind == EvidenceKind.LINK:
            return self.url
        if self.kind == EvidenceKind.FILE:
            return self.original_name
        return self.note[:120]
