"""Who may see or change what: every permission in Preflight is decided here.

Pages ask ``can(user, "<app>.<action>", obj)`` (or use the ``permission_required``
decorator below); django-rules answers from the predicates here. ``can`` deliberately
skips Django's superuser shortcut: roles decide, so an admin who is a superuser (for
the Django admin) still cannot sign off reviews or act as a product lead. Later
features add their rules to this module, and querysets narrow what a user may list
through helpers that live beside these rules.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rules.permissions import add_perm, has_perm
from rules.predicates import predicate

from portal.accounts.roles import REVIEWER_ROLES, Role


def _has_role(user: Any, role: Role) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(role)


ViewFunc = Callable[..., HttpResponse]


@predicate
def is_product_lead(user: Any) -> bool:
    return _has_role(user, Role.PRODUCT_LEAD)


@predicate
def is_reviewer(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and bool(user.roles & REVIEWER_ROLES)


@predicate
def is_manager(user: Any) -> bool:
    return _has_role(user, Role.MANAGER)


@predicate
def is_auditor(user: Any) -> bool:
    return _has_role(user, Role.AUDITOR)


@predicate
def is_admin(user: Any) -> bool:
    return _has_role(user, Role.ADMIN)


@predicate
def is_signed_in(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and bool(user.is_active)


# Each role's own page (see portal/navigation.py for where they appear).
add_perm("reviews.view_own_services", is_product_lead)
add_perm("reviews.view_review_queue", is_reviewer)
add_perm("reviews.view_portfolio", is_manager)
add_perm("audit.view_activity", is_auditor)
add_perm("accounts.administer", is_admin)
# Everyone signed in reads the checklist library.
add_perm("checklists.view_library", is_signed_in)


def can(user: Any, perm: str, obj: Any = None) -> bool:
    """Whether ``user`` may do ``perm`` (to ``obj``), decided by roles alone."""
    return bool(has_perm(perm, user, obj))


def permission_required(perm: str) -> Callable[[ViewFunc], ViewFunc]:
    """View decorator: anonymous users go to sign-in; signed-in users without ``perm`` get 403."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can(request.user, perm):
                raise PermissionDenied(f"Your role does not allow this ({perm}).")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# --- Checklist library -----------------------------------------------------------------
# Everyone signed in reads it; only admins import, edit and publish.
add_perm("checklists.manage", is_admin)


# --- Services and reviews -----------------------------------------------------------------
# Reviewers, managers, auditors and admins read every service and review; product leads
# read and change their own team's. Only the owning team's product leads answer.


def _team_id(obj: Any) -> int | None:
    service = getattr(obj, "service", obj)  # a Review or a Service
    return getattr(service, "team_id", None)


@predicate
def in_owning_team(user: Any, obj: Any) -> bool:
    return obj is not None and _team_id(obj) in user.team_ids


reads_everything = is_reviewer | is_manager | is_auditor | is_admin

add_perm("reviews.add_service", is_product_lead | is_admin)
add_perm("reviews.view_service", reads_everything | (is_product_lead & in_owning_team))
add_perm("reviews.change_service", is_admin | (is_product_lead & in_owning_team))
add_perm("reviews.start_review", is_product_lead & in_owning_team)
add_perm("reviews.view_review", reads_everything | (is_product_lead & in_owning_team))
add_perm("reviews.change_review", is_product_lead & in_owning_team)
add_perm(
    "reviews.comment", (is_product_lead & in_owning_team) | is_reviewer | is_manager | is_admin
)
add_perm("reviews.sign_review", is_reviewer)


@predicate
def is_security_reviewer(user: Any) -> bool:
    return _has_role(user, Role.SECURITY_REVIEWER)


add_perm("reviews.decide_waiver", is_security_reviewer | is_manager)
add_perm("reviews.view_check_runs", reads_everything)
# The platform connections' API secrets (PagerDuty, New Relic, Cloud Foundry).
add_perm("reviews.manage_connections", is_admin)


def visible_services(user: Any) -> Any:
    """The services ``user`` may see, as a queryset (narrowed in SQL, never per row)."""
    from reviews.models import Service

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Service.objects.none()
    if reads_everything(user):
        return Service.objects.all()
    if is_product_lead(user):
        return Service.objects.filter(team_id__in=user.team_ids)
    return Service.objects.none()


def require(user: Any, perm: str, obj: Any = None) -> None:
    """Raise PermissionDenied unless ``user`` may do ``perm`` (to ``obj``)."""
    if not can(user, perm, obj):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")
