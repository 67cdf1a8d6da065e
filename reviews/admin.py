from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from portal.forms import ModelForm
from portal.permissions import can
from reviews.models import (
    DEFAULT_API_URLS,
    Comment,
    ConnectionKind,
    Evidence,
    PlatformConnection,
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


class PlatformConnectionForm(ModelForm[PlatformConnection]):
    """The secret is write-only: never shown again, kept when left empty on a change."""

    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The API key (PagerDuty: a read-only REST key; New Relic: a user key) or "
        "the Cloud Foundry service account's password. Stored encrypted, never shown "
        "again; leave empty to keep the current one.",
    )

    api_url = forms.URLField(label="API URL", required=False, assume_scheme="https")

    class Meta:
        model = PlatformConnection
        fields = ("kind", "name", "team", "api_url", "username", "account", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        defaults = ", ".join(f"{kind.label}: {url}" for kind, url in DEFAULT_API_URLS.items())
        self.fields["api_url"].help_text = f"Leave empty for the default ({defaults})."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind and not cleaned.get("api_url"):
            cleaned["api_url"] = DEFAULT_API_URLS[ConnectionKind(kind)]
            self.instance.api_url = cleaned["api_url"]
        url = cleaned.get("api_url") or ""
        if url and not url.startswith("https://"):
            self.add_error("api_url", "Use an https:// URL: the secret is only sent over HTTPS.")
        if kind == ConnectionKind.CLOUD_FOUNDRY and not cleaned.get("username"):
            self.add_error("username", "Cloud Foundry needs the service account's username.")
        if kind != ConnectionKind.NEW_RELIC and cleaned.get("account"):
            self.add_error("account", "Only New Relic connections take an account ID.")
        if not cleaned.get("secret") and not self.instance.secret_ciphertext:
            self.add_error("secret", "Enter the secret.")
        return cleaned

    def save(self, commit: bool = True) -> PlatformConnection:
        connection = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            connection.set_secret(self.cleaned_data["secret"])
        if commit:
            connection.save()
        return connection


@admin.register(PlatformConnection)
class PlatformConnectionAdmin(SimpleHistoryAdmin):
    """API access for the PagerDuty, New Relic and Cloud Foundry checks: admins only."""

    form = PlatformConnectionForm
    list_display = ("name", "kind", "team", "api_url", "enabled", "secret_changed_at")
    list_filter = ("kind", "enabled")
    readonly_fields = ("secret_changed_at",)
    actions = ("verify_connections",)

    @admin.action(description="Test the selected connections")
    def verify_connections(self, request: HttpRequest, queryset: Any) -> None:
        """One read-only call per connection; says what the platform answered."""
        from reviews.checks.base import Result
        from reviews.checks.platforms import verify_connection

        for connection in queryset:
            outcome = verify_connection(
                connection.credentials(), timeout=settings.CHECK_TIMEOUT_SECONDS
            )
            level = messages.SUCCESS if outcome.result == Result.PASS else messages.ERROR
            self.message_user(request, f"{connection}: {outcome.explanation}", level)

    def _allowed(self, request: HttpRequest) -> bool:
        return can(request.user, "reviews.manage_connections")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)
