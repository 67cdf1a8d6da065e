from django.apps import AppConfig


class ChecklistsConfig(AppConfig):
    name = "checklists"
    verbose_name = "Checklist library"

    def ready(self) -> None:
        # The shared record follows these models (portal.audit.registry).
        from checklists.audited import register_all

        register_all()
