from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from portal.audit.models import AuditEvent


class RecordedAdmin(SimpleHistoryAdmin):
    """The admin of a followed model: its history pages, and a revert to an old version
    only for those who may change the record. simple-history's revert form saves on
    POST whatever the change permission says; a revert is a change like any other."""

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if request.method == "POST":
            obj = self.get_object(request, object_id)
            if obj is None or not self.has_change_permission(request, obj):
                raise PermissionDenied("Only those who may change this record revert it.")
        response: HttpResponse = super().history_form_view(
            request, object_id, version_id, extra_context
        )
        return response


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
