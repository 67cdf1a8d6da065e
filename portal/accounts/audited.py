"""Where each account record belongs in the shared record: people and teams are their
own roots; a person's API tokens belong to them."""

from __future__ import annotations

from portal.accounts.models import ApiToken, SecurityPolicy, Team, User
from portal.audit.registry import key, register


def register_all() -> None:
    register(User, root=lambda u: key(u))
    register(Team, root=lambda t: key(t))
    register(SecurityPolicy)
    register(ApiToken, root=lambda t: key("accounts.user", t.user_id))
