"""The Django admin for reviews: read-only, since the records change through the portal."""

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

# The platform connections' admin lives with the checks; importing it registers it.
from reviews.checks import admin as checks_admin  # noqa: F401
from reviews.models import (
    Comment,
    Evidence,
    Review,
    Service,
    SignOff,
    Waiver,
)


class ReadOnlyRecordAdmin(SimpleHistoryAdmin):
    """Services, reviews, evidence, comments, exceptions and sign-offs change only
    through the portal, by the people whose work they are (see portal.permissions)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Service)
class ServiceAdmin(ReadOnlyRecordAdmin):
    """Admins read services here; their teams' product leads change them in the portal."""

    list_display = ("name", "team", "hosting", "impact_level")
    list_filter = ("team", "hosting", "impact_level")
    search_fields = ("name", "slug")
    # The read-only page still builds a form; say how URLs are read (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyRecordAdmin):
    list_display = ("__str__", "answer", "kind", "effective_date", "withdrawn_at")
    list_filter = ("kind",)


@admin.register(Comment)
class CommentAdmin(ReadOnlyRecordAdmin):
    list_display = ("__str__", "answer", "author", "created_at")


@admin.register(Waiver)
class WaiverAdmin(ReadOnlyRecordAdmin):
    list_display = ("__str__", "answer", "state", "expires_on", "requested_by", "decided_by")
    list_filter = ("state",)


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyRecordAdmin):
    list_display = ("__str__", "reviewer", "decision", "created_at")


@admin.register(Review)
class ReviewAdmin(ReadOnlyRecordAdmin):
    """Reviews change through the portal's workflow and are withdrawn, never deleted."""

    list_display = ("__str__", "state", "readiness_percent", "open_must_haves", "created_at")
    list_filter = ("state", "kind")
