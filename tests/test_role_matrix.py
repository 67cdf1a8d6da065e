"""Every URL the project answers, for every role, read and written: the role matrix.

Each URL pattern (enumerated from the project's resolver, the API and the Django admin
included; see tests/record_writes.py) has a row in MATRIX saying what each role gets from
a GET and from a well-formed POST: the request of the URL's scenario in SCENARIOS, sent
by each role in turn, or an empty form where a URL has no scenario. A URL without a row
fails the test by name. The words:

- ``ok``: 2xx, or a 3xx that is not a sign-in page (the page itself, a form's redirect);
- ``login``: sent to sign in (a 302 to allauth's sign-in or the admin's), or a 401;
- ``reauth``: sent to confirm their password first (allauth's re-authentication);
- ``denied``: 403; ``hidden``: 404; ``405``: the method is not allowed;
- ``invalid``: 400, the form refuses what this person sends.

A cell where the portal is wrong today is in KNOWN_BUGS, with what it should say: it is
left out of the matrix's test and tried on its own, as an expected failure (strict, so a
fix is noticed).

Then the object level: every address that names a record of a team (a service, review,
answer, evidence, exception, CI token, launch audit, journal note) or a person's API
token, and every form field that names one, given another team's record by the person
the request is for: 404 (or the form's own refusal, for a field), and no row of any
table changes but the record of the refusal.

The world is built once per module, in a transaction rolled back at its end; each test
runs in a savepoint of it (pytest-django's ``db``), so no test sees another's writes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import resolve, reverse
from django.utils import timezone

from portal.accounts import services as account_services
from portal.accounts.models import SecurityPolicy, User
from portal.accounts.roles import Role
from tests.conftest import PASSWORD
from tests.factories import ReviewFactory, ServiceFactory, TeamFactory, UserFactory
from tests.record_writes import SCENARIOS, Attempt, Route, World, routes, signed_in
from tests.test_record_auditor_reads_only import Unchanged

ROLES = ("anonymous", "lead", "other_lead", "reviewer", "manager", "auditor", "admin")
WORDS = frozenset({"ok", "login", "reauth", "denied", "hidden", "405", "invalid"})
METHODS = ("GET", "POST")


# --- the world: two teams' records, built once per module ------------------------------------


@dataclass
class Records:
    """One of everything a team's addresses can name, all of one service."""

    team: Any
    service: Any
    review: Any
    answer: Any
    evidence: Any
    waiver: Any
    comment: Any
    token: Any
    api_token: Any  # the team's product lead's personal API token
    session: Any  # a launch audit recorded by the reviewer, with one decision
    note: Any  # a journal note by the team's product lead
    run: Any  # a check run of the service


@dataclass
class Built:
    cast: dict[str, Any]  # the roles' people, "root" (a superuser) and "nobody"
    sessions: dict[str, str]  # role -> a session key, signed in once for the module
    service: Any  # the Benefits portal and its draft review: what SCENARIOS start from
    review: Any
    answer: Any
    ours: Records  # the Benefits team's second service, for addresses of every kind
    theirs: Records  # the Permits team's service: "another team's" records
    signed: Any  # a Benefits review signed off by the reviewer
    admin_objects: dict[str, Any] = field(default_factory=dict)  # model label -> a record


MD5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _person(email: str, *roles: Role, team: Any = None, **fields: Any) -> Any:
    user = UserFactory(email=email, password=PASSWORD, **fields)
    account_services.user_set_roles(user=user, roles=roles, reason="test cast")
    if team is not None:
        account_services.team_add_members(team=team, users=[user])
    return user


def _records(team: Any, slug: str, lead: Any, reviewer: Any) -> Records:
    from portal.accounts.services import api_token_create
    from reviews import services, waivers
    from reviews.audits import services as audits
    from reviews.checks.services import token_create
    from reviews.evidence import evidence_add
    from reviews.models import AnswerStatus, CheckRun, CheckRunTrigger, EvidenceKind

    service = ServiceFactory(name=slug.replace("-", " ").title(), slug=slug, team=team)
    review = ReviewFactory(service=service, by=lead)
    answer = review.answers.get(item__text="Backups run")
    answer = services.answer_update(
        answer=answer,
        change=services.AnswerChange(AnswerStatus.NOT_MET, "Not yet.", "", None),
        based_on_revision=answer.revision,
        by=lead,
    )
    evidence = evidence_add(
        answer=answer,
        by=lead,
        kind=EvidenceKind.FILE,
        upload=SimpleUploadedFile("restore.txt", b"restored in 12 minutes\n"),
        effective_date=timezone.localdate(),
    )
    waiver = waivers.waiver_request(
        answer=answer,
        by=lead,
        rationale="Low risk",
        compensating_controls="Manual copies",
        expires_on=timezone.localdate() + timedelta(days=30),
    )
    comment = services.comment_add(answer=answer, by=reviewer, body="Which database?")
    token, _plain = token_create(service=service, name="CI", by=lead)
    api_token, _plain = api_token_create(user=lead, name="Weekly report")
    now = timezone.now()
    session = audits.audit_session_record(
        review=review,
        by=reviewer,
        details=audits.SessionDetails("Launch audit", now, now, (), "", ""),
        decisions=[audits.DecisionInput("noted", "Backups are fine.", None, None, False)],
    )
    note = audits.journal_note_add(service=service, by=lead, body="Restore drill in June.")
    run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=service)
    return Records(
        team,
        service,
        review,
        answer,
        evidence,
        waiver,
        comment,
        token,
        api_token,
        session,
        note,
        run,
    )


def _signed_review(team: Any, lead: Any, reviewer: Any) -> Any:
    from reviews import services, signoffs

    review = ReviewFactory(
        service=ServiceFactory(name="Benefits archive", slug="benefits-archive", team=team),
        by=lead,
    )
    for answer in review.answers.all():
        services.answer_update(
            answer=answer,
            change=services.AnswerChange("met", "", "", None),
            based_on_revision=answer.revision,
            by=lead,
        )
    review = services.review_transition(review=review, action="submit", by=lead)
    signoffs.signoff_record(
        review=review, by=reviewer, role=Role.SECURITY_REVIEWER, decision="approve"
    )
    return review


def _admin_objects(built: Built) -> dict[str, Any]:
    """A record for each model of the Django admin, for its change, delete and history pages."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    from portal.audit.models import AuditEvent
    from portal.outbox.models import OutboxTask
    from reviews.models import PlatformConnection, SignOff

    nobody, ours = built.cast["nobody"], built.ours
    app = SocialApp.objects.create(
        provider="openid_connect", provider_id="elsewhere", name="Elsewhere", client_id="c"
    )
    account = SocialAccount.objects.create(user=built.cast["other_lead"], provider="sso", uid="2")
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    # Not PagerDuty nor New Relic: the admin scenarios add those (one of a kind each).
    connection = PlatformConnection(
        kind="cloudfoundry", name="cloud.gov", api_url="https://api.fr.cloud.gov"
    )
    connection.set_secret("client:secret")
    connection.save()
    version = ours.review.checklist_version
    return {
        "auth.group": Group.objects.get(name=Role.PRODUCT_LEAD.group_name),
        "account.emailaddress": EmailAddress.objects.create(
            user=nobody, email=nobody.email, verified=True, primary=True
        ),
        "mfa.authenticator": Authenticator.objects.create(
            user=nobody, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "00", "used_mask": 0}
        ),
        "socialaccount.socialapp": app,
        "socialaccount.socialtoken": SocialToken.objects.create(
            app=app, account=account, token="t"
        ),
        "socialaccount.socialaccount": account,
        "django_celery_beat.periodictask": PeriodicTask.objects.create(
            name="Scratch", task="portal.tasks.nothing", interval=interval
        ),
        "django_celery_beat.clockedschedule": ClockedSchedule.objects.create(
            clocked_time=timezone.now()
        ),
        "django_celery_beat.crontabschedule": CrontabSchedule.objects.create(minute="7"),
        "django_celery_beat.solarschedule": SolarSchedule.objects.create(
            event="sunrise", latitude=38.9, longitude=-77.0
        ),
        "django_celery_beat.intervalschedule": interval,
        "audit.auditevent": AuditEvent.objects.order_by("id").first(),
        "outbox.outboxtask": OutboxTask.objects.create(
            task="outbox.relay", given_up_at=timezone.now()
        ),
        "accounts.user": nobody,
        "accounts.team": built.theirs.team,
        "accounts.securitypolicy": SecurityPolicy.current(),
        "checklists.checklist": version.checklist,
        "checklists.checklistversion": version,
        "checklists.section": version.sections.first(),
        "reviews.platformconnection": connection,
        "reviews.service": ours.service,
        "reviews.evidence": ours.evidence,
        "reviews.comment": ours.comment,
        "reviews.waiver": ours.waiver,
        "reviews.signoff": SignOff.objects.get(review=built.signed),
        "reviews.review": ours.review,
        "reviews.auditsession": ours.session,
        "reviews.journalnote": ours.note,
    }


def _build() -> Built:
    benefits = TeamFactory(name="Benefits Team", slug="benefits")
    permits = TeamFactory(name="Permits Team", slug="permits")
    cast = {
        "lead": _person("lead@example.com", Role.PRODUCT_LEAD, team=benefits),
        "other_lead": _person("other-lead@example.com", Role.PRODUCT_LEAD, team=permits),
        "reviewer": _person("security@example.com", Role.SECURITY_REVIEWER),
        "manager": _person("manager@example.com", Role.MANAGER),
        "auditor": _person("auditor@example.com", Role.AUDITOR),
        "admin": _person("admin@example.com", Role.ADMIN),
        "nobody": _person("nobody@example.com"),
        "root": UserFactory(email="root@example.com", is_staff=True, is_superuser=True),
    }
    SecurityPolicy.current()
    lead, reviewer = cast["lead"], cast["reviewer"]
    service = ServiceFactory(
        name="Benefits portal", slug="benefits-portal", team=benefits, created_by=lead
    )
    review = ReviewFactory(service=service, by=lead)
    built = Built(
        cast=cast,
        sessions={},
        service=service,
        review=review,
        answer=review.answers.get(item__text="Backups run"),
        ours=_records(benefits, "benefits-api", lead, reviewer),
        theirs=_records(permits, "permits-portal", cast["other_lead"], reviewer),
        signed=_signed_review(benefits, lead, reviewer),
    )
    built.admin_objects = _admin_objects(built)
    for role in ROLES[1:]:
        client = Client()
        client.force_login(cast[role])
        built.sessions[role] = client.session.session_key
    return built


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Built]:
    media = tmp_path_factory.mktemp("media")
    with override_settings(PASSWORD_HASHERS=MD5, MEDIA_ROOT=media):
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            try:
                world = _build()
            except BaseException:
                outer.__exit__(*sys.exc_info())
                raise
        try:
            yield world
        finally:
            with django_db_blocker.unblock():
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)


def make_world(built: Built, settings: Any) -> World:
    """SCENARIOS' world, fetched afresh (a scenario changes its records and people)."""
    fresh = User.objects.in_bulk([user.pk for user in built.cast.values()])
    cast = {name: fresh[user.pk] for name, user in built.cast.items()}
    return World(
        cast=cast,
        service=type(built.service).objects.get(pk=built.service.pk),
        review=type(built.review).objects.get(pk=built.review.pk),
        answer=type(built.answer).objects.select_related("item").get(pk=built.answer.pk),
        settings=settings,
    )


def client_as(built: Built, role: str) -> Client:
    """A client with the role's module-long session (none for the anonymous visitor)."""
    client = Client()
    if role != "anonymous":
        client.cookies[django_settings.SESSION_COOKIE_NAME] = built.sessions[role]
    return client


# --- addresses --------------------------------------------------------------------------------


def _admin_path(built: Built, route: Route) -> str:
    from tests.record_writes import admin_route_label

    key = route.key
    if key == "admin:view_on_site":
        service = built.ours.service
        kind = ContentType.objects.get_for_model(service)
        return f"/admin/r/{kind.pk}/{service.pk}/"
    if key == "admin:app_list":
        return "/admin/reviews/"
    if key == "admin/(?P<url>.*)$":
        return "/admin/nothing-here/"
    if key == "admin:auth_user_password_change":
        return f"/admin/accounts/user/{built.cast['nobody'].pk}/password/"
    found = admin_route_label(route)
    if found is None:
        return "/" + route.route
    label, action = found
    obj = built.admin_objects[label]
    app_label, model_name = label.split(".")
    base = f"/admin/{app_label}/{model_name}/"
    if action == "simple_history":
        first = type(obj).history.filter(**{type(obj)._meta.pk.attname: obj.pk}).earliest()
        return f"{base}{obj.pk}/history/{first.history_id}/"
    if action == "redirect":
        return f"{base}{obj.pk}/"
    return {
        "changelist": base,
        "add": f"{base}add/",
        "history": f"{base}{obj.pk}/history/",
        "delete": f"{base}{obj.pk}/delete/",
        "change": f"{base}{obj.pk}/change/",
    }[action]


# Addresses of routes whose arguments are not records of ours (allauth's keys, the API's
# catch-all).
FIXED = {
    "account_confirm_email": "/accounts/confirm-email/not-a-key/",
    "account_reset_password_from_key": "/accounts/password/reset/key/1-not-a-key/",
    "openid_connect_login": "/accounts/oidc/sso/login/",
    "openid_connect_callback": "/accounts/oidc/sso/login/callback/",
    "^api(?:/.*)?$": "/api/nothing-here",
}


# Which record of a team each argument of an address names: by its name, and for "pk"
# by where the address starts.
PK_RECORDS = (
    ("launch-audits/", "session"),
    ("journal/", "note"),
    ("me/api-tokens/", "api_token"),
    ("checks/runs/", "run"),
    ("services/", "token"),  # services/<slug>/tokens/<pk>/revoke/
    ("reviews/", "review"),
)
NAMED_RECORDS = {
    "answer_pk": "answer",
    "evidence_pk": "evidence",
    "waiver_pk": "waiver",
    "review_id": "review",
    "record_id": "review",  # audit:timeline, with record_type "reviews.review"
}


def record_kind(route: Route, name: str) -> str | None:
    """The kind of team record the argument ``name`` of ``route`` names (None: not one)."""
    if name == "slug":
        return None if route.route.startswith(("checklists/", "api/v1/checklists/")) else "service"
    if name == "pk":
        for start, kind in PK_RECORDS:
            if route.route.startswith(start):
                return kind
        raise AssertionError(f"{route.key}: which record is its <pk>? Say so in PK_RECORDS.")
    if name not in NAMED_RECORDS and name not in OTHER_ARGUMENTS:
        raise AssertionError(
            f"{route.key}: what does <{name}> name? Add it to NAMED_RECORDS (a team's "
            "record) or OTHER_ARGUMENTS."
        )
    return NAMED_RECORDS.get(name)


def record_value(records: Records, kind: str) -> Any:
    record = getattr(records, kind)
    return record.slug if kind == "service" else record.pk


# Arguments that name no team's record: what the addresses are given.
OTHER_ARGUMENTS: dict[str, Any] = {
    "slug": lambda records: records.review.checklist_version.checklist.slug,
    "number": lambda records: records.review.checklist_version.number,
    "record_type": lambda records: "reviews.review",
    "action": lambda records: "submit",
}


def _argument(records: Records, route: Route, name: str) -> Any:
    kind = record_kind(route, name)
    return OTHER_ARGUMENTS[name](records) if kind is None else record_value(records, kind)


def address(built: Built, route: Route) -> str:
    """A real address of ``route``, naming the Benefits team's records."""
    if route.key in FIXED:
        return FIXED[route.key]
    if route.route.startswith("admin/"):
        return _admin_path(built, route)
    if route.key == route.route:  # an unnamed route: allauth's old addresses
        return "/" + route.route
    if route.key == "reviews:review_changes_since_signoff":
        return reverse(route.key, args=[built.signed.pk])
    if route.key == "checklists:compare":
        slug = built.ours.review.checklist_version.checklist.slug
        return reverse(route.key, args=[slug]) + "?old=1&new=1"
    kwargs = {name: _argument(built.ours, route, name) for name in argument_names(route)}
    return reverse(route.key, kwargs=kwargs)


def argument_names(route: Route) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route.route)


LOGIN_PAGES = ("/accounts/login/", "/admin/login/")
REAUTHENTICATE = "/accounts/reauthenticate/"


def outcome(response: Any) -> str:
    """The word for a response (see the module's docstring)."""
    status = response.status_code
    if status == 401:
        return "login"
    if 300 <= status < 400:
        location = response["Location"]
        if location.startswith(LOGIN_PAGES):
            return "login"
        return "reauth" if location.startswith(REAUTHENTICATE) else "ok"
    if 200 <= status < 300:
        return "ok"
    return {400: "invalid", 403: "denied", 404: "hidden", 405: "405"}.get(status, str(status))


def _drained(response: Any) -> Any:
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    return response


# --- sending a request as a role ------------------------------------------------------------


def _reauthenticated(client: Client) -> bool:
    """Whether the scenario's client signed in with a password (and so may sign off)."""
    return "account_authentication_methods" in client.session


def client_for_attempt(built: Built, world: World, attempt: Attempt, role: str) -> Client:
    """Who sends the scenario's request as ``role``: the scenario's own client for the
    person it is written for; for anyone else, a client as like it as their role allows
    (signed in with a password too, where the scenario's was)."""
    if role == "anonymous":
        if attempt.who is None and attempt.client is not None:
            return attempt.client  # a visitor, a CI token: the scenario's own
        return Client()
    if role == attempt.who and attempt.client is not None:
        return attempt.client
    if attempt.who is not None and attempt.client is not None and _reauthenticated(attempt.client):
        return signed_in(world.cast[role].email)
    return client_as(built, role)


def send(client: Client, attempt: Attempt, path: str | None = None, data: Any = None) -> Any:
    options: dict[str, Any] = {}
    if attempt.content_type:
        options["content_type"] = attempt.content_type
    if attempt.headers:
        options["headers"] = attempt.headers
    body = attempt.data if data is None else data
    method = getattr(client, attempt.method)
    return _drained(method(path or attempt.path, {} if body is None else body, **options))


def request_as(built: Built, request: Any, route: Route, method: str, role: str) -> Any:
    """The route's GET, or its well-formed POST (its scenario's), sent as ``role``."""
    if method == "GET":
        return _drained(client_as(built, role).get(address(built, route)))
    if route.key not in SCENARIOS:
        return _drained(client_as(built, role).post(address(built, route), {}))
    world = make_world(built, request.getfixturevalue("settings"))
    attempt = SCENARIOS[route.key](world)
    return send(client_for_attempt(built, world, attempt, role), attempt)


# --- the matrix -------------------------------------------------------------------------------
# Each row: what GET and what the well-formed POST get, as seven words in ROLES' order:
#   anonymous, lead (the owning team's product lead), other_lead (another team's),
#   reviewer (security), manager, auditor, admin (staff, not a superuser).
# Besides the module docstring's words: "reauth" (sent to confirm their password first)
# and "invalid" (400: the form refuses it).

ANYONE = "ok ok ok ok ok ok ok"
NOT_ALLOWED = "405 405 405 405 405 405 405"
NOWHERE = "hidden hidden hidden hidden hidden hidden hidden"
SIGNED_IN = "login ok ok ok ok ok ok"
POST_ONLY = "login 405 405 405 405 405 405"  # after the sign-in check
# A team's records: its product leads, and reviewers, managers, auditors and admins, read
# them; to another team they do not exist.
READERS = "login ok hidden ok ok ok ok"
TEAM_ONLY = "login ok hidden denied denied denied denied"
SOCIAL = "login ok hidden ok ok denied denied"  # comments and journal notes
AUDITOR_ONLY = "login denied denied denied denied ok denied"
ADMIN_ONLY = "login denied denied denied denied denied ok"
REVIEWER_ONLY = "login denied hidden ok denied denied denied"
OWN_MFA_ONLY = "login hidden hidden hidden hidden hidden hidden"  # none of them has one
REAUTH_FIRST = "login reauth reauth reauth reauth reauth reauth"
NOT_STAFF = "login login login login login login"  # the Django admin sends them to sign in
DJANGO_ADMIN = f"{NOT_STAFF} ok"

MATRIX: dict[str, dict[str, str]] = {
    # Health, for load balancers and crawlers.
    "healthz": {"GET": ANYONE, "POST": NOT_ALLOWED},
    "readyz": {"GET": ANYONE, "POST": NOT_ALLOWED},
    "robots_txt": {"GET": ANYONE, "POST": NOT_ALLOWED},
    # The API: a session or a personal token reads as its person; 401 without either. Its
    # description (the OpenAPI document and its page) is public; the push takes a CI
    # token whoever else is signed in.
    "api:openapi-json": {"GET": ANYONE, "POST": ANYONE},
    "api:openapi-view": {"GET": ANYONE, "POST": ANYONE},
    "api:api-root": {"GET": NOWHERE, "POST": NOWHERE},
    "^api(?:/.*)?$": {"GET": NOWHERE, "POST": NOWHERE},
    "api:push_evidence": {"GET": NOT_ALLOWED, "POST": ANYONE},
    "api:services_list": {"GET": SIGNED_IN, "POST": NOT_ALLOWED},
    "api:service_detail": {"GET": READERS, "POST": NOT_ALLOWED},
    "api:review_detail": {"GET": READERS, "POST": NOT_ALLOWED},
    "api:portfolio": {"GET": SIGNED_IN, "POST": NOT_ALLOWED},
    "api:portfolio_readiness": {"GET": SIGNED_IN, "POST": NOT_ALLOWED},
    "api:service_readiness": {"GET": READERS, "POST": NOT_ALLOWED},
    "api:checklists_list": {"GET": SIGNED_IN, "POST": NOT_ALLOWED},
    "api:version_detail": {"GET": SIGNED_IN, "POST": NOT_ALLOWED},
    # Signing in and people's own accounts (allauth). Signed-in people are sent on from
    # the sign-in and sign-up pages; every POST here is the sender's own business.
    "account_login": {"GET": ANYONE, "POST": ANYONE},
    "account_logout": {"GET": SIGNED_IN, "POST": "login login login login login login login"},
    "account_inactive": {"GET": ANYONE, "POST": NOT_ALLOWED},
    "account_signup": {"GET": ANYONE, "POST": ANYONE},  # closed: a page that says so
    "account_reauthenticate": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "account_email": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "account_email_verification_sent": {"GET": ANYONE, "POST": NOT_ALLOWED},
    "account_change_password": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "account_set_password": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "account_reset_password": {"GET": ANYONE, "POST": ANYONE},
    "account_confirm_login_code": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    # The emailed key is the credential: whoever holds it confirms the address, and is
    # sent to sign in unless they are the address's owner.
    "account_confirm_email": {"GET": ANYONE, "POST": "login ok login login login login login"},
    "account_reset_password_from_key_done": {"GET": ANYONE, "POST": NOT_ALLOWED},
    "account_reset_password_from_key": {"GET": ANYONE, "POST": ANYONE},
    "account_reset_password_done": {"GET": ANYONE, "POST": NOT_ALLOWED},
    "mfa_index": {"GET": SIGNED_IN, "POST": POST_ONLY},
    "mfa_authenticate": {"GET": SIGNED_IN, "POST": REAUTH_FIRST},  # nobody is half-way in
    "mfa_reauthenticate": {"GET": REAUTH_FIRST, "POST": REAUTH_FIRST},  # no app: the password
    "mfa_activate_totp": {"GET": REAUTH_FIRST, "POST": SIGNED_IN},
    # Only the scenario's lead has an authenticator app to remove.
    "mfa_deactivate_totp": {
        "GET": OWN_MFA_ONLY,
        "POST": "login ok hidden hidden hidden hidden hidden",
    },
    "mfa_view_recovery_codes": {"GET": OWN_MFA_ONLY, "POST": POST_ONLY},
    "mfa_generate_recovery_codes": {"GET": REAUTH_FIRST, "POST": SIGNED_IN},
    "mfa_download_recovery_codes": {"GET": OWN_MFA_ONLY, "POST": OWN_MFA_ONLY},
    "socialaccount_login_cancelled": {"GET": ANYONE, "POST": NOT_ALLOWED},
    # allauth's "sign-in failed" page answers 401.
    "socialaccount_login_error": {
        "GET": "login login login login login login login",
        "POST": NOT_ALLOWED,
    },
    "socialaccount_signup": {  # no single sign-on half-way through: sent to sign in
        "GET": "login login login login login login login",
        "POST": "login login login login login login login",
    },
    "socialaccount_connections": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts/social/login/cancelled/": {"GET": ANYONE, "POST": ANYONE},  # old: redirected
    "accounts/social/login/error/": {"GET": ANYONE, "POST": ANYONE},
    "accounts/social/signup/": {"GET": ANYONE, "POST": ANYONE},
    "accounts/social/connections/": {"GET": ANYONE, "POST": ANYONE},
    "openid_connect_login": {"GET": NOWHERE, "POST": NOWHERE},  # no identity provider here
    "openid_connect_callback": {"GET": NOWHERE, "POST": NOWHERE},
    # The Django admin's own pages (its models' pages: ADMIN_MODELS below). It signs in
    # through allauth; signed-in people who are not staff are refused its sign-in page.
    "admin:index": {"GET": DJANGO_ADMIN, "POST": DJANGO_ADMIN},
    "admin:login": {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    # Django sends those who are not staff from its sign-out to its index (which sends
    # them to sign in); staff sign out with a POST.
    "admin:logout": {"GET": "ok ok ok ok ok ok 405", "POST": "ok ok ok ok ok ok login"},
    "admin:password_change": {"GET": DJANGO_ADMIN, "POST": DJANGO_ADMIN},
    "admin:password_change_done": {
        "GET": DJANGO_ADMIN,
        "POST": "login login login login login login 405",
    },
    "admin:autocomplete": {  # asked without a field to complete
        "GET": "login login login login login login denied",
        "POST": "login login login login login login 405",
    },
    "admin:jsi18n": {"GET": DJANGO_ADMIN, "POST": "login login login login login login 405"},
    "admin:view_on_site": {"GET": DJANGO_ADMIN, "POST": DJANGO_ADMIN},
    "admin:app_list": {"GET": DJANGO_ADMIN, "POST": DJANGO_ADMIN},
    "admin/(?P<url>.*)$": {  # an address the admin does not have
        "GET": "login login login login login login hidden",
        "POST": "login login login login login login hidden",
    },
    # Admins set people's passwords in the Django admin (see ADMIN_MODELS).
    "admin:auth_user_password_change": {
        "GET": "login login login login login login ok",
        "POST": "login login login login login login ok",
    },
    # The checklist library: everyone signed in reads it, admins manage it.
    "checklists:library": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "checklists:import": {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "checklists:checklist": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "checklists:compare": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "checklists:version": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "checklists:publish": {
        "GET": "login denied denied denied denied denied 405",
        "POST": ADMIN_ONLY,
    },
    "checklists:new_draft": {
        "GET": "login denied denied denied denied denied 405",
        "POST": ADMIN_ONLY,
    },
    # The shared record.
    "audit:activity": {"GET": AUDITOR_ONLY, "POST": NOT_ALLOWED},
    "audit:export_csv": {"GET": AUDITOR_ONLY, "POST": NOT_ALLOWED},
    "audit:export_json": {"GET": AUDITOR_ONLY, "POST": NOT_ALLOWED},
    # The record of the services one reads: product leads, managers and auditors.
    "audit:portfolio_csv": {"GET": "login ok ok denied ok ok denied", "POST": NOT_ALLOWED},
    "audit:portfolio_json": {"GET": "login ok ok denied ok ok denied", "POST": NOT_ALLOWED},
    "audit:timeline": {"GET": READERS, "POST": NOT_ALLOWED},
    "audit:verify": {
        "GET": "login denied denied denied denied ok ok",
        "POST": "login denied denied denied denied ok ok",
    },
    # Services and reviews.
    "reviews:services": {"GET": SIGNED_IN, "POST": SIGNED_IN},  # sent on to the portfolio
    # Another team's lead may add services, but not to the Benefits team: the form refuses.
    "reviews:service_create": {
        "GET": "login ok ok denied denied denied denied",
        "POST": "login ok invalid denied denied denied denied",
    },
    "reviews:service": {"GET": READERS, "POST": READERS},
    "reviews:service_edit": {"GET": TEAM_ONLY, "POST": TEAM_ONLY},
    "reviews:review_start": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:review": {"GET": READERS, "POST": READERS},
    "reviews:item": {"GET": READERS, "POST": POST_ONLY},
    "reviews:answer": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:answer_mark_met": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:evidence_add": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:evidence_withdraw": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:evidence_file": {"GET": READERS, "POST": READERS},
    "reviews:comment_add": {"GET": POST_ONLY, "POST": SOCIAL},
    "reviews:waiver_request": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:waiver_decide": {"GET": POST_ONLY, "POST": "login denied hidden ok ok denied denied"},
    # The address's review is a draft: the reviewer is sent to the review.
    "reviews:signoff": {"GET": REVIEWER_ONLY, "POST": REVIEWER_ONLY},
    "reviews:review_as_of": {"GET": READERS, "POST": POST_ONLY},
    "reviews:audit_pack": {"GET": READERS, "POST": POST_ONLY},
    "reviews:review_changes_since_signoff": {"GET": READERS, "POST": POST_ONLY},
    # Launch audits: recorded by security reviewers and managers, edited by who recorded
    # them (the address's was recorded by the reviewer).
    "reviews:audit_session_create": {
        "GET": "login denied hidden ok ok denied denied",
        "POST": "login denied hidden ok ok denied denied",
    },
    "reviews:audit_session": {"GET": READERS, "POST": READERS},
    "reviews:audit_session_edit": {"GET": REVIEWER_ONLY, "POST": REVIEWER_ONLY},
    "reviews:journal": {"GET": READERS, "POST": SOCIAL},
    "reviews:journal_note_edit": {"GET": TEAM_ONLY, "POST": TEAM_ONLY},  # the lead's note
    "reviews:review_action": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:queue": {
        "GET": "login denied denied ok denied denied denied",
        "POST": "login denied denied 405 denied denied denied",
    },
    # Automated evidence: a run of a service's checks is read as the service is.
    "reviews:check_catalogue": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "reviews:check_runs": {
        "GET": "login denied denied ok ok ok ok",
        "POST": "login denied denied ok ok ok ok",
    },
    "reviews:check_run": {"GET": READERS, "POST": READERS},
    "reviews:check_now": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    "reviews:token_create": {"GET": POST_ONLY, "POST": TEAM_ONLY},
    # A leaked token must be stoppable without its team: admins revoke any.
    "reviews:token_revoke": {"GET": POST_ONLY, "POST": "login ok hidden denied denied denied ok"},
    # The portfolio: product leads see their teams' services in it.
    "reviews:portfolio": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "reviews:portfolio_heat_map": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "reviews:portfolio_trends": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "reviews:portfolio_csv": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "reviews:portfolio_report": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    # People's own pages.
    "accounts:home": {"GET": SIGNED_IN, "POST": SIGNED_IN},  # sent to their role's page
    "accounts:administration": {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY},
    "accounts:profile": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts:api_token_create": {"GET": POST_ONLY, "POST": SIGNED_IN},
    # One's own tokens only: someone else's does not exist for them.
    "accounts:api_token_revoke": {
        "GET": POST_ONLY,
        "POST": "login ok hidden hidden hidden hidden hidden",
    },
}

# --- the Django admin's model pages ----------------------------------------------------------
# Everyone but staff is sent to its sign-in. What the admin role (staff, not a superuser)
# gets depends on the model: portal.permissions answers for the portal's own models and
# for the pages the Administration page links to; the rest need Django permissions,
# which only superusers hold.
#   "none": no page of it; "reads": its list, history and (read-only) change pages;
#   "runs": all but deleting; "keeps": changing only; "manages": every page.
ADMIN_MODELS: dict[str, str] = {
    "auth.group": "none",
    "account.emailaddress": "none",
    "mfa.authenticator": "none",
    "socialaccount.socialapp": "none",
    "socialaccount.socialtoken": "none",
    "socialaccount.socialaccount": "none",
    "django_celery_beat.periodictask": "keeps",
    "django_celery_beat.clockedschedule": "none",
    "django_celery_beat.crontabschedule": "none",
    "django_celery_beat.solarschedule": "none",
    "django_celery_beat.intervalschedule": "none",
    "audit.auditevent": "reads",
    "outbox.outboxtask": "keeps",  # seen, and a set-aside task tried again
    "accounts.user": "runs",
    "accounts.team": "runs",
    "accounts.securitypolicy": "keeps",
    "checklists.checklist": "none",  # managed in the portal's checklist pages
    "checklists.checklistversion": "none",
    "checklists.section": "none",
    "reviews.platformconnection": "manages",
    "reviews.service": "reads",
    "reviews.evidence": "none",
    "reviews.comment": "none",
    "reviews.waiver": "none",
    "reviews.signoff": "none",
    "reviews.review": "reads",
    "reviews.auditsession": "reads",
    "reviews.journalnote": "reads",
}
# The admin's (GET, POST) of each page of a model, by its access. "redirect" is the
# model's old change address, sent on to the new one.
ADMIN_ACCESS: dict[str, dict[str, tuple[str, str]]] = {
    "none": {
        "changelist": ("denied", "denied"),
        "add": ("denied", "denied"),
        "change": ("denied", "denied"),
        "delete": ("denied", "denied"),
        "history": ("denied", "denied"),
        "simple_history": ("denied", "denied"),
        "redirect": ("ok", "ok"),
    },
    "reads": {
        "changelist": ("ok", "ok"),  # a POST without an action shows the list again
        "add": ("denied", "denied"),
        "change": ("ok", "denied"),
        "delete": ("denied", "denied"),
        "history": ("ok", "ok"),
        "simple_history": ("ok", "denied"),  # an old version shown, never reverted to
        "redirect": ("ok", "ok"),
    },
    "manages": dict.fromkeys(
        ("changelist", "add", "change", "delete", "history", "simple_history", "redirect"),
        ("ok", "ok"),
    ),
    # People and teams: made and changed, never deleted (people are deactivated).
    "runs": {
        **dict.fromkeys(
            ("changelist", "add", "change", "history", "simple_history", "redirect"), ("ok", "ok")
        ),
        "delete": ("denied", "denied"),
    },
    # The security policy and the beat schedule: changed, neither added nor deleted.
    "keeps": {
        **dict.fromkeys(
            ("changelist", "change", "history", "simple_history", "redirect"), ("ok", "ok")
        ),
        "add": ("denied", "denied"),
        "delete": ("denied", "denied"),
    },
}

# Cells where the portal is wrong today: (url name, method, role) -> (what the cell should
# say, what is wrong). test_known_bugs_are_still_there tries each as an expected failure.
#
# Cells where the portal is wrong today, with what they should say (none now).
KNOWN_BUGS: dict[tuple[str, str, str], tuple[str, str]] = {}


def _words(row: str) -> dict[str, str]:
    words = row.split()
    assert len(words) == len(ROLES) and set(words) <= WORDS, row
    return dict(zip(ROLES, words, strict=True))


def expected(route: Route, method: str) -> dict[str, str] | None:
    """The route's row for ``method`` (role -> word); None when it has no row."""
    from tests.record_writes import admin_route_label

    if route.key in MATRIX:
        words = _words(MATRIX[route.key][method])
    else:
        found = admin_route_label(route)
        if found is None or found[0] not in ADMIN_MODELS:
            return None
        label, action = found
        access = ADMIN_ACCESS[ADMIN_MODELS[label]]
        if action not in access:
            return None
        words = _words(f"{NOT_STAFF} {access[action][METHODS.index(method)]}")
    for (key, cell_method, role), (should, _why) in KNOWN_BUGS.items():
        if key == route.key and cell_method == method:
            words[role] = should
    return words


ROUTES = routes()


def test_every_url_pattern_has_a_row_and_every_row_a_url_pattern():
    missing = [f"{r.key} ({r.route})" for r in ROUTES if expected(r, "GET") is None]
    assert not missing, f"URL patterns without a row in MATRIX or ADMIN_MODELS: {missing}"
    keys = {r.key for r in ROUTES}
    assert not set(MATRIX) - keys, f"rows for URLs that are gone: {sorted(set(MATRIX) - keys)}"
    from tests.record_writes import admin_models

    stale = set(ADMIN_MODELS) - set(admin_models())
    assert not stale, f"ADMIN_MODELS names models the admin no longer has: {sorted(stale)}"
    assert {(k, m) for k, m, _ in KNOWN_BUGS} <= {(k, m) for k in keys for m in METHODS}


def outcome_as(built: Built, request: Any, route: Route, method: str, role: str) -> str:
    """What ``role`` gets, in a savepoint of its own (and with fresh rate limits): no
    role's request sees another's."""
    from django.core.cache import cache

    cache.clear()
    with transaction.atomic():
        response = request_as(built, request, route, method, role)
        transaction.set_rollback(True)
    got = outcome(response)
    return f"{got} ({response.status_code} {response.get('Location', '')})".replace(" )", ")")


# One test per address and method, every role in turn: a test per cell would spend more
# on pytest than on the requests. A failure names each role that got something else.
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", ROUTES, ids=[r.key for r in ROUTES])
def test_each_role_gets_what_the_matrix_says(built, db, request, route, method):
    row = expected(route, method)
    assert row is not None, f"{route.key} ({route.route}) has no row in MATRIX: add one"
    wrong = []
    for role in ROLES:
        if (route.key, method, role) in KNOWN_BUGS:
            continue  # test_known_bugs_are_still_there
        got = outcome_as(built, request, route, method, role)
        if got.split()[0] != row[role]:
            wrong.append(f"{role} got {got}, the matrix says {row[role]}")
    assert not wrong, f"{route.key} {method}: " + "; ".join(wrong)


@pytest.mark.parametrize(
    ("key", "method", "role"),
    [
        pytest.param(*cell, marks=pytest.mark.xfail(strict=True, reason=why), id=" ".join(cell))
        for cell, (_should, why) in KNOWN_BUGS.items()
    ],
)
def test_known_bugs_are_still_there(built, db, request, key, method, role):
    """Each cell of KNOWN_BUGS, as the matrix says it should be: failing until fixed (and
    then, strictly, failing until it leaves KNOWN_BUGS)."""
    route = next(r for r in ROUTES if r.key == key)
    row = expected(route, method)
    assert row is not None
    got = outcome_as(built, request, route, method, role)
    assert got.split()[0] == row[role], f"{key} {method} as {role} got {got}"


# --- the object level: another team's ids -----------------------------------------------------
# Every address naming a team's records, sent by the first of the lead and the reviewer
# that the matrix lets in (with the Benefits team's ids), now with the Permits team's: each
# id alone, and (for the lead, who reads nothing of the Permits team) all of them. The
# reviewer reads every team's records, so only mixed ids are theirs to be refused: an
# answer of another review, the evidence of another answer.


def _object_cases() -> Iterator[Any]:
    for route in ROUTES:
        if route.route.startswith("admin/") or route.key in FIXED:
            continue  # the admin's ids are the superuser's to use; FIXED names no records
        names = [name for name in argument_names(route) if record_kind(route, name)]
        if not names:
            continue
        for method in METHODS:
            if method == "POST" and route.key not in SCENARIOS:
                continue  # a page that only reads: its GET is the case
            row = expected(route, method)
            assert row is not None
            actor = next((who for who in ("lead", "reviewer") if row[who] == "ok"), None)
            if actor is None:
                continue
            swaps = [(name,) for name in names] if actor == "lead" or len(names) > 1 else []
            if actor == "lead" and len(names) > 1:
                swaps.append(tuple(names))
            for swap in swaps:
                yield pytest.param(
                    route, method, actor, swap, id=f"{route.key} {method} {actor} {'+'.join(swap)}"
                )


OBJECT_CASES = list(_object_cases())


def theirs_instead(built: Built, route: Route, path: str, swap: tuple[str, ...]) -> str:
    """``path`` with the Permits team's records for the arguments ``swap``."""
    query = path.partition("?")[2]
    kwargs = {name: resolve(path.partition("?")[0]).kwargs[name] for name in argument_names(route)}
    for name in swap:
        kwargs[name] = record_value(built.theirs, record_kind(route, name) or "")
    return reverse(route.key, kwargs=kwargs) + (f"?{query}" if query else "")


def _answer_prefix_moved(data: Any, old: Any, new: Any) -> Any:
    """An answer form's fields are named after the answer: name them after the new one."""
    if not isinstance(data, dict):
        return data
    return {key.replace(f"a{old}-", f"a{new}-", 1): value for key, value in data.items()}


def test_every_address_naming_a_teams_records_is_tried_with_another_teams():
    tried = {(case.values[0].key, case.values[1]) for case in OBJECT_CASES}
    for key in ("reviews:item", "reviews:evidence_withdraw", "reviews:token_revoke"):
        assert (key, "GET" if key == "reviews:item" else "POST") in tried, key
    assert ("reviews:waiver_decide", "POST") in tried  # by the reviewer, ids mixed
    assert len(OBJECT_CASES) >= 50


@pytest.mark.parametrize(("route", "method", "actor", "swap"), OBJECT_CASES)
def test_another_teams_ids_are_hidden_and_change_nothing(
    built, db, request, route, method, actor, swap
):
    person = built.cast[actor]
    if method == "GET":
        client, attempt = client_as(built, actor), None
        path, data = address(built, route), None
    else:
        world = make_world(built, request.getfixturevalue("settings"))
        attempt = SCENARIOS[route.key](world)
        client = client_for_attempt(built, world, attempt, actor)
        path, data = attempt.path, attempt.data
    moved = theirs_instead(built, route, path, swap)
    if "answer_pk" in swap:
        old = resolve(path.partition("?")[0]).kwargs["answer_pk"]
        data = _answer_prefix_moved(data, old, built.theirs.answer.pk)
    unchanged = Unchanged(person)
    if attempt is None:
        response = _drained(client.get(moved))
    else:
        response = send(client, attempt, moved, data)
    assert response.status_code == 404, (moved, response.status_code)
    unchanged.assert_only_refusals(f"{route.key} {method} as {actor} with {swap}")


# --- form fields naming another team's records ------------------------------------------------
# Each: the scenario's request, by its own person, with one field naming a Permits record
# (or a person outside the Benefits team): the form refuses it, and nothing changes. The
# same field naming the Benefits team's own record is accepted, so it is the record that
# is refused, not the request.


@dataclass(frozen=True)
class FieldCase:
    scenario: str
    form_field: str  # "{answer}" stands for the id of the scenario's answer
    theirs: Callable[[Built], Any]
    ours: Callable[[Built, World], Any] | None  # None: no record of ours to name
    refused: str  # what the person gets
    extra: dict[str, str] = field(default_factory=dict)  # what else the form needs


DECISION = {"decisions-0-outcome": "noted", "decisions-0-text": "Looked at the restores."}


def _sso_account_of(who: str) -> Callable[[Built, World], Any]:
    def account(built: Built, world: World) -> Any:
        from allauth.socialaccount.models import SocialAccount

        return SocialAccount.objects.get(user=world.cast[who]).pk

    return account


FIELD_CASES: dict[str, FieldCase] = {
    "a new service in another team": FieldCase(
        "reviews:service_create",
        "team",
        lambda b: b.theirs.team.pk,
        lambda b, w: b.ours.team.pk,
        "invalid",
    ),
    "a service moved to another team": FieldCase(
        "reviews:service_edit",
        "team",
        lambda b: b.theirs.team.pk,
        lambda b, w: b.ours.team.pk,
        "invalid",
    ),
    # The answer row answers a refusal with 422, as for anything its form refuses.
    "an answer owned by someone outside the team": FieldCase(
        "reviews:answer",
        "a{answer}-owner",
        lambda b: b.cast["other_lead"].pk,
        lambda b, w: w.cast["lead"].pk,
        "422",
    ),
    "a journal note on another service's review": FieldCase(
        "reviews:journal",
        "review",
        lambda b: b.theirs.review.pk,
        lambda b, w: w.review.pk,
        "invalid",
    ),
    "a launch audit attended by another team's lead": FieldCase(
        "reviews:audit_session_create",
        "attendees",
        lambda b: [str(b.cast["other_lead"].pk)],
        lambda b, w: [str(w.cast["lead"].pk)],
        "invalid",
    ),
    "a launch audit decision on another review's item": FieldCase(
        "reviews:audit_session_create",
        "decisions-0-item",
        lambda b: b.theirs.answer.item_id,
        lambda b, w: w.answer.item_id,
        "invalid",
        DECISION,
    ),
    "an edit of another launch audit's decision": FieldCase(
        "reviews:audit_session_edit",
        "decisions-0-decision",
        lambda b: b.theirs.session.decisions.get().pk,
        None,  # the scenario's launch audit has no decision to edit
        "invalid",
        DECISION,
    ),
    # allauth shows its form again with the error (a 200): that nothing changed says it all.
    "unlinking someone else's single sign-on account": FieldCase(
        "socialaccount_connections",
        "account",
        lambda b: b.cast["other_lead"].socialaccount_set.get().pk,
        _sso_account_of("lead"),
        "ok",
    ),
}


def _with_field(case: FieldCase, world: World, attempt: Attempt, value: Any) -> dict[str, Any]:
    assert isinstance(attempt.data, dict), case.scenario
    name = case.form_field.replace("{answer}", str(world.answer.pk))
    assert name in attempt.data or case.extra, f"{case.scenario} has no field {name}"
    return attempt.data | case.extra | {name: value}


@pytest.mark.parametrize("name", list(FIELD_CASES))
def test_a_form_field_naming_another_teams_record_is_refused_and_changes_nothing(
    built, db, request, name
):
    case = FIELD_CASES[name]
    world = make_world(built, request.getfixturevalue("settings"))
    attempt = SCENARIOS[case.scenario](world)
    assert attempt.who is not None, case.scenario
    client = client_for_attempt(built, world, attempt, attempt.who)
    unchanged = Unchanged(world.cast[attempt.who])
    response = send(client, attempt, data=_with_field(case, world, attempt, case.theirs(built)))
    assert outcome(response) == case.refused, (name, response.status_code)
    unchanged.assert_only_refusals(name)


@pytest.mark.parametrize("name", [name for name, case in FIELD_CASES.items() if case.ours])
def test_the_same_form_field_naming_our_own_record_is_accepted(built, db, request, name):
    case = FIELD_CASES[name]
    assert case.ours is not None
    world = make_world(built, request.getfixturevalue("settings"))
    attempt = SCENARIOS[case.scenario](world)
    assert attempt.who is not None, case.scenario
    client = client_for_attempt(built, world, attempt, attempt.who)
    response = send(
        client, attempt, data=_with_field(case, world, attempt, case.ours(built, world))
    )
    assert response.status_code in attempt.ok, (name, response.status_code)
