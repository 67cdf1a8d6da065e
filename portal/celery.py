"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

from portal.logs import request_id_var

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


_task_ids: dict[str, Any] = {}


@task_prerun.connect
def _task_request_id(task_id: str = "", **kwargs: Any) -> None:
    """One request id per task, so everything a task writes to the record reads as one
    change. A task run in-process inside a web request keeps that request's id."""
    if request_id_var.get() is None:
        _task_ids[task_id] = request_id_var.set(f"task-{task_id}")


@task_postrun.connect
def _task_request_id_done(task_id: str = "", **kwargs: Any) -> None:
    token = _task_ids.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
