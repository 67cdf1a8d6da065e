"""Services: what a team launches and has reviewed, with the settings its checks read."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

from portal.accounts.models import Team
from portal.audit.history import recorded
from portal.validators import http_url, multi_line_text, single_line_text
from reviews.checks.collectors.repository import repository_address


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
    # Not a URLField: git also reads ssh and (for the demo) file addresses, as allowed by
    # CHECK_GIT_PROTOCOLS; the repository check's own rule validates it.
    repository_url = models.CharField(
        "Repository URL",
        max_length=500,
        blank=True,
        validators=[single_line_text, repository_address],
        help_text="Where git can read it, e.g. https://github.com/org/repo.",
    )
    runbook_url = models.URLField(
        "Runbook URL", blank=True, validators=[http_url, single_line_text]
    )
    dashboard_url = models.URLField(
        "Dashboard URL", blank=True, validators=[http_url, single_line_text]
    )
    status_page_url = models.URLField(
        "Status page URL", blank=True, validators=[http_url, single_line_text]
    )
    # Integration settings the automated checks read.
    health_check_url = models.URLField(
        "Health check URL", blank=True, validators=[http_url, single_line_text]
    )
    public_url = models.URLField("Public URL", blank=True, validators=[http_url, single_line_text])
    cloud_account_id = models.CharField(
        "AWS account ID",
        max_length=12,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(r"^\d{12}$", "An AWS account id is 12 digits."),
        ],
    )
    cloud_region = models.CharField(
        "AWS region",
        max_length=30,
        blank=True,
        validators=[
            single_line_text,
            RegexValidator(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", "A region looks like us-east-1."),
        ],
    )
    cloud_role_arn = models.CharField(
        "Cloud role ARN",
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
        "Prometheus URL",
        blank=True,
        validators=[http_url, single_line_text],
        help_text="Base URL of its Prometheus.",
    )
    alertmanager_url = models.URLField(
        "Alertmanager URL",
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

    # The newest review, whatever its state: what the portfolio shows for the service.
    # Kept by reviews.services.review_start; derived, so not history of its own.
    current_review = models.ForeignKey(
        "reviews.Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = recorded(excluded_fields=["current_review"])

    class Meta:
        ordering = ("name",)
        # By name: the portfolio's first page sorts every service by it.
        indexes = [
            models.Index(fields=["team", "name"]),
            models.Index(fields=["name", "id"], name="service_by_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("reviews:service", args=[self.slug])

    @property
    def repository_link(self) -> str:
        """The repository's address when a browser can open it (http or https)."""
        return (
            self.repository_url if self.repository_url.startswith(("https://", "http://")) else ""
        )

    @property
    def environment_list(self) -> list[str]:
        return [env.strip() for env in self.environments.split(",") if env.strip()]
