"""Admins see what waits for the broker, and can have a set-aside task tried again."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.outbox.models import OutboxTask


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting for the broker"), ("set-aside", "Set aside")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[OutboxTask]
    ) -> QuerySet[OutboxTask]:
        if self.value() == "waiting":
            return queryset.filter(given_up_at=None)
        if self.value() == "set-aside":
            return queryset.exclude(given_up_at=None)
        return queryset


@admin.register(OutboxTask)
class OutboxTaskAdmin(admin.ModelAdmin[OutboxTask]):
    list_display = ("task", "created_at", "attempts", "last_error", "given_up_at")
    list_filter = (StateFilter,)
    readonly_fields = ("task", "args", "kwargs", "created_at", "attempts", "last_error")
    fields = (*readonly_fields, "given_up_at")
    actions = ("try_again",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "given_up_at")

    @admin.action(description="Try the selected tasks again", permissions=["change"])
    def try_again(self, request: HttpRequest, queryset: QuerySet[OutboxTask]) -> None:
        set_aside = list(queryset.exclude(given_up_at=None))
        for task in set_aside:
            task.given_up_at = None
            task.save(update_fields=["given_up_at"])
            # Django's admin log, which the record keeps as an admin_action event.
            self.log_change(request, task, "Set to be tried again at the next relay.")
        count = len(set_aside)
        self.message_user(
            request,
            f"{count} task{'s' if count != 1 else ''} will be sent at the next relay.",
            messages.SUCCESS,
        )
