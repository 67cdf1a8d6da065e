from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.demo import DEMO_PASSWORD, DEMO_TEAMS, demo_setup


class Command(BaseCommand):
    help = "Create the demo teams and one user per role (refuses to run in production)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where to sign in.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo users are never created when PREFLIGHT_ENV=production.")
        people = demo_setup()
        from reviews.demo import demo_reviews

        try:
            demo_reviews()
        except LookupError as exc:
            self.stderr.write(f"Demo services skipped: {exc}")
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"Preflight demo: sign in at {options['url']}"))
        out.write(f"Every demo account's password is: {DEMO_PASSWORD}")
        out.write("")
        width = max(len(p.email) for p in people)
        for person in people:
            roles = ", ".join(str(role.label) for role in person.roles)
            team = f"  ({DEMO_TEAMS[person.team]})" if person.team else ""
            out.write(f"  {person.email.ljust(width)}  {roles}{team}")
        out.write("")
