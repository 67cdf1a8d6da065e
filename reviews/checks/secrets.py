"""The platform connections' secrets (PagerDuty, New Relic and Cloud Foundry API keys),
encrypted at rest: plain functions, so models and commands use them without a cycle.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under
``CONNECTION_SECRET_KEYS`` (newest first; all of them decrypt, so keys can be rotated),
or a key derived from ``SECRET_KEY`` when none is set. The plaintext only ever goes into
a check's ``Target``; it is never shown, logged or kept in history.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

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
