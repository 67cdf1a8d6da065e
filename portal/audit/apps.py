from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "portal.audit"
    label = "audit"
    verbose_name = "Audit record"

    def ready(self) -> None:
        # The audit trail is the one cross-cutting mechanism built on signals.
        from portal.audit import receivers  # noqa: F401
