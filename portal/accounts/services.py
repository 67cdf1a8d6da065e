"""Writes to accounts, roles and teams. Audit events come from portal.audit.receivers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import API_TOKEN_PREFIX, ApiToken, Team, User
from portal.accounts.roles import GROUP_ROLES, Role
from portal.audit.history import attributed
from portal.tokens import SHOWN_PREFIX_LENGTH, token_hash, token_new

logger = logging.getLogger(__name__)


def role_group(role: Role) -> Group:
    """The group behind a role. The data migration creates them; this heals a flushed table."""
    group, _ = Group.objects.get_or_create(name=role.group_name)
    return group


def user_set_roles(*, user: User, roles: Iterable[Role], reason: str) -> None:
    """Make ``user`` hold exactly ``roles`` (admin is the staff flag)."""
    wanted = set(roles)
    with transaction.atomic():
        groups = {role.group_name: role_group(role) for role in GROUP_ROLES}
        current = {g.name for g in user.groups.all()}
        group_roles = {r for r in wanted if r is not Role.ADMIN}
        to_add = [groups[r.group_name] for r in group_roles if r.group_name not in current]
        to_remove = [
            groups[name]
            for name in current
            if name in groups and name not in {r.group_name for r in group_roles}
        ]
        if to_add:
            user.groups.add(*to_add)
        if to_remove:
            user.groups.remove(*to_remove)
        is_admin = Role.ADMIN in wanted
        if user.is_staff != is_admin:
            user.is_staff = is_admin
            user._change_reason = reason  # type: ignore[attr-defined]
            user.save(update_fields=["is_staff"])
    user.forget_roles()


def user_grant_roles_from_claims(
    *, user: User, claims: Mapping[str, Any], reason: str
) -> set[Role]:
    """Add the roles an identity provider's groups claim maps to (see OIDC_ROLE_MAP)."""
    raw = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(raw, str):
        raw = [raw]
    granted: set[Role] = set()
    for idp_group in raw:
        role_value = settings.OIDC_ROLE_MAP.get(str(idp_group))
        if role_value is None:
            continue
        try:
            granted.add(Role(role_value))
        except ValueError:
            logger.warning("OIDC_ROLE_MAP names an unknown role", extra={"role": role_value})
    if granted:
        user_set_roles(user=user, roles=set(user.roles) | granted, reason=reason)
    return granted


def team_add_members(*, team: Team, users: Iterable[User]) -> None:
    team.members.add(*users)


def team_remove_members(*, team: Team, users: Iterable[User]) -> None:
    team.members.remove(*users)


# --- personal API tokens ----------------------------------------------------------------------

# How stale ``last_used_at`` may get: a client polling the API writes at most once a minute.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new read-only API token of ``user``; the plain token is returned once, never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("Name the token (at most 100 characters), e.g. “Weekly report”.")
    plain = token_new(API_TOKEN_PREFIX)
    token = ApiToken(
        user=user, name=name, prefix=plain[:SHOWN_PREFIX_LENGTH], token_hash=token_hash(plain)
    )
    try:
        token.full_clean(exclude=["user"])
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from exc
    attributed(token, by=user, reason="API token created")
    with transaction.atomic():
        token.save()
    return token, plain


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke the token: reads with it are refused from now on. Revoking twice is harmless."""
    with transaction.atomic():
        current = ApiToken.objects.select_for_update().get(pk=token.pk)
        if current.revoked_at is None:
            current.revoked_at = timezone.now()
            attributed(current, by=current.user, reason="API token revoked")
            current.save()
    return current


def api_token_used(token: ApiToken) -> None:
    """Note when a token last read. Not history (the field is left out of the token's
    history), so this write goes straight to the row, and at most once a minute."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < _LAST_USED_GRANULARITY:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


# --- the first admin ----------------------------------------------------------------------------


def admin_invite(*, email: str, reason: str) -> tuple[User, bool]:
    """Find or create the person with ``email`` and make them an admin: staff and superuser,
    so the administration shows them every record (where they give everyone else their
    roles), and active. Returns the person and whether the account is new.

    A new account has no usable password; ``password_set_url`` makes the link that sets
    one. Raises ValueError for an address that is not one.
    """
    address = email.strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValueError(f"{email!r} is not an email address.") from exc
    with transaction.atomic():
        user = User.objects.select_for_update().filter(email__iexact=address).first()
        created = user is None
        if user is None:
            user = User(email=address, is_staff=True, is_superuser=True)
            user.set_unusable_password()
            attributed(user, by=None, reason=reason)
            user.save()
        elif not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            attributed(user, by=None, reason=reason)
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
    user.forget_roles()
    return user, created


def password_set_url(*, user: User) -> str:
    """An absolute link (under ``SITE_URL``) to allauth's set-a-new-password page for
    ``user``. It works once: setting the password (or signing in) changes what its key
    was made from. It lapses after ``PASSWORD_RESET_TIMEOUT`` seconds."""
    path = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    return f"{settings.SITE_URL}{path}"
