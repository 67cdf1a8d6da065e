"""The navigation each role sees, and the page each role lands on after sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

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


# In landing order: someone with several roles lands on the first page they may see.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem(
        "My services",
        "reviews:services",
        "reviews.view_own_services",
        "Your team's services and their readiness reviews.",
    ),
    NavItem(
        "Review queue",
        "reviews:queue",
        "reviews.view_review_queue",
        "Submitted reviews waiting on your sign-off, oldest first.",
    ),
    NavItem(
        "Portfolio",
        "reviews:portfolio",
        "reviews.view_portfolio",
        "Every service's readiness at a glance.",
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


def items_for(user: Any) -> list[NavItem]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for item in NAV_ITEMS if can(user, item.permission)]


def landing_item(user: Any) -> NavItem | None:
    """The role page a user lands on; the shared checklist library does not count."""
    for item in items_for(user):
        if item.permission != "checklists.view_library":
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
