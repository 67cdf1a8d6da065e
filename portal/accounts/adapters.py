"""How django-allauth fits Preflight: closed signup, mail through Celery, SSO roles."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest

from portal.accounts import services
from portal.accounts.tasks import enqueue_email
from portal.audit import events
from portal.audit.events import AuditKind


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.PREFLIGHT_ALLOW_SIGNUP)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Render now (the request is at hand), send from a worker after commit."""
        ctx: dict[str, Any] = {"email": email, "request": context.get("request")}
        ctx.update(context)
        message = self.render_mail(template_prefix, email, ctx)
        enqueue_email(message)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except Exception:
            events.record(
                AuditKind.LOGIN_THROTTLED,
                request=request,
                subject_label=str(credentials.get("email") or credentials.get("username") or ""),
            )
            raise


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # The identity provider decides who may sign in; first sign-in makes the account.
        return True

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        services.user_grant_roles_from_claims(
            user=user,
            claims=sso_claims(sociallogin.account.extra_data),
            reason="First single sign-on",
        )
        return user


def sso_claims(extra_data: dict[str, Any] | None) -> dict[str, Any]:
    """The claims about a person: the id_token's, overlaid by userinfo's.

    Some providers (Microsoft Entra ID, Okta's ID-token groups claim) put the groups
    only in the id_token, others only in userinfo.
    """
    data = extra_data or {}
    if "userinfo" not in data and "id_token" not in data:
        return dict(data)  # accounts saved before allauth 65.11 kept the claims flat
    return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}
