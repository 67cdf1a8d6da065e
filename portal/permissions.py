"""Who may see or change what: every permission in Preflight is decided here.

Pages ask ``can(user, "<app>.<action>", obj)`` (or use the ``permission_required``
decorator, or ``require_object`` for one record); django-rules answers from the
predicates here. ``can`` deliberately skips Django's superuser shortcut: roles decide, so
an admin who is a superuser (for the Django admin) still cannot sign off reviews or act
as a product lead. Later features add their rules to this module, and querysets narrow
what a user may list through helpers that live beside these rules.

What admins may do, decided here and written down in the README (*Permissions*): they
run the portal (people, teams, roles, the security policy, checklists, platform
connections) and read everything, and may revoke any CI token (a leaked token must be
stoppable without its team). They do not do a team's or a reviewer's work: no creating
or editing services, no answering, no CI tokens of their own (a token pushes evidence as
the service), no checks run on a team's behalf, no comments, no sign-offs, no exception
decisions. An admin who must do such work is given the role, which the record shows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from rules.permissions import add_perm, has_perm
from rules.predicates import predicate

from portal.accounts.roles import REVIEWER_ROLES, Role
from portal.audit import events as audit_events
from portal.audit import registry as audit_registry


def _has_role(user: Any, role: Role) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(role)


ViewFunc = Callable[..., HttpResponseBase]


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
add_perm("reviews.view_review_queue", is_reviewer)
add_perm("audit.view_activity", is_auditor)
# Checking the record's hash chain only reads it: auditors, and admins who run the portal.
add_perm("audit.verify_record", is_auditor | is_admin)
add_perm("accounts.administer", is_admin)
# The Django admin's pages that the Administration page links admins to: people, teams,
# the security policy and the beat schedule they run, and the security events they read.
# Superusers pass Django's own checks; the admin role (staff, not superuser, as
# portal.accounts.services.user_set_roles grants it) passes these.
ADMIN_SITE_PERMS = (
    "accounts.view_user",
    "accounts.add_user",
    "accounts.change_user",
    "accounts.view_team",
    "accounts.add_team",
    "accounts.change_team",
    "accounts.view_securitypolicy",
    "accounts.change_securitypolicy",
    "django_celery_beat.view_periodictask",
    "django_celery_beat.change_periodictask",
    "audit.view_auditevent",
    "outbox.view_outboxtask",
    "outbox.change_outboxtask",
)
for _perm in ADMIN_SITE_PERMS:
    add_perm(_perm, is_admin)
# Everyone signed in reads the checklist library.
add_perm("checklists.view_library", is_signed_in)


def can(user: Any, perm: str, obj: Any = None) -> bool:
    """Whether ``user`` may do ``perm`` (to ``obj``), decided by roles alone."""
    return bool(has_perm(perm, user, obj))


# What a refusal tells people, in words (never the permission's code).
DENIALS = {
    "reviews.view_review_queue": "The review queue is for reviewers.",
    "reviews.view_portfolio": "The portfolio is for product leads, reviewers, managers, "
    "auditors and admins.",
    "audit.view_activity": "The activity record is for auditors.",
    "audit.verify_record": "Verifying the record is for auditors and admins.",
    "accounts.administer": "Administration is for admins.",
    "checklists.manage": "Only admins import, edit and publish checklists.",
    "reviews.view_service": "A service is for its team, reviewers, managers, auditors and admins.",
    "reviews.view_review": "A review is for its team, reviewers, managers, auditors and admins.",
    "reviews.add_service": "Only product leads add services, to their own teams.",
    "reviews.change_service": "Only the product leads of the service's team change it.",
    "reviews.run_checks": "Only the product leads of the service's team run its checks.",
    "reviews.manage_tokens": "Only the product leads of the service's team create CI tokens.",
    "reviews.revoke_token": "Only the service's product leads and admins revoke CI tokens.",
    "reviews.start_review": "Only the product leads of the service's team start reviews.",
    "reviews.change_review": "Only the product leads of the service's team change its review.",
    "reviews.comment": "Only the service's team, reviewers and managers comment.",
    "reviews.sign_review": "Only reviewers sign off reviews.",
    "reviews.decide_waiver": "Only security reviewers and managers decide exceptions.",
    "reviews.view_check_runs": "Check runs are for reviewers, managers, auditors and admins.",
    "reviews.manage_connections": "Only admins manage platform connections.",
    "reviews.record_audit": "Only security reviewers and managers record launch audits.",
    "reviews.change_audit": "Only the security reviewer or manager who recorded a launch "
    "audit edits it.",
    "reviews.write_journal": "Only the service's team, reviewers and managers write journal notes.",
    "reviews.change_journal_note": "Only the author of a journal note edits it.",
}
DENIALS.update(dict.fromkeys(ADMIN_SITE_PERMS, "Administration is for admins."))


def denied(perm: str) -> PermissionDenied:
    """The refusal of ``perm``, saying in words who may do it."""
    return PermissionDenied(DENIALS.get(perm, "Your role does not allow this."))


def permission_required(perm: str) -> Callable[[ViewFunc], ViewFunc]:
    """View decorator: anonymous users go to sign-in; signed-in users without ``perm`` get 403."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can(request.user, perm):
                raise denied(perm)
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

# The way in for every reader: product leads see their teams' services in it.
add_perm("reviews.view_portfolio", reads_everything | is_product_lead)

team_lead = is_product_lead & in_owning_team

add_perm("reviews.add_service", is_product_lead)
add_perm("reviews.view_service", reads_everything | team_lead)
add_perm("reviews.change_service", team_lead)
add_perm("reviews.run_checks", team_lead)
add_perm("reviews.manage_tokens", team_lead)
add_perm("reviews.revoke_token", team_lead | is_admin)
add_perm("reviews.start_review", team_lead)
add_perm("reviews.view_review", reads_everything | team_lead)
add_perm("reviews.change_review", team_lead)
add_perm("reviews.comment", team_lead | is_reviewer | is_manager)
add_perm("reviews.sign_review", is_reviewer)


@predicate
def is_security_reviewer(user: Any) -> bool:
    return _has_role(user, Role.SECURITY_REVIEWER)


add_perm("reviews.decide_waiver", is_security_reviewer | is_manager)
add_perm("reviews.view_check_runs", reads_everything)
# The platform connections' API secrets (PagerDuty, New Relic, Cloud Foundry).
add_perm("reviews.manage_connections", is_admin)


# --- Launch audits and the journal ------------------------------------------------------
# Everyone who reads a review reads its launch audits; security reviewers and managers
# record them, and only the one who recorded an audit edits it. Journal notes are written
# by whoever may comment on the service's reviews, and edited only by their author. The
# auditor reads all of it and writes none.


@predicate
def recorded_the_audit(user: Any, session: Any) -> bool:
    return session is not None and session.recorded_by_id == user.pk


@predicate
def wrote_the_note(user: Any, note: Any) -> bool:
    return note is not None and note.author_id == user.pk


records_audits = is_security_reviewer | is_manager
writes_journal = team_lead | is_reviewer | is_manager  # a note's team is its service's

add_perm("reviews.record_audit", records_audits)
add_perm("reviews.change_audit", records_audits & recorded_the_audit)
add_perm("reviews.write_journal", writes_journal)
add_perm("reviews.change_journal_note", writes_journal & wrote_the_note)


def visible_services(user: Any) -> Any:
    """The services ``user`` may see, as a queryset (narrowed in SQL, never per row)."""
    # The apps import this module for their rules: it reaches their models only when
    # asked, so portal never needs an app loaded before its own rules are.
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
        raise denied(perm)


# The permission to read each kind of record that pages address by id.
READ_PERMS = {"Service": "reviews.view_service", "Review": "reviews.view_review"}


def require_object(user: Any, perm: str, obj: Any) -> None:
    """Like ``require``, for one record a page named by its id or slug.

    Someone who may not even read the record gets 404, exactly as for one that does not
    exist, so ids cannot be probed; someone who reads it but may not do ``perm`` gets 403.
    """
    read = READ_PERMS[type(obj).__name__]
    if not can(user, read, obj):
        audit_events.hidden_refusal(reason=DENIALS.get(read, "Not theirs to read."))
        raise Http404("No such page.")
    require(user, perm, obj)


# --- The shared record: timelines and exports (portal/audit) ------------------------------
# A record's timeline is for whoever may read the record it belongs to: its root (its
# service, its checklist) names the permission that reads it (``reads`` in its
# registration, portal.audit.registry); people, teams, security events and anything
# without a root are for auditors. The whole record leaves the portal only with an
# auditor; managers and product leads export the lines of the services they may read.


@predicate
def reads_root(user: Any, root: Any) -> bool:
    """Whether ``user`` reads the lines rooted at ``root`` (a service, a checklist)."""
    if root is None:
        return False
    perm = audit_registry.reader(root._meta.label_lower)
    return perm is not None and can(user, perm, root)


add_perm("audit.view_timeline", is_auditor | reads_root)
add_perm("audit.export_record", is_auditor)
add_perm("audit.export_portfolio", is_auditor | is_manager | is_product_lead)
DENIALS.update(
    {
        "audit.view_timeline": "The record of people, teams and security events is for auditors.",
        "audit.export_record": "Only auditors export the whole record.",
        "audit.export_portfolio": "Managers, product leads and auditors export the record of "
        "the services they may read.",
    }
)
