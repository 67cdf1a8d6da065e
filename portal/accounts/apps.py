from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts, roles and teams"

    def ready(self) -> None:
        # The permission rules register themselves with django-rules on import.
        from portal import permissions  # noqa: F401

        # The shared record follows these models (portal.audit.registry).
        from portal.accounts.audited import register_all

        register_all()
