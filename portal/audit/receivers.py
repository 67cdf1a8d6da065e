"""Signal receivers: the one cross-cutting mechanism that fills the shared record.

Every history row of a followed model is attributed (request id, address; who and why
when a third-party view or a cascade wrote it) and becomes a line of the record; a save
that changes nothing the history records writes no row. Sign-in, MFA,
account, role and team changes, administrator activity and the platform connections'
API credentials become audit events.

18F's "What to log" (the built-in *18F Logging requirements* checklist) is the
specification. Each of its items, and where Preflight records it (or why it does not):

- Successful and unsuccessful account logon events: ``login_succeeded``,
  ``login_failed``, ``login_throttled``, ``logout`` and ``mfa_failed``, for passwords and
  single sign-on alike (allauth's and Django's signals, below).
- Account management events: ``account_created``; ``password_changed`` and
  ``password_set`` from any path (allauth's pages, a reset link, the admin, a command:
  the user's save, below); email addresses ``email_added``, ``email_removed``,
  ``email_confirmed``, ``email_changed``; single sign-on ``sso_linked``/``sso_unlinked``;
  MFA ``mfa_enrolled``, ``mfa_removed``, ``mfa_reset``; personal API tokens and CI tokens
  created and revoked are the history rows of ``ApiToken`` and ``ServiceToken`` (never
  their hashes); an admin's changes to a person are the person's history rows.
- Object access (reading records or files on disk): ``file_downloaded`` for an evidence
  file. Reading a page is a line of the request log (``portal.logs``: who, path, status,
  request id), not an event: one per page view would bury the record.
- Policy change: the security policy's history (``SecurityPolicy``), the platform
  connections' (``connection_saved``/``connection_deleted`` and their history), and the
  checklists' (a published checklist version is the policy a review is held to).
- Privilege functions: roles granted and revoked (``role_granted``/``role_revoked``,
  groups and the staff flag, from either side of the relation), team membership
  (``team_member_added``/``team_member_removed``), and the memberships a deleted group
  or team ends.
- Process tracking: every background task writes with a request id of its own
  (``task-<id>``, ``portal.celery``) and a reason; each sweep is a ``CheckRun`` row.
- System events: start-up, migrations, crashes and health are in the logs
  (``portal.logs``, Django's error log, ``/readyz``); they change no record, so they are
  not events of the shared record.
- All administrator activity: a change in the Django admin to a followed model is its
  history row, attributed to the admin, with "... in the administration" as its reason;
  to any other model (groups, email addresses, authenticators, SSO apps, beat
  schedules), an ``admin_action`` event from Django's own admin log (below). Admins'
  work in the portal itself is history like anyone's.
- Authentication checks: the logon events above and the MFA challenge; a refused API
  token is a 401 in the request log.
- Authorization checks: every refused request is ``access_denied`` (who, path, method,
  the refusal in words; ``portal.errors``), including another team's record answered
  as "not found" (``portal.permissions.require_object``) and a refused form token.
  Visitors who are not signed in are sent to sign in before any rule is asked, so they
  are not refusals.
- Data deletions: the ``-`` history row of any followed record, however it goes (a
  service, the admin, a cascade: ``portal.audit.history.acting``), attributed; nothing
  deletes history, and people are deactivated rather than deleted.
- Data access: every export is ``exported`` (``portal.audit.events.exported``: the
  portfolio CSV, the record's feed exports, audit packs), with its filters.
- Data changes: every followed model's history, one row per changed record (a save that
  changes nothing writes none, below), with who, why, the request and the address.
- Permission changes: the role and team events above; the rules themselves are code.
- Do not log sensitive information: passwords, token hashes, connection secrets,
  ``last_login`` and ``last_used_at`` are left out of history; events carry no secrets,
  and a refused address is cut at 300 characters.
- Events are traceable back to the user that performed them: every row and event
  keeps the user's id and their email as it was, the request id and the address.
- Timestamps are standardized in UTC: stored as UTC (``USE_TZ``), logged in UTC.
- The right logging is done in production: JSON log lines by default (``LOG_FORMAT``),
  and the shared record is the same in every environment.
- Logs are captured to durable storage before rotation: the shared record lives in the
  database, kept forever (nothing deletes it; see tests/test_record_bulk_paths.py).
- Logs with sensitive data are only available to appropriate people: the record's pages
  are for auditors (``audit.view_activity``), its admin pages are read-only, exports are
  limited as ``portal.permissions`` says.
- Logs can be browsed/drilled with low-latency: the activity feed and each record's
  timeline, filtered and paged in SQL on the record's indexes.
"""

from __future__ import annotations

from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from allauth.socialaccount import signals as social_signals
from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import signals as auth_signals
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from simple_history.models import HistoricalRecords
from simple_history.signals import (
    post_create_historical_record,
    pre_create_historical_record,
)

from portal.accounts.models import Team, User
from portal.accounts.roles import Role, role_for_group_name
from portal.audit import ledger
from portal.audit.events import record
from portal.audit.history import acting_now
from portal.audit.models import AuditKind
from portal.logs import current_request_id
from reviews.models import PlatformConnection


def _current_request() -> HttpRequest | None:
    # simple_history's middleware keeps the request at hand for the history it writes;
    # role and team changes made in the admin are attributed through the same request.
    return getattr(HistoricalRecords.context, "request", None)


# Why a row was written, for the views that write followed records but are not ours to
# give a reason: the Django admin (by the kind of change) and allauth's account pages.
_ADMIN_REASONS = {
    "+": "Added in the administration",
    "~": "Changed in the administration",
    "-": "Deleted in the administration",
}
_ACCOUNT_REASONS = {
    "account_signup": "Signed up",
    "account_email": "Email addresses changed",
    "account_confirm_email": "Email address confirmed",
    "account_change_password": "Password changed",
    "account_set_password": "Password set",
    "account_reset_password_from_key": "Password reset by an email link",
    "socialaccount_signup": "Signed up with single sign-on",
    "openid_connect_callback": "Signed in with single sign-on",
}


def _view_reason(request: HttpRequest | None, history_type: str) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    if "admin" in match.app_names:
        return _ADMIN_REASONS.get(history_type, "")
    return _ACCOUNT_REASONS.get(match.url_name or "", "")


@receiver(pre_create_historical_record)
def _attribute(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """Stamp the request (or task) and, for web changes, the address on the row; name
    who and why when the write did not (a cascade, the admin, allauth)."""
    if not hasattr(history_instance, "history_request_id"):
        return
    request = _current_request()
    history_instance.history_request_id = current_request_id() or ""
    history_instance.history_ip_address = ledger.client_ip(request)
    acting = acting_now()
    if acting is not None and history_instance.history_user_id is None:
        history_instance.history_user = acting.by
    if not history_instance.history_change_reason:
        history_instance.history_change_reason = (
            acting.reason if acting is not None else ""
        ) or _view_reason(request, history_instance.history_type)


_SKIPPED = "_audit_skipped_history"


def _unchanged(sender: Any, instance: Any, update_fields: Any) -> bool:
    """Whether saving ``instance`` leaves every field its history records as stored."""
    fields = [
        f
        for f in sender.history.model.tracked_fields
        if not f.primary_key
        and (update_fields is None or f.name in update_fields or f.attname in update_fields)
    ]
    if not fields:  # only fields left out of history: last_login, a password hash
        return True
    stored = (
        sender._base_manager.filter(pk=instance.pk).values(*(f.attname for f in fields)).first()
    )
    if stored is None:
        return False
    return all(
        _comparable(f, stored[f.attname]) == _comparable(f, getattr(instance, f.attname))
        for f in fields
    )


def _comparable(field: Any, value: Any) -> Any:
    # A file compares by its stored name (the instance holds a FieldFile).
    return getattr(value, "name", value) if isinstance(field, models.FileField) else value


@receiver(pre_save)
def _history_only_for_changes(
    sender: Any, instance: Any, update_fields: Any = None, raw: bool = False, **kwargs: Any
) -> None:
    """A history row means something changed: a save that leaves every recorded field as
    it was (``last_login`` at sign-in, a new password hash, a form sent back unchanged)
    writes none. One read of the stored row per save of an existing followed record."""
    if raw or not hasattr(sender._meta, "simple_history_manager_attribute"):
        return
    _history_back_on(instance)  # a save that failed last time may have left it off
    if instance._state.adding or instance.pk is None:
        return
    if getattr(instance, "skip_history_when_saving", False):
        return  # the caller already decided (see reviews.services.review_content_changed)
    if _unchanged(sender, instance, update_fields):
        instance.skip_history_when_saving = True
        setattr(instance, _SKIPPED, True)


def _history_back_on(instance: Any) -> None:
    if getattr(instance, _SKIPPED, False):
        delattr(instance, _SKIPPED)
        del instance.skip_history_when_saving


@receiver(post_save)
def _history_on_again(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Connected after simple-history's own post_save (apps load before this module).
    _history_back_on(instance)


@receiver(post_create_historical_record)
def _to_the_record(sender: Any, instance: Any, history_instance: Any, **kwargs: Any) -> None:
    ledger.from_history(instance, history_instance)
    # A reason is for one change: left on the object, it would explain the next one too
    # (a draft made "Draft from v1" and then deleted).
    instance.__dict__.pop("_change_reason", None)
    instance.__dict__.pop("_history_user", None)


@receiver(auth_signals.user_logged_in)
def _logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    record(AuditKind.LOGIN_SUCCEEDED, request=request, actor=user, subject=user)


@receiver(auth_signals.user_login_failed)
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    attempted = str(credentials.get("email") or credentials.get("username") or "")[:254]
    subject = User.objects.filter(email__iexact=attempted).first() if attempted else None
    record(
        AuditKind.LOGIN_FAILED,
        request=request,
        subject=subject,
        subject_label=attempted,
        attempted_username=attempted,
    )


@receiver(auth_signals.user_logged_out)
def _logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        record(AuditKind.LOGOUT, request=request, actor=user, subject=user)


def _mfa_event(kind: AuditKind) -> Any:
    def handler(
        sender: Any, request: HttpRequest, user: User, authenticator: Any = None, **kwargs: Any
    ) -> None:
        record(
            kind,
            request=request,
            actor=user,
            subject=user,
            authenticator=getattr(authenticator, "type", None),
        )

    return handler


_on_mfa_added = _mfa_event(AuditKind.MFA_ENROLLED)
_on_mfa_removed = _mfa_event(AuditKind.MFA_REMOVED)
_on_mfa_reset = _mfa_event(AuditKind.MFA_RESET)
_on_mfa_failed = _mfa_event(AuditKind.MFA_FAILED)
mfa_signals.authenticator_added.connect(_on_mfa_added, dispatch_uid="audit_mfa_added")
mfa_signals.authenticator_removed.connect(_on_mfa_removed, dispatch_uid="audit_mfa_removed")
mfa_signals.authenticator_reset.connect(_on_mfa_reset, dispatch_uid="audit_mfa_reset")
mfa_signals.authentication_failed.connect(_on_mfa_failed, dispatch_uid="audit_mfa_failed")


def _membership_changes(
    *,
    instance: Any,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    forward: str,
    backward: str,
    other: type[Any],
) -> tuple[bool, list[tuple[Any, Any]]] | None:
    """What a many-to-many change did, as (added?, [(owner, member), ...]).

    ``forward`` names the relation from the owning side (user.groups, team.members) and
    ``backward`` the reverse one; the change may have been made from either side.
    """
    if action == "pre_clear":
        # Record what a clear() removes before it is gone.
        if reverse:
            return False, [
                (other_side, instance) for other_side in getattr(instance, backward).all()
            ]
        return False, [(instance, member) for member in getattr(instance, forward).all()]
    if action not in ("post_add", "post_remove") or not pk_set:
        return None
    others = list(other.objects.filter(pk__in=pk_set))
    pairs = [(o, instance) for o in others] if reverse else [(instance, o) for o in others]
    return action == "post_add", pairs


@receiver(m2m_changed, sender=User.groups.through)
def _groups_changed(sender: Any, instance: Any, reverse: bool, **kwargs: Any) -> None:
    change = _membership_changes(
        instance=instance,
        action=kwargs["action"],
        reverse=reverse,
        pk_set=kwargs["pk_set"],
        forward="groups",
        backward="user_set",
        other=User if reverse else Group,
    )
    if change is None:
        return
    added, pairs = change
    request = _current_request()
    for user, group in pairs:
        role = role_for_group_name(group.name)
        record(
            AuditKind.ROLE_GRANTED if added else AuditKind.ROLE_REVOKED,
            request=request,
            subject=user,
            role=role.value if role else None,
            group=group.name,
        )


@receiver(m2m_changed, sender=Team.members.through)
def _team_members_changed(sender: Any, instance: Any, reverse: bool, **kwargs: Any) -> None:
    change = _membership_changes(
        instance=instance,
        action=kwargs["action"],
        reverse=reverse,
        pk_set=kwargs["pk_set"],
        forward="members",
        backward="teams",
        other=Team if reverse else User,
    )
    if change is None:
        return
    added, pairs = change
    request = _current_request()
    for team, user in pairs:
        record(
            AuditKind.TEAM_MEMBER_ADDED if added else AuditKind.TEAM_MEMBER_REMOVED,
            request=request,
            subject=user,
            team=team.slug,
            team_name=team.name,
        )


_USER_BEFORE = "_audit_before"


@receiver(pre_save, sender=User)
def _remember_staff_flag_and_password(
    sender: Any, instance: User, update_fields: Any = None, **kwargs: Any
) -> None:
    """What a save may change that is an event of its own: the staff flag (the admin
    role) and the password (that it changed, never the hash), from any path: allauth's
    pages, the admin's, ``manage.py changepassword``."""
    before = {"is_staff": instance.is_staff, "password": instance.password}
    if instance.pk is None:
        before["is_staff"] = False
    elif update_fields is None or {"is_staff", "password"} & set(update_fields):
        stored = User.objects.filter(pk=instance.pk).values("is_staff", "password").first()
        before.update(stored or {})
    setattr(instance, _USER_BEFORE, before)


@receiver(post_save, sender=User)
def _staff_flag_or_password_changed(
    sender: Any, instance: User, created: bool, **kwargs: Any
) -> None:
    request = _current_request()
    before = getattr(instance, _USER_BEFORE, {})
    if before.get("is_staff", instance.is_staff) != instance.is_staff:
        record(
            AuditKind.ROLE_GRANTED if instance.is_staff else AuditKind.ROLE_REVOKED,
            request=request,
            subject=instance,
            role=Role.ADMIN.value,
        )
    password_was = before.get("password", instance.password)
    # An account saved without any password yet ("") is still being made: its first
    # password is part of making it, not an event of its own.
    if not created and password_was and password_was != instance.password:
        first = password_was.startswith(UNUSABLE_PASSWORD_PREFIX)
        # set_password() keeps the new password at hand until the save is done; Django's
        # own upgrade of a hash at sign-in does not: that is not a change of password.
        rehashed = getattr(instance, "_password", None) is None and not first
        if not rehashed or not instance.has_usable_password():
            record(
                AuditKind.PASSWORD_SET if first else AuditKind.PASSWORD_CHANGED,
                request=request,
                subject=instance,
                how=_view_reason(request, "~") or "outside the web pages",
                usable=instance.has_usable_password(),
            )
    instance.forget_roles()


@receiver(pre_save, sender=PlatformConnection)
def _remember_secret(sender: Any, instance: PlatformConnection, **kwargs: Any) -> None:
    previous = (
        PlatformConnection.objects.filter(pk=instance.pk)
        .values_list("secret_ciphertext", flat=True)
        .first()
    )
    instance._secret_changed = previous != instance.secret_ciphertext  # type: ignore[attr-defined]


def _connection_details(connection: PlatformConnection) -> dict[str, Any]:
    return {
        "platform": connection.kind,
        "name": connection.name,
        "team": connection.team.slug if connection.team else None,
        "api_url": connection.api_url,
        "enabled": connection.enabled,
    }


@receiver(post_save, sender=PlatformConnection)
def _connection_saved(
    sender: Any, instance: PlatformConnection, created: bool, **kwargs: Any
) -> None:
    record(
        AuditKind.CONNECTION_SAVED,
        request=_current_request(),
        subject_label=str(instance),
        created=created,
        secret_changed=bool(getattr(instance, "_secret_changed", created)),
        **_connection_details(instance),
    )


@receiver(post_delete, sender=PlatformConnection)
def _connection_deleted(sender: Any, instance: PlatformConnection, **kwargs: Any) -> None:
    record(
        AuditKind.CONNECTION_DELETED,
        request=_current_request(),
        subject_label=str(instance),
        **_connection_details(instance),
    )


# --- account management (allauth) ------------------------------------------------------------


@receiver(account_signals.user_signed_up)
def _signed_up(
    sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any
) -> None:
    # Passwords: see _staff_flag_or_password_changed (every path, not only allauth's).
    record(AuditKind.ACCOUNT_CREATED, request=request, actor=user, subject=user)


def _email_event(kind: AuditKind) -> Any:
    def handler(
        sender: Any,
        request: HttpRequest | None = None,
        user: Any = None,
        email_address: Any = None,
        **kwargs: Any,
    ) -> None:
        user = user or getattr(email_address, "user", None)
        record(
            kind,
            request=request,
            subject=user,
            email=str(getattr(email_address, "email", "") or ""),
        )

    return handler


_on_email_added = _email_event(AuditKind.EMAIL_ADDED)
_on_email_removed = _email_event(AuditKind.EMAIL_REMOVED)
_on_email_confirmed = _email_event(AuditKind.EMAIL_CONFIRMED)
account_signals.email_added.connect(_on_email_added, dispatch_uid="audit_email_added")
account_signals.email_removed.connect(_on_email_removed, dispatch_uid="audit_email_removed")
account_signals.email_confirmed.connect(_on_email_confirmed, dispatch_uid="audit_email_confirmed")


@receiver(account_signals.email_changed)
def _email_changed(
    sender: Any,
    request: HttpRequest | None = None,
    user: Any = None,
    from_email_address: Any = None,
    to_email_address: Any = None,
    **kwargs: Any,
) -> None:
    record(
        AuditKind.EMAIL_CHANGED,
        request=request,
        subject=user,
        previous=str(getattr(from_email_address, "email", "") or ""),
        email=str(getattr(to_email_address, "email", "") or ""),
    )


@receiver(social_signals.social_account_added)
def _sso_linked(sender: Any, request: HttpRequest, sociallogin: Any, **kwargs: Any) -> None:
    account = sociallogin.account
    record(
        AuditKind.SSO_LINKED,
        request=request,
        subject=sociallogin.user,
        provider=str(account.provider),
        uid=str(account.uid)[:200],
    )


@receiver(social_signals.social_account_removed)
def _sso_unlinked(sender: Any, request: HttpRequest, socialaccount: Any, **kwargs: Any) -> None:
    record(
        AuditKind.SSO_UNLINKED,
        request=request,
        subject=socialaccount.user,
        provider=str(socialaccount.provider),
        uid=str(socialaccount.uid)[:200],
    )


# --- administrator activity (the Django admin's own log) --------------------------------------

_ADMIN_ACTIONS = {ADDITION: "added", CHANGE: "changed"}


def _followed(model: Any) -> bool:
    # The apps register in the record after this module loads; history is the same test.
    return hasattr(model._meta, "simple_history_manager_attribute")


@receiver(post_save, sender=LogEntry)
def _admin_action(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """A record added or changed in the Django admin, of a model the record does not
    follow (groups, email addresses, authenticators, SSO apps, beat schedules); a
    followed model's change is its own history row, attributed to the admin. Deletions:
    ``_admin_deleted`` (the admin logs a bulk deletion without saving each entry)."""
    if not created or instance.action_flag not in _ADMIN_ACTIONS:
        return
    model = None
    if instance.content_type_id:
        model = ContentType.objects.get_for_id(instance.content_type_id).model_class()
    if model is not None and _followed(model):
        return
    record(
        AuditKind.ADMIN_ACTION,
        request=_current_request(),
        actor=instance.user,
        subject_label=instance.object_repr[:254],
        action=_ADMIN_ACTIONS[instance.action_flag],
        record_type=model._meta.label_lower if model is not None else "",
        record_id=str(instance.object_id or "")[:64],
        message=str(instance.get_change_message())[:500],
    )


def _in_the_admin(request: HttpRequest | None) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and "admin" in match.app_names


def _admin_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    request = _current_request()
    if not _in_the_admin(request):
        return  # deleted by the portal itself: its own events say so (MFA, email...)
    record(
        AuditKind.ADMIN_ACTION,
        request=request,
        subject_label=str(instance)[:254],
        action="deleted",
        record_type=sender._meta.label_lower,
        record_id=str(instance.pk)[:64],
        message="",
    )


def _connect_admin_deletions() -> None:
    """Each unfollowed model in the admin records its deletions there (connected model
    by model: a receiver for every model would stop Django's fast cascades)."""
    admin.autodiscover()  # already done when django.contrib.admin loads first
    for model in admin.site._registry:
        if not _followed(model):
            post_delete.connect(
                _admin_deleted, sender=model, dispatch_uid=f"audit_admin_deleted_{model}"
            )


_connect_admin_deletions()


# --- memberships a deletion ends -----------------------------------------------------------------
# Deleting a group or a team removes its memberships without a many-to-many signal.


@receiver(pre_delete, sender=Group)
def _group_deleted(sender: Any, instance: Group, **kwargs: Any) -> None:
    role = role_for_group_name(instance.name)
    request = _current_request()
    for user in instance.user_set.all():
        record(
            AuditKind.ROLE_REVOKED,
            request=request,
            subject=user,
            role=role.value if role else None,
            group=instance.name,
        )


@receiver(pre_delete, sender=Team)
def _team_deleted(sender: Any, instance: Team, **kwargs: Any) -> None:
    request = _current_request()
    for user in instance.members.all():
        record(
            AuditKind.TEAM_MEMBER_REMOVED,
            request=request,
            subject=user,
            team=instance.slug,
            team_name=instance.name,
        )
