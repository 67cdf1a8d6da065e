"""The Django admin for reviews: read-only, since the records change through the portal."""

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

# The platform connections' admin lives with the checks; importing it registers it.
from portal.audit.admin import RecordedAdmin
from portal.permissions import can
from reviews.checks import admin as checks_admin  # noqa: F401
from reviews.models import (
    AuditDecision,
    AuditSession,
    Comment,
    Evidence,
    JournalNote,
    Review,
    Service,
    SignOff,
    Waiver,
)


class ReadOnlyRecordAdmin(RecordedAdmin):
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


class DecisionInline(admin.TabularInline[AuditDecision, AuditSession]):
    model = AuditDecision
    fields = ("outcome", "item", "text")
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditSession)
class AuditSessionAdmin(ReadOnlyRecordAdmin):
    """Launch audits are recorded and edited in the portal by who recorded them."""

    list_display = ("title", "review", "held_at", "as_of", "recorded_by")
    list_select_related = ("review__service", "recorded_by")
    inlines = (DecisionInline,)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Those who read every review (admins among them) read its launch audits.
        return can(request.user, "reviews.view_review")


@admin.register(JournalNote)
class JournalNoteAdmin(ReadOnlyRecordAdmin):
    """Journal notes are written in the portal and edited only by their authors."""

    list_display = ("__str__", "service", "review", "author", "created_at", "revision")
    list_select_related = ("service", "review", "author")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request.user, "reviews.view_service")
