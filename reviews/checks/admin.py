"""The Django admin for platform connections: API access for the PagerDuty, New Relic and
Cloud Foundry checks, with write-only, encrypted secrets. Admins only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest

from portal.audit.admin import RecordedAdmin
from portal.forms import ModelForm
from portal.permissions import can
from reviews.checks.collectors.base import Result
from reviews.checks.collectors.platforms import verify_connection
from reviews.models import DEFAULT_API_URLS, ConnectionKind, PlatformConnection


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
class PlatformConnectionAdmin(RecordedAdmin):
    """API access for the PagerDuty, New Relic and Cloud Foundry checks: admins only."""

    form = PlatformConnectionForm
    list_display = ("name", "kind", "team", "api_url", "enabled", "secret_changed_at")
    list_filter = ("kind", "enabled")
    readonly_fields = ("secret_changed_at",)
    actions = ("verify_connections",)

    @admin.action(description="Test the selected connections")
    def verify_connections(self, request: HttpRequest, queryset: Any) -> None:
        """One read-only call per connection; says what the platform answered."""
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
