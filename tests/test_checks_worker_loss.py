"""A worker killed in the middle of a sweep: a restarted worker finishes it, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from checklists.parsers import parse_file
from checklists.services import checklist_import
from reviews import services
from reviews.models import CheckResult, CheckRun, CheckRunTrigger, Service
from tests.http_servers import LocalServer
from tests.processes import start_process_group, stop_process_group, wait_until
from tests.services import require_redis

BASE_DIR = Path(__file__).resolve().parent.parent
CHECKLIST = b"""---
title: Slow
slug: slow
checks:
  healthy: [{key: http.health, params: {max_ms: 10000}}]
---
## Ops
- Healthy {#healthy}
"""


def worker(env: dict[str, str]) -> subprocess.Popen[str]:
    command = [
        *(sys.executable, "-m", "celery", "--app", "portal", "worker"),
        *("--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO"),
        *("--without-gossip", "--without-mingle"),
    ]
    return start_process_group(command, cwd=BASE_DIR, env=env)


def wait_until_or_false(check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_sweep_survives_its_worker_being_killed(lead, benefits_team, tmp_path):
    redis_url = require_redis()
    database = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_NAME"}},
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": redis_url,
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_RESTORE_INTERVAL": "1",
        "CELERY_RESTORE_THROTTLE": "1",
        "PREFLIGHT_DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "info",
        "CHECK_TIMEOUT_SECONDS": "30",
        "CHECK_ALLOWED_NETWORKS": "127.0.0.1/32",  # the local health server
    }
    version = checklist_import(
        parsed=parse_file("s.md", CHECKLIST).checklist, by=None, publish=True
    ).version
    with LocalServer.running() as server:
        url = server.route("/health", status=200, delay=3.0)  # a chunk that takes a while
        for n in range(3):
            service = Service.objects.create(
                name=f"S{n}", slug=f"s{n}", team=benefits_team, health_check_url=url
            )
            services.review_start(service=service, checklist_version=version, by=lead)
        run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL)

        first = worker(env)
        try:
            from celery import Celery

            app = Celery("sender", broker=redis_url, backend=redis_url, set_as_current=False)
            app.conf.task_default_queue = "celery"
            app.send_task("checks.sweep", args=[run.pk, None])
            # Wait until the chunk's checks are in flight, then kill the worker outright.
            wait_until(lambda: len(server.requests) >= 3, timeout=30, what="the checks to start")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            assert not CheckResult.objects.filter(run=run).exists()
        finally:
            stop_process_group(first, grace=2)

        second = worker(env)
        try:
            finished = wait_until_or_false(
                lambda: CheckRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists(), 60
            )
        finally:
            stop_process_group(second, grace=10)
            output = second.stdout.read() if second.stdout else ""
        assert finished, "the restarted worker did not finish the sweep:\n" + output[-4000:]
    run.refresh_from_db()
    assert CheckResult.objects.filter(run=run).count() == 3
    assert run.passed == 3, output[-2000:]
