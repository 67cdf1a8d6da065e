"""Services, their readiness reviews, and the answers to each checklist item."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from checklists.models import ChecklistVersion, Item
from portal.accounts.models import Team
from portal.validators import http_url, multi_line_text, single_line_text
from reviews.checks.base import Credentials, Result


class Hosting(models.TextChoices):
    CLOUD_GOV = "cloud_gov", "cloud.gov"
    AWS = "aws", "AWS"
    OTHER = "other", "Other"


class ImpactLevel(models.TextChoices):
    LOW = "low", "FISMA low"
    MODERATE = "moderate", "FISMA moderate"
    HIGH = "high", "FISMA high"


# Each name: letters, digits, dashes, underscores and inner spaces; commas between names.
_ENVIRONMENT_NAME = r"[A-Za-z0-9_-]+(?: +[A-Za-z0-9_-]+)*"
_environment_names = RegexValidator(
    rf"^ *{_ENVIRONMENT_NAME} *(?:, *{_ENVIRONMENT_NAME} *)*$",
    "Separate environment names with commas; a name uses letters, digits, dashes, "
    "underscores and spaces, e.g. dev, staging, production.",
)
# AWS tag values: letters, digits, spaces and _ . : / = + - @.
_aws_tag_value = RegexValidator(
    r"^[\w .:/=+@-]+$",
    "A tag value uses letters, digits, spaces and _ . : / = + - @ only.",
)
# Cloud Foundry (cloud.gov) org and space names: letters, digits, -, _ and ., 1 to 64 each.
_cloud_foundry_space = RegexValidator(
    r"^[A-Za-z0-9._-]{1,64}/[A-Za-z0-9._-]{1,64}$",
    "Give the organisation and space as org/space, e.g. gsa-benefits/production; each "
    "name uses letters, digits, dashes, underscores and dots (at most 64).",
)


class Service(models.Model):
    """Something a team launches and has reviewed."""

    name = models.CharField(max_length=200, validators=[single_line_text])
    slug = models.SlugField(max_length=80, unique=True, validators=[single_line_text])
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    description = models.TextField(blank=True, validators=[multi_line_text])
    hosting = models.CharField(
        max_length=20,
        choices=Hosting.choices,
        default=Hosting.CLOUD_GOV,
        validators=[single_line_text],
    )
    impact_level = models.CharField(
        max_length=20,
        choices=ImpactLevel.choices,
        default=ImpactLevel.MODERATE,
        validators=[single_line_text],
    )
    environments = models.CharField(
        max_length=300,
        blank=True,
        validators=[single_line_text, _environment_names],
        help_text="Comma-separated, e.g. dev, staging, production.",
    )
    repository_url = models.URLField(blank=True, validators=[http_url, single_line_text])
    runbook_url = models.URLField(blank=True, validators=[http_url, single_line_text])
    dashboard_url = models.URLField(blank=True, validators=[http_url, single_line_text])
    status_page_url = models.URLField(blank=True, validators=[http_url, single_line_text])
    # Integration settings the automated checks read.
    health_check_url = models.URLField(blank=True, validators=[http_url, single_line_text])
    public_url = models.URLField(blank=True, validators=[http_url, single_line_text])
    cloud_account_id = models.CharField(
        max_length=12,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(r"^\d{12}$", "An AWS account id is 12 digits."),
        ],
    )
    cloud_region = models.CharField(
        max_length=30,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", "A region looks like us-east-1."),
        ],
    )
    cloud_role_arn = models.CharField(
        max_length=200,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(
                r"^arn:aws(-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,128}$",
                "A role ARN looks like arn:aws:iam::123456789012:role/preflight-reader.",
            ),
        ],
    )
    project_tag = models.CharField(
        max_length=128,
        blank=True,
        validators=[single_line_text, _aws_tag_value],
        help_text="The value of the Project tag its resources carry.",
    )
    prometheus_url = models.URLField(
        blank=True,
        validators=[http_url, single_line_text],
        help_text="Base URL of its Prometheus.",
    )
    alertmanager_url = models.URLField(
        blank=True,
        validators=[http_url, single_line_text],
        help_text="Base URL of its Alertmanager.",
    )
    pagerduty_service_id = models.CharField(
        "PagerDuty service ID",
        max_length=20,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(r"^P[A-Z0-9]{5,19}$", "A PagerDuty service ID looks like PABC123."),
        ],
        help_text="The ID in the service's PagerDuty URL, e.g. PABC123.",
    )
    cloud_foundry_space = models.CharField(
        "Cloud Foundry space",
        max_length=130,
        blank=True,
        validators=[single_line_text, _cloud_foundry_space],
        help_text="Where its apps run on cloud.gov, as org/space.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ("name",)
        indexes = [models.Index(fields=["team", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("reviews:service", args=[self.slug])

    @property
    def environment_list(self) -> list[str]:
        return [env.strip() for env in self.environments.split(",") if env.strip()]


class ReviewKind(models.TextChoices):
    LAUNCH = "launch", "Launch"
    MAJOR_CHANGE = "major_change", "Major change"
    PERIODIC = "periodic", "Periodic re-review"


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Review(models.Model):
    """One readiness review of one service against one published checklist version.

    The summary fields are written by ``reviews.readiness`` in the same transaction as
    every change, so lists and dashboards read them instead of recomputing.
    """

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="reviews")
    checklist_version = models.ForeignKey(
        ChecklistVersion, on_delete=models.PROTECT, related_name="reviews"
    )
    kind = models.CharField(
        max_length=20,
        choices=ReviewKind.choices,
        default=ReviewKind.LAUNCH,
        validators=[single_line_text],
    )
    target_date = models.DateField(null=True, blank=True)
    state = models.CharField(
        max_length=20,
        choices=ReviewState.choices,
        default=ReviewState.DRAFT,
        db_index=True,
        validators=[single_line_text],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    previous_review = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Bumped by every change to answers (and later evidence and exceptions): sign-offs
    # record the revision they saw.
    content_revision = models.PositiveIntegerField(default=0)
    # The stored summary.
    item_count = models.PositiveIntegerField(default=0)
    applicable_count = models.PositiveIntegerField(default=0)
    met_count = models.PositiveIntegerField(default=0)
    readiness_percent = models.PositiveSmallIntegerField(default=0)
    must_have_count = models.PositiveIntegerField(default=0)
    must_haves_done = models.PositiveIntegerField(default=0)
    open_must_haves = models.PositiveIntegerField(default=0)
    not_started_count = models.PositiveIntegerField(default=0)
    waived_must_haves = models.PositiveIntegerField(default=0)
    # Must-haves whose automated check fails, with no valid exception: these block approval.
    failing_must_haves = models.PositiveIntegerField(default=0)
    # A digest of the content (answers, current evidence, exceptions); sign-offs that
    # saw another digest are stale.
    content_digest = models.CharField(max_length=64, blank=True, validators=[single_line_text])
    # Everyone who changed answers or evidence: none of them may sign it off.
    editors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    history = HistoricalRecords()

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["service", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.service.name}: {self.get_kind_display()} review #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:review", args=[self.pk])


class AnswerStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    MET = "met", "Met"
    PARTIALLY_MET = "partially_met", "Partially met"
    NOT_MET = "not_met", "Not met"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class Answer(models.Model):
    """A review's answer to one checklist item.

    ``revision`` counts saves: an edit names the revision it started from, and loses to
    any save made since (optimistic concurrency; see reviews.services.answer_update).
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="answers")
    status = models.CharField(
        max_length=20,
        choices=AnswerStatus.choices,
        default=AnswerStatus.NOT_STARTED,
        validators=[single_line_text],
    )
    justification = models.TextField(blank=True, validators=[multi_line_text])
    notes = models.TextField(blank=True, validators=[multi_line_text])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revision = models.PositiveIntegerField(default=1)
    # Re-reviews: the answer this one was carried over from, and whether the item's text
    # changed since (then nothing is carried and the team must look again).
    carried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    needs_recheck = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "item"], name="one_answer_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.item.text[:60]}: {self.get_status_display()}"


def evidence_upload_to(instance: Evidence, filename: str) -> str:
    # The stored name is the content hash: no user-chosen paths, no collisions.
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"evidence/{instance.sha256[:2]}/{instance.sha256}.{suffix}"


class EvidenceKind(models.TextChoices):
    LINK = "link", "Link"
    FILE = "file", "File"
    NOTE = "note", "Note"


class Evidence(models.Model):
    """Something that shows an answer is true. Append-only.

    A correction is a new row that ``supersedes`` the old one; removal is a recorded
    withdrawal. Neither deletes anything.
    """

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(
        max_length=10, choices=EvidenceKind.choices, validators=[single_line_text]
    )
    url = models.URLField(max_length=2000, blank=True, validators=[http_url, single_line_text])
    file = models.FileField(upload_to=evidence_upload_to, blank=True, max_length=300)
    original_name = models.CharField(max_length=255, blank=True, validators=[single_line_text])
    content_type = models.CharField(max_length=100, blank=True, validators=[single_line_text])
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, validators=[single_line_text])
    note = models.TextField(blank=True, validators=[multi_line_text])
    effective_date = models.DateField(help_text="When the evidence was true.")
    fresh_until = models.DateField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True, validators=[multi_line_text])

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "evidence"
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} evidence #{self.pk}"

    @property
    def summary(self) -> str:
        if self.kind == EvidenceKind.LINK:
            return self.url
        if self.kind == EvidenceKind.FILE:
            return self.original_name
        return self.note[:120]


class Comment(models.Model):
    """One message in the discussion of an answer."""

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=5000, validators=[multi_line_text])
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"Comment #{self.pk}"


class WaiverState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    EXPIRED = "expired", "Expired"


class Waiver(models.Model):
    """An exception (risk acceptance) for an item that is not met, until it expires."""

    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, related_name="waivers")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rationale = models.TextField(max_length=5000, validators=[multi_line_text])
    compensating_controls = models.TextField(max_length=5000, validators=[multi_line_text])
    expires_on = models.DateField()
    state = models.CharField(
        max_length=10,
        choices=WaiverState.choices,
        default=WaiverState.REQUESTED,
        db_index=True,
        validators=[single_line_text],
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True, validators=[multi_line_text])
    # Reminder days already sent (e.g. [14, 3]), so a beat run never repeats one.
    reminders_sent = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "exception"
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["state", "expires_on"])]

    def __str__(self) -> str:
        return f"Exception #{self.pk} ({self.get_state_display()})"


class SignOffDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REQUEST_CHANGES = "request_changes", "Request changes"


class SignOff(models.Model):
    """A reviewer's decision for one sign-off role, bound to the content it saw.

    ``content_digest`` is the review's digest at the moment of signing; once the review
    changes, the sign-off is stale: kept and shown, but it no longer counts.
    """

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="signoffs")
    role = models.CharField(max_length=40, validators=[single_line_text])
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(
        max_length=20, choices=SignOffDecision.choices, validators=[single_line_text]
    )
    comment = models.TextField(max_length=5000, blank=True, validators=[multi_line_text])
    content_digest = models.CharField(max_length=64, validators=[single_line_text])
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.role}) on review #{self.review_id}"


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
    # The check and its parameters (see reviews.checks.base.binding_id).
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


class ServiceCheck(models.Model):
    """The latest result of one check on one service (cheap to read), and the last pass.

    An error never replaces the last real answer: ``latest`` moves on every result, but
    ``standing`` (what readiness and reviewers see) moves only on pass, fail or n/a.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="checks")
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

    history = HistoricalRecords(excluded_fields=["token_hash"])

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
    ``reviews.connections``. History records every change except the ciphertext.
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

    history = HistoricalRecords(excluded_fields=["secret_ciphertext"])

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
        from django.utils import timezone

        from reviews.connections import encrypt

        self.secret_ciphertext = encrypt(plaintext)
        self.secret_changed_at = timezone.now()

    def credentials(self) -> Credentials:
        from reviews.connections import UndecryptableSecret, decrypt

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
