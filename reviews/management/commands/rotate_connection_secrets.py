"""Re-encrypt every platform connection's secret under the newest key.

After putting a new key first in ``CONNECTION_SECRET_KEYS`` (keeping the old ones after
it), run this; then the old keys can be removed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from reviews.checks.secrets import UndecryptableSecret, decrypt, rotate
from reviews.models import PlatformConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt the platform connections' secrets under the newest CONNECTION_SECRET_KEYS key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            connections = list(PlatformConnection.objects.select_for_update())
            unreadable = []
            for connection in connections:
                try:
                    decrypt(connection.secret_ciphertext)
                except UndecryptableSecret:
                    unreadable.append(str(connection))
            if unreadable:
                # Nothing is changed unless every secret can be carried over.
                raise CommandError(
                    "These secrets cannot be decrypted with the configured keys, so nothing "
                    f"was changed: {', '.join(unreadable)}. Add the old key to "
                    "CONNECTION_SECRET_KEYS, or enter those secrets again in the admin."
                )
            for connection in connections:
                connection.secret_ciphertext = rotate(connection.secret_ciphertext)
            PlatformConnection.objects.bulk_update(connections, ["secret_ciphertext"])
        self.stdout.write(f"Re-encrypted {len(connections)} connection secrets.")
