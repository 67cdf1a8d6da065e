"""Platform connections: the API credentials the PagerDuty, New Relic and Cloud Foundry
checks use, encrypted at rest.

A connection belongs to the whole organisation (no team) or to one team; a service uses
its team's connection of a kind when there is one, else the organisation's. Secrets are
encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under ``CONNECTION_SECRET_KEYS``
(newest first; all of them decrypt, so keys can be rotated), or a key derived from
``SECRET_KEY`` when none is set. The plaintext never leaves this module except into a
check's ``Target``, and is never shown, logged or kept in history.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from reviews.checks.base import Credentials

if TYPE_CHECKING:
    from reviews.models import PlatformConnection

_DERIVATION_INFO = b"preflight platform connection secrets"


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from Django's ``SECRET_KEY`` (used when no key is configured)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def _fernet() -> MultiFernet:
    keys = list(settings.CONNECTION_SECRET_KEYS) or [derived_key(settings.SECRET_KEY).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"CONNECTION_SECRET_KEYS must be Fernet keys (32 url-safe base64-encoded bytes): {exc}"
        ) from None


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


class UndecryptableSecret(Exception):
    """The secret was encrypted under a key that is no longer configured."""


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "The secret cannot be decrypted with the configured keys: "
            "was CONNECTION_SECRET_KEYS or SECRET_KEY changed? Enter the secret again."
        ) from None


def rotate(ciphertext: str) -> str:
    """The same secret re-encrypted under the newest key."""
    return _fernet().rotate(ciphertext.encode()).decode()


def credentials_by_team(
    connections: Iterable[PlatformConnection],
) -> dict[tuple[str, int | None], Credentials]:
    """(kind, team id or None) → credentials, for ``credentials_for``."""
    found: dict[tuple[str, int | None], Credentials] = {}
    for connection in connections:
        found[(connection.kind, connection.team_id)] = connection.credentials()
    return found


def credentials_for(
    team_id: int, by_team: dict[tuple[str, int | None], Credentials]
) -> tuple[Credentials, ...]:
    """A team's credentials of each kind: its own connection, else the organisation's."""
    kinds = sorted({kind for kind, _ in by_team})
    chosen = (by_team.get((kind, team_id)) or by_team.get((kind, None)) for kind in kinds)
    return tuple(c for c in chosen if c is not None)


def all_credentials() -> dict[tuple[str, int | None], Credentials]:
    from reviews.models import PlatformConnection

    return credentials_by_team(PlatformConnection.objects.filter(enabled=True))
