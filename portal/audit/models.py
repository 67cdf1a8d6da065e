from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.validators import multi_line_text, single_line_text


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
    # 18F "What to log" (see portal.audit.receivers): account management, authorization
    # checks, data access and administrator activity.
    ACCESS_DENIED = "access_denied", "Access refused"
    ACCOUNT_CREATED = "account_created", "Account created"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    PASSWORD_SET = "password_set", "Password set"
    EMAIL_ADDED = "email_added", "Email address added"
    EMAIL_REMOVED = "email_removed", "Email address removed"
    EMAIL_CHANGED = "email_changed", "Primary email address changed"
    EMAIL_CONFIRMED = "email_confirmed", "Email address confirmed"
    SSO_LINKED = "sso_linked", "Single sign-on account linked"
    SSO_UNLINKED = "sso_unlinked", "Single sign-on account unlinked"
    EXPORTED = "exported", "Data exported"
    FILE_DOWNLOADED = "file_downloaded", "Evidence file downloaded"
    ADMIN_ACTION = "admin_action", "Changed in the administration"


class AttributedChange(models.Model):
    """What every history row carries beyond simple-history's own: the request (or
    Celery task) it was written in and, for web changes, the address it came from.
    The history models take it as a base (``HistoricalRecords(bases=[...])``);
    ``portal.audit.receivers`` fills it in as each row is written."""

    history_request_id = models.CharField(
        "request id", max_length=128, blank=True, validators=[single_line_text]
    )
    history_ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)

    class Meta:
        abstract = True


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
        on_delete=models.DO_NOTHING,  # events are hashed into the record: never rewritten
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=254, blank=True, validators=[single_line_text])
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,  # events are hashed into the record: never rewritten
        related_name="+",
        db_constraint=False,
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


class Entry(models.Model):
    """One line of the shared record: a change to a followed record (a history row) or a
    security event, with who, when, from where and why, chained to the line before.

    ``content_hash`` is the digest of the history row or event itself, ``chain_hash`` the
    digest of this line and the one before (``prev_hash``): editing, deleting or slipping
    in a row behind the application's back breaks the chain (``portal.audit.verify``).
    Lines are only ever added.
    """

    at = models.DateTimeField()
    record_type = models.CharField(max_length=80, validators=[single_line_text])
    record_id = models.CharField(max_length=64, validators=[single_line_text])
    record_label = models.CharField(max_length=300, blank=True, validators=[single_line_text])
    # "created", "changed", "deleted", or a security event's kind.
    change = models.CharField(max_length=40, validators=[single_line_text])
    # Field by field: {"label": ["old", "new"]}; an event's details.
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, validators=[multi_line_text])
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # The record outlives the people in it: no constraint, and deleting a person
        # leaves the line as it was written (a changed line would break the chain).
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=254, blank=True, validators=[single_line_text])
    request_id = models.CharField(max_length=128, blank=True, validators=[single_line_text])
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # Where the record belongs (portal.audit.registry): "reviews.service:5", "reviews.review:7".
    root = models.CharField(max_length=80, blank=True, validators=[single_line_text])
    branch = models.CharField(max_length=80, blank=True, validators=[single_line_text])
    # The row this line records: a history table's row, or an audit event.
    source_table = models.CharField(max_length=80, validators=[single_line_text])
    source_id = models.BigIntegerField()
    content_hash = models.CharField(max_length=64, validators=[single_line_text])
    prev_hash = models.CharField(max_length=64, validators=[single_line_text])
    chain_hash = models.CharField(max_length=64, validators=[single_line_text])

    class Meta:
        ordering = ("-at", "-id")
        verbose_name_plural = "entries"
        constraints = [
            models.UniqueConstraint(fields=["source_table", "source_id"], name="one_entry_per_row")
        ]
        indexes = [
            models.Index(fields=["-at", "-id"], name="entry_by_time"),
            models.Index(fields=["record_type", "record_id", "-at"], name="entry_by_record"),
            models.Index(fields=["root", "-at"], name="entry_by_root"),
            models.Index(fields=["branch", "-at"], name="entry_by_branch"),
            models.Index(fields=["actor", "-at"], name="entry_by_actor"),
            models.Index(fields=["request_id"], name="entry_by_request"),
            models.Index(fields=["change", "-at"], name="entry_by_change"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.record_type}:{self.record_id} {self.change}"


class ChainHead(models.Model):
    """The newest line of the record (one row): appends lock it, so the chain never
    forks; verification compares it with the last line, so trailing lines cannot be
    removed unnoticed."""

    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True, validators=[single_line_text])
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.count} entries, last {self.last_hash[:12]}"
