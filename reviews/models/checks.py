"""Automated evidence: sweeps and their results, the standing result of each check,
CI tokens and platform connections."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from portal.accounts.models import Team
from portal.audit.history import recorded
from portal.validators import http_url, multi_line_text, single_line_text
from reviews.checks.collectors.base import Credentials, Result, check_title
from reviews.checks.secrets import UndecryptableSecret, decrypt, encrypt
from reviews.models.service import Service


class CheckRunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Scheduled sweep"
    MANUAL = "manual", "Check now"
    PUSH = "push", "Pushed by CI"


class CheckRun(models.Model):
    """One sweep of automated checks: when it ran, how long, and how it went."""

    trigger = models.CharField(
        max_length=20, choices=CheckRunTrigger.choices, validators=[single_line_text]
    )
    service = models.ForeignKey(
        Service,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="check_runs",
        help_text="Set when the run was for one service (check now).",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    job_count = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    not_applicable = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        return f"Check run #{self.pk} ({self.get_trigger_display()})"

    @property
    def done(self) -> bool:
        return self.finished_at is not None


class CheckResult(models.Model):
    """What one check observed about one service in one run. Kept as history."""

    run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="results")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="check_results")
    check_key = models.CharField(max_length=100, validators=[single_line_text])
    # The check and its parameters (see reviews.checks.collectors.base.binding_id).
    binding = models.CharField(max_length=120, validators=[single_line_text])
    params = models.JSONField(default=dict, blank=True)
    result = models.CharField(max_length=20, choices=Result.choices, validators=[single_line_text])
    explanation = models.TextField(validators=[multi_line_text])
    observed = models.JSONField(default=dict)
    expected = models.TextField(blank=True, validators=[multi_line_text])
    duration_ms = models.FloatField(default=0)
    checked_at = models.DateTimeField()
    fresh_until = models.DateTimeField()
    # Pushed results: the link the pipeline gave, and its idempotency key.
    link = models.URLField(max_length=2000, blank=True, validators=[http_url, single_line_text])
    idempotency_key = models.CharField(  # noqa: DJ001 (NULL: no key; unique when set)
        max_length=200, null=True, blank=True, validators=[single_line_text]
    )

    class Meta:
        ordering = ("-checked_at",)
        constraints = [
            # Re-running the same run (a redelivered task) changes nothing.
            models.UniqueConstraint(
                fields=["run", "service", "binding"], name="one_result_per_run_check"
            ),
            # A pipeline that retries a push with the same key records it once.
            models.UniqueConstraint(
                fields=["service", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="one_push_per_idempotency_key",
            ),
        ]
        indexes = [models.Index(fields=["service", "binding", "-checked_at"])]

    def __str__(self) -> str:
        return f"{self.check_key} on {self.service_id}: {self.result}"

    @property
    def title(self) -> str:
        return check_title(self.check_key)


class CheckStanding(models.Model):
    """Where one check (binding) stands on one service: its latest result and the last
    real answer, cheap to read.

    An error never replaces the last real answer: ``latest`` moves on every result, but
    ``standing`` (what readiness and reviewers see) moves only on pass, fail or n/a
    (``reviews.checks.services.standing_record`` is the one rule).
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="check_standings")
    check_key = models.CharField(max_length=100, validators=[single_line_text])
    binding = models.CharField(max_length=120, validators=[single_line_text])
    latest = models.ForeignKey(CheckResult, on_delete=models.PROTECT, related_name="+")
    standing = models.ForeignKey(
        CheckResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    standing_result = models.CharField(
        max_length=20, blank=True, db_index=True, validators=[single_line_text]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "binding"], name="one_status_per_check")
        ]

    def __str__(self) -> str:
        return f"{self.check_key} on {self.service_id}: {self.standing_result}"

    @property
    def title(self) -> str:
        return check_title(self.check_key)

    @property
    def passes(self) -> bool:
        return self.standing_result == Result.PASS

    @property
    def fails(self) -> bool:
        return self.standing_result == Result.FAIL

    @property
    def last_attempt_errored(self) -> bool:
        """The latest attempt errored, so the standing result is an older one (or none)."""
        return self.latest_id != self.standing_id


class ServiceToken(models.Model):
    """A token a service's CI pipeline uses to push evidence. Only its hash is stored."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, validators=[single_line_text])
    prefix = models.CharField(
        max_length=12,
        help_text="The start of the token, to tell it apart.",
        validators=[single_line_text],
    )
    token_hash = models.CharField(max_length=64, unique=True, validators=[single_line_text])
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Not the hash (a secret), nor when it was last used (every push would add a row).
    history = recorded(excluded_fields=["token_hash", "last_used_at"])

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ConnectionKind(models.TextChoices):
    PAGERDUTY = "pagerduty", "PagerDuty"
    NEW_RELIC = "newrelic", "New Relic"
    CLOUD_FOUNDRY = "cloudfoundry", "Cloud Foundry (cloud.gov)"


DEFAULT_API_URLS = {
    ConnectionKind.PAGERDUTY: "https://api.pagerduty.com",
    ConnectionKind.NEW_RELIC: "https://api.newrelic.com/graphql",
    ConnectionKind.CLOUD_FOUNDRY: "https://api.fr.cloud.gov",
}


class PlatformConnection(models.Model):
    """API access to a platform the checks read: the organisation's, or one team's own.

    The secret (an API key, or a Cloud Foundry password) is stored encrypted; see
    ``reviews.checks.secrets``. History records every change except the ciphertext.
    """

    kind = models.CharField(
        max_length=20, choices=ConnectionKind.choices, validators=[single_line_text]
    )
    name = models.CharField(max_length=100, validators=[single_line_text])
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="connections",
        help_text="Leave empty for the organisation's connection; a team's own overrides it.",
    )
    api_url = models.URLField(
        "API URL",
        help_text="PagerDuty or Cloud Foundry API root, or New Relic's GraphQL URL.",
        validators=[http_url, single_line_text],
    )
    username = models.CharField(
        max_length=200,
        blank=True,
        help_text="Cloud Foundry only: the service account's username.",
        validators=[single_line_text],
    )
    account = models.CharField(
        max_length=20,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(r"^\d+$", "A New Relic account ID is a number."),
        ],
        help_text="New Relic only: limit monitors to this account ID.",
    )
    secret_ciphertext = models.TextField(editable=False, validators=[multi_line_text])
    secret_changed_at = models.DateTimeField(null=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = recorded(excluded_fields=["secret_ciphertext"])

    class Meta:
        ordering = ("kind", "name")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "team"],
                condition=models.Q(team__isnull=False),
                name="one_connection_per_kind_and_team",
                violation_error_message="This team already has a connection of this kind.",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(team__isnull=True),
                name="one_organisation_connection_per_kind",
                violation_error_message="The organisation already has a connection of this kind.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    def set_secret(self, plaintext: str) -> None:
        self.secret_ciphertext = encrypt(plaintext)
        self.secret_changed_at = timezone.now()

    def credentials(self) -> Credentials:
        try:
            secret, problem = decrypt(self.secret_ciphertext), ""
        except UndecryptableSecret as exc:
            secret, problem = "", f"The {self.get_kind_display()} connection “{self.name}”: {exc}"
        return Credentials(
            kind=self.kind,
            name=self.name,
            api_url=self.api_url,
            username=self.username,
            account=self.account,
            secret=secret,
            problem=problem,
        )
