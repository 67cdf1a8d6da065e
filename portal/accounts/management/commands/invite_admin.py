from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.timesince import timesince

from portal.accounts import services


class Command(BaseCommand):
    help = (
        "Make EMAIL an admin (creating the account if there is none) and print a one-time "
        "link, under SITE_URL, where they set their password. Self-signup is off, so this is "
        "how the first admin gets in; they give everyone else their roles."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email", help="The admin's email address, which they sign in with.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, created = services.admin_invite(
                email=options["email"], reason="Admin invited from the command line (invite_admin)"
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        link = services.password_set_url(user=user)
        now = timezone.now()
        lifetime = timesince(now, now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT))
        lifetime = lifetime.replace("\xa0", " ")  # a terminal, not a web page
        state = "a new account" if created else "an existing account"
        self.stdout.write(self.style.SUCCESS(f"{user.email} is an admin ({state})."))
        self.stdout.write(
            f"Send them this link to set their password and sign in; it works once, "
            f"within {lifetime}:"
        )
        self.stdout.write(f"  {link}")
