"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _preload_checks(**kwargs: Any) -> None:
    """Import every check family (boto3, httpx …) once in the worker's parent process, so
    the forked children start with them and the first sweep does not pay for it."""
    # This module is imported before Django is set up (it is the Celery app Django's
    # settings name), so the apps' modules can only be imported once setup has run.
    import django

    django.setup()
    from reviews.checks.collectors.base import load_families

    load_families()
