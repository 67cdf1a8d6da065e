"""The roles people hold in Preflight.

Roles are Django groups (created by a data migration) so that admins manage them with
the tools they know; "admin" is the staff flag, not a group.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    PRODUCT_LEAD = "product_lead", "Product lead"
    SECURITY_REVIEWER = "security_reviewer", "Security reviewer"
    MANAGER = "manager", "Manager"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"

    @property
    def group_name(self) -> str:
        return str(self.label)


# Roles that are groups, in the order a person with several of them lands on a page.
GROUP_ROLES: tuple[Role, ...] = (
    Role.PRODUCT_LEAD,
    Role.SECURITY_REVIEWER,
    Role.MANAGER,
    Role.AUDITOR,
)
# Roles that sign off reviews; MFA can be required of them (and of admins).
REVIEWER_ROLES: frozenset[Role] = frozenset({Role.SECURITY_REVIEWER})

_BY_GROUP_NAME = {role.group_name: role for role in GROUP_ROLES}


def role_for_group_name(name: str) -> Role | None:
    return _BY_GROUP_NAME.get(name)


def role_label(value: str) -> str:
    """A role's name for people ("Security reviewer"), whatever key is stored."""
    return str(Role(value).label) if value in Role.values else value.replace("_", " ").capitalize()
