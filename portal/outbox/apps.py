from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """Background tasks queued with the change that asked for them (a transactional outbox)."""

    name = "portal.outbox"
    label = "outbox"
    verbose_name = "Task outbox"
