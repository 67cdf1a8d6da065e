"""Bearer tokens: how they are made and kept. Only a token's SHA-256 is ever stored.

Two kinds share this: a service's CI token (``pft_``, reviews.checks), which pushes
evidence, and a person's read-only API token (``pfu_``, portal.accounts), which reads
the API as that person. The prefix tells them apart at a glance and in secret scanners.
"""

from __future__ import annotations

import hashlib
import secrets

# The first characters of a token kept in the clear, to tell tokens apart on a page.
SHOWN_PREFIX_LENGTH = 12
# Longer than any token made here: a longer one is refused before it is hashed.
MAX_TOKEN_LENGTH = 200


def token_new(prefix: str) -> str:
    """A new plain token: the prefix and 256 random bits."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(plain: str) -> str:
    """What is stored of a token: its SHA-256 (the token itself never is)."""
    return hashlib.sha256(plain.encode()).hexdigest()
