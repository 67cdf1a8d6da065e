"""Comments: the discussion of an answer."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.audit.history import recorded
from portal.validators import multi_line_text
from reviews.models.review import Answer


class Comment(models.Model):
    """One message in the discussion of an answer."""

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=5000, validators=[multi_line_text])
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded()

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"Comment #{self.pk}"
