from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the record is only ever appended to."""

    list_display = ("at", "kind", "actor_label", "subject_label", "ip_address")
    list_filter = ("kind",)
    search_fields = ("actor_label", "subject_label", "ip_address", "request_id")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
