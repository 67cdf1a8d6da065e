from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from portal.accounts.models import SecurityPolicy, Team, User
from portal.audit.admin import RecordedAdmin


@admin.register(User)
class UserAdmin(RecordedAdmin, BaseUserAdmin[User]):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active", "groups", "teams")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        (
            "Roles",
            {
                "fields": ("is_active", "is_staff", "is_superuser", "groups"),
                "description": "Roles are groups; “staff” is the admin role.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ("groups",)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # People are deactivated, never deleted: the record names who did what, and
        # deleting a person would blank their name on every change they made.
        return False


@admin.register(Team)
class TeamAdmin(RecordedAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members",)


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(RecordedAdmin):
    list_display = ("__str__", "require_mfa_for_privileged", "updated_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return not SecurityPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
