from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.validators import single_line_text


class AuditKind(models.TextChoices):
    LOGIN_SUCCEEDED = "login_succeeded", "Sign-in succeeded"
    LOGIN_FAILED = "login_failed", "Sign-in failed"
    LOGIN_THROTTLED = "login_throttled", "Sign-in refused: too many attempts"
    LOGOUT = "logout", "Signed out"
    MFA_FAILED = "mfa_failed", "Two-factor code refused"
    MFA_ENROLLED = "mfa_enrolled", "Two-factor authenticator added"
    MFA_REMOVED = "mfa_removed", "Two-factor authenticator removed"
    MFA_RESET = "mfa_reset", "Two-factor recovery codes regenerated"
    ROLE_GRANTED = "role_granted", "Role granted"
    ROLE_REVOKED = "role_revoked", "Role revoked"
    TEAM_MEMBER_ADDED = "team_member_added", "Added to team"
    TEAM_MEMBER_REMOVED = "team_member_removed", "Removed from team"
    CONNECTION_SAVED = "connection_saved", "Platform connection saved"
    CONNECTION_DELETED = "connection_deleted", "Platform connection deleted"


class AuditEvent(models.Model):
    """One security-relevant event: who did what to whom, when and from where.

    Rows are only ever added. Labels are copied (not just linked) so the record still
    reads correctly after a user is renamed or deleted.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(
        max_length=40, choices=AuditKind.choices, db_index=True, validators=[single_line_text]
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True, validators=[single_line_text])
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    subject_label = models.CharField(max_length=254, blank=True, validators=[single_line_text])
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, validators=[single_line_text])
    request_id = models.CharField(max_length=128, blank=True, validators=[single_line_text])
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["subject_user", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.subject_label}"
