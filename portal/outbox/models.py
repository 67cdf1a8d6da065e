"""A task waiting for the broker: written in the transaction of the change that asked for
it, removed once the broker has taken it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxTask(models.Model):
    task = models.CharField(max_length=200, help_text="The Celery task's name.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    # Set when sending failed for a reason other than the broker being away (an unknown
    # task, arguments that are not JSON): trying again will not help, so the relay
    # leaves it, and an admin sees it in the administration.
    given_up_at = models.DateTimeField("set aside at", null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = "task waiting for the broker"
        verbose_name_plural = "tasks waiting for the broker"

    def __str__(self) -> str:
        return f"{self.task} (queued {self.created_at:%Y-%m-%d %H:%M:%S} UTC)"
