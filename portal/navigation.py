"""The navigation each role sees, and the page each role lands on after sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from portal.accounts.roles import Role
from portal.permissions import can


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    description: str

    @property
    def url(self) -> str:
        return reverse(self.url_name)


# In the order the header shows them.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem(
        "Portfolio",
        "reviews:portfolio",
        "reviews.view_portfolio",
        "Every service you may read and its current review, at a glance.",
    ),
    NavItem(
        "Review queue",
        "reviews:queue",
        "reviews.view_review_queue",
        "Submitted reviews waiting on your sign-off, oldest first.",
    ),
    NavItem(
        "Activity",
        "audit:activity",
        "audit.view_activity",
        "Every change across the system: who, what, when.",
    ),
    NavItem(
        "Administration",
        "accounts:administration",
        "accounts.administer",
        "Users, teams, roles, checklists and integrations.",
    ),
    NavItem(
        "Checklists",
        "checklists:library",
        "checklists.view_library",
        "The checklist library and its versions.",
    ),
)
# Where each role lands after sign-in (someone with several lands by their first role):
# the page of the work that role comes to do.
LANDING: tuple[tuple[Role, str], ...] = (
    (Role.PRODUCT_LEAD, "reviews:portfolio"),
    (Role.SECURITY_REVIEWER, "reviews:queue"),
    (Role.MANAGER, "reviews:portfolio"),
    (Role.AUDITOR, "audit:activity"),
    (Role.ADMIN, "accounts:administration"),
)


def items_for(user: Any) -> list[NavItem]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for item in NAV_ITEMS if can(user, item.permission)]


def landing_item(user: Any) -> NavItem | None:
    """The page a user lands on: their first role's (the shared library does not count)."""
    if not getattr(user, "is_authenticated", False):
        return None
    held = user.roles
    for role, url_name in LANDING:
        if role in held:
            item = next((i for i in NAV_ITEMS if i.url_name == url_name), None)
            if item is not None and can(user, item.permission):
                return item
    return None


def navigation(request: HttpRequest) -> dict[str, object]:
    """Template context processor: the signed-in user's navigation."""
    items = items_for(getattr(request, "user", None))
    path = request.path
    return {
        "nav_items": [
            {"item": item, "url": item.url, "current": path.startswith(item.url)} for item in items
        ]
    }
