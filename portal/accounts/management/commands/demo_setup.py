import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from portal.accounts.demo import DEMO_PASSWORD, DEMO_TEAMS, demo_setup
from reviews import demo


class Command(BaseCommand):
    help = (
        "Create the demo teams, one user per role and the demo services, check the services "
        "once, and print the sign-ins (refuses to run in production)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="The port the demo is served on (127.0.0.1)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo users are never created when PREFLIGHT_ENV=production.")
        port: int = options["port"]
        url = f"http://127.0.0.1:{port}/"
        people = demo_setup()
        try:
            demo.demo_reviews()
        except LookupError as exc:
            self.stderr.write(f"Demo services skipped: {exc}")
        else:
            demo.preflight_point_at(url)
            self._check_once(port, url)
            demo.demo_history()
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"Preflight demo: sign in at {url}"))
        out.write(f"Every demo account's password is: {DEMO_PASSWORD}")
        out.write("")
        width = max(len(p.email) for p in people)
        for person in people:
            roles = ", ".join(str(role.label) for role in person.roles)
            team = f"  ({DEMO_TEAMS[person.team]})" if person.team else ""
            out.write(f"  {person.email.ljust(width)}  {roles}{team}")
        out.write("")

    def _check_once(self, port: int, url: str) -> None:
        """One sweep and one push while the portal answers on ``port``, so the first
        sign-in finds results (Preflight's own checks call the demo itself)."""
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            self.stderr.write(
                "A broker is configured (REDIS_URL), so the demo does not sweep before "
                "serving; use Check now on a service once a worker runs."
            )
            return
        with _serving(port):
            try:
                found = demo.demo_evidence(base_url=url)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        run, pushed = found.run, found.pushed
        self.stdout.write(
            f"Checked the demo services: {run.passed} passed, {run.failed} failed, "
            f"{run.errored} errors, {run.not_applicable} not applicable."
        )
        self.stdout.write(f"Preflight's pipeline pushed {pushed.check_key}: {pushed.result}.")


@contextmanager
def _serving(port: int) -> Iterator[None]:
    """Serve the portal on 127.0.0.1:``port`` in a thread while the block runs, with the
    server runserver uses, then free the port for it."""
    # Building the WSGI application loads the whole site: only when serving.
    from portal.wsgi import application

    try:
        server = ThreadedWSGIServer(("127.0.0.1", port), WSGIRequestHandler)
    except OSError as exc:
        raise CommandError(
            f"Port {port} is in use ({exc.strerror}): stop what serves there, or choose "
            "another port (PORT=8001 make demo)."
        ) from None
    server.set_app(application)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        # The first request imports the URLconf and every view: pay for it before the
        # health check times its answer.
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).raise_for_status()
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
