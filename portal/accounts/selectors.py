"""Reads of accounts that more than one place shares."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.accounts.models import API_TOKEN_PREFIX, ApiToken, User
from portal.tokens import MAX_TOKEN_LENGTH, token_hash


def api_token_for(plain: str) -> ApiToken | None:
    """The live token a plain personal token names, with its user (one query), or None:
    unknown, revoked, or its user deactivated."""
    if not plain.startswith(API_TOKEN_PREFIX) or len(plain) > MAX_TOKEN_LENGTH:
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash(plain), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The person's tokens, live and revoked, newest first (the *Your account* list)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
