"""The demo cast for `make demo`: one person per role, in two teams."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from portal.accounts import services
from portal.accounts.models import Team, User
from portal.accounts.roles import Role

# Not a secret: these accounts exist only in the embedded demo, never in production.
DEMO_PASSWORD = "preflight-demo"  # noqa: S105


@dataclass(frozen=True)
class DemoPerson:
    email: str
    first_name: str
    last_name: str
    roles: tuple[Role, ...]
    team: str | None


DEMO_TEAMS = {
    "benefits": "Benefits Team",
    "permits": "Permits Team",
}

DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("lead@example.com", "Priya", "Lead", (Role.PRODUCT_LEAD,), "benefits"),
    DemoPerson("lead2@example.com", "Pat", "Permits", (Role.PRODUCT_LEAD,), "permits"),
    DemoPerson("security@example.com", "Sam", "Secure", (Role.SECURITY_REVIEWER,), "benefits"),
    DemoPerson("manager@example.com", "Morgan", "Manager", (Role.MANAGER,), "permits"),
    DemoPerson("auditor@example.com", "Avery", "Auditor", (Role.AUDITOR,), None),
    DemoPerson("admin@example.com", "Ada", "Admin", (Role.ADMIN,), None),
)


def demo_setup() -> list[DemoPerson]:
    """Create (or reset) the demo teams and people. Safe to run any number of times."""
    with transaction.atomic():
        teams = {
            slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0]
            for slug, name in DEMO_TEAMS.items()
        }
        for person in DEMO_PEOPLE:
            user, _ = User.objects.get_or_create(
                email=person.email,
                defaults={"first_name": person.first_name, "last_name": person.last_name},
            )
            user.set_password(DEMO_PASSWORD)
            user.is_superuser = Role.ADMIN in person.roles
            user.is_active = True
            user.save()
            services.user_set_roles(user=user, roles=person.roles, reason="Demo setup")
            if person.team:
                services.team_add_members(team=teams[person.team], users=[user])
    return list(DEMO_PEOPLE)
