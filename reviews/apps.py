from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Services and readiness reviews"

    def ready(self) -> None:
        # The portfolio's cache follows the record: recorded changes bump its version.
        from reviews.pagecache import WORKSPACE
        from reviews.portfolio import cache

        cache.connect()
        WORKSPACE.connect()
        # The shared record follows these models (portal.audit.registry).
        from reviews.audited import register_all

        register_all()
