"""Signal receivers that turn sign-in, MFA, role and team changes, and changes to the
platform connections' API credentials, into audit events."""

from __future__ import annotations

from typing import Any

from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from simple_history.models import HistoricalRecords

from portal.accounts.models import Team, User
from portal.accounts.roles import Role, role_for_group_name
from portal.audit.events import record
from portal.audit.models import AuditKind
from reviews.models import PlatformConnection


def _current_request() -> HttpRequest | None:
    # simple_history's middleware keeps the request at hand for the history it writes;
    # role and team changes made in the admin are attributed through the same request.
    return getattr(HistoricalRecords.context, "request", None)


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


@receiver(pre_save, sender=User)
def _remember_staff_flag(
    sender: Any, instance: User, update_fields: Any = None, **kwargs: Any
) -> None:
    if update_fields is not None and "is_staff" not in update_fields:
        instance._was_staff = instance.is_staff  # type: ignore[attr-defined]
    elif instance.pk is None:
        instance._was_staff = False
    else:
        previous = User.objects.filter(pk=instance.pk).values_list("is_staff", flat=True).first()
        instance._was_staff = bool(previous)  # type: ignore[attr-defined]


@receiver(post_save, sender=User)
def _staff_flag_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    was = getattr(instance, "_was_staff", instance.is_staff)
    if was != instance.is_staff:
        record(
            AuditKind.ROLE_GRANTED if instance.is_staff else AuditKind.ROLE_REVOKED,
            request=_current_request(),
            subject=instance,
            role=Role.ADMIN.value,
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
