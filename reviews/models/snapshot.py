"""Readiness snapshots: a review's stored summary as it stood each day, for the trends."""

from __future__ import annotations

from django.db import models

from portal.validators import single_line_text
from reviews.models.review import Review
from reviews.models.service import Service


class ReadinessSnapshot(models.Model):
    """One review's readiness and counts on one day (taken once a day by beat; taking it
    again the same day replaces that day's figures)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="snapshots")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="snapshots")
    date = models.DateField()
    state = models.CharField(max_length=20, validators=[single_line_text])
    readiness_percent = models.PositiveSmallIntegerField()
    met_count = models.PositiveIntegerField()
    applicable_count = models.PositiveIntegerField()
    open_must_haves = models.PositiveIntegerField()
    failing_checks = models.PositiveIntegerField()
    pending_exceptions = models.PositiveIntegerField()

    class Meta:
        ordering = ("date",)
        constraints = [
            models.UniqueConstraint(fields=["review", "date"], name="one_snapshot_per_review_day")
        ]
        indexes = [
            models.Index(fields=["date", "service"]),
            models.Index(fields=["service", "date"]),
        ]

    def __str__(self) -> str:
        return f"{self.review_id} on {self.date}: {self.readiness_percent}%"
