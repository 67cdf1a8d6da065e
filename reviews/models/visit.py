"""When each person last looked at a review, for "changed since my last visit"."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.utils import timezone

from reviews.models.review import Review

# Looks closer together than this are one visit: reloading the page, or coming back from
# an item, does not make "since my last visit" empty.
VISIT_GAP = timedelta(minutes=30)
# A look this soon after the last one is not written down (a reload costs one read).
VISIT_RESOLUTION = timedelta(minutes=1)


class ReviewVisit(models.Model):
    """A person's visits to a review's page: the current one and the one before.

    Not part of the record (reading changes nothing); kept per person and review.
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()
    previous_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="one_visit_row_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} saw review {self.review_id} at {self.seen_at:%Y-%m-%d %H:%M}"

    @classmethod
    def record(cls, review: Review, user: models.Model) -> ReviewVisit:
        """Note a look at ``review`` now; a look after a gap makes the last one previous.

        A look within a minute of the last one written down costs no query: the cache
        remembers it for that minute (the row is the truth; the cache only spares it).
        """
        now = timezone.now()
        key = f"review-visit:{review.pk}:{user.pk}"
        remembered = cache.get(key)
        if remembered is not None:
            seen_at, previous_seen_at = remembered
            return cls(
                review=review,
                user_id=user.pk,
                seen_at=seen_at,
                previous_seen_at=previous_seen_at,
            )
        visit = cls._written(review, user, now)
        cache.set(key, (visit.seen_at, visit.previous_seen_at), VISIT_RESOLUTION.total_seconds())
        return visit

    @classmethod
    def _written(cls, review: Review, user: models.Model, now: datetime) -> ReviewVisit:
        visit, created = cls.objects.get_or_create(
            review=review, user=user, defaults={"seen_at": now}
        )
        if not created and now - visit.seen_at >= VISIT_RESOLUTION:
            if now - visit.seen_at > VISIT_GAP:
                visit.previous_seen_at = visit.seen_at
            visit.seen_at = now
            cls.objects.filter(pk=visit.pk).update(
                seen_at=visit.seen_at, previous_seen_at=visit.previous_seen_at
            )
        return visit
