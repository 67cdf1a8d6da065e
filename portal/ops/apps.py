from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operating the portal: backup and restore (no models)."""

    name = "portal.ops"
    label = "ops"
    verbose_name = "Operations"
