"""Single sign-on through OpenID Connect, end to end against a real (local) identity provider.

The IdP (tests/fake_idp.py) runs in a thread on 127.0.0.1 and allauth reaches it over
real sockets: discovery, the token endpoint (client_secret_basic + PKCE) and userinfo.
The test plays the browser: it presses the "Sign in with Test IdP" button, follows the
redirect to the IdP's authorization endpoint over HTTP, and brings the IdP's redirect
(code and state) back to Django's callback. Nothing in allauth, requests or Django is
patched or mocked.

allauth builds its OIDC apps from ``settings.SOCIALACCOUNT_PROVIDERS`` on every request
and fetches the discovery document once per request, so a per-test ``settings`` override
is enough. The only allauth state that outlives a request is in the cache (the id_token
``jti`` replay list and rate-limit counters), which conftest clears before each test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core import mail
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from portal.accounts import services
from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.audit.models import AuditEvent, AuditKind
from tests.factories import UserFactory
from tests.fake_idp import FakeIdP, new_rsa_key, pkce_challenge

PROVIDER_ID = "sso"
CLIENT_ID = "preflight-test-client"
CLIENT_SECRET = "s3cret-for-the-fake-idp"
CALLBACK_URL = f"http://testserver/accounts/oidc/{PROVIDER_ID}/login/callback/"
BUTTON = "Sign in with Test IdP"
NO_ROLE_TEXT = b"you do not hold a role yet"

ADA = {
    "sub": "idp-user-1001",
    "email": "ada@example.com",
    "email_verified": True,
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
}


# --- the identity provider and the settings that point Preflight at it -----------------


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


def oidc_settings(server_url: str) -> dict[str, dict[str, object]]:
    """The same shape portal/settings.py builds from the OIDC_* environment variables."""
    return {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "SCOPE": ["openid", "profile", "email", "groups"],
            "APPS": [
                {
                    "provider_id": PROVIDER_ID,
                    "name": "Test IdP",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {
                        "server_url": server_url,
                        "token_auth_method": "client_secret_basic",
                    },
                }
            ],
        }
    }


@pytest.fixture
def idp(settings, monkeypatch, idp_key) -> Iterator[FakeIdP]:
    # The IdP is on loopback: never send allauth's server-side calls through a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    with FakeIdP.running(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[CALLBACK_URL],
        signing_key=idp_key,
        user_claims=dict(ADA),
    ) as server:
        settings.SOCIALACCOUNT_PROVIDERS = oidc_settings(server.issuer)
        settings.OIDC_ROLE_MAP = {
            "preflight-reviewers": "security_reviewer",
            "preflight-leads": "product_lead",
        }
        settings.OIDC_GROUPS_CLAIM = "groups"
        settings.SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
        settings.SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
        # The default (closed signup) posture, whatever ALLOW_SIGNUP the shell has.
        settings.PREFLIGHT_ALLOW_SIGNUP = False
        settings.ACCOUNT_EMAIL_VERIFICATION = "none"
        yield server


# --- playing the browser ------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(values.get("action", ""), values.get("method", "get").lower())
        elif tag == "input" and self._current is not None and values.get("name"):
            self._current.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            self.forms.append(self._current)
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.text += data


def sso_form(html: str) -> Form | None:
    """The form whose button reads "Sign in with Test IdP", if the page has one."""
    parser = _FormParser()
    parser.feed(html)
    matches = [f for f in parser.forms if " ".join(f.text.split()) == BUTTON]
    assert len(matches) <= 1
    return matches[0] if matches else None


def browser() -> Client:
    # A real browser must send the CSRF token the page gave it.
    return Client(enforce_csrf_checks=True)


def press_sso_button(client: Client) -> str:
    """Load the sign-in page, press the SSO button; returns where Django sends the browser."""
    page = client.get(reverse("account_login"))
    assert page.status_code == 200
    form = sso_form(page.content.decode())
    assert form is not None, f"no {BUTTON!r} button on the sign-in page"
    assert form.method == "post"
    assert "csrfmiddlewaretoken" in form.fields
    response = client.post(form.action, form.fields)
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def visit_idp(authorize_url: str) -> str:
    """The browser at the IdP (already signed in there): returns the IdP's redirect."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def return_to_portal(client: Client, callback_url: str) -> HttpResponse:
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver"
    response: HttpResponse = client.get(f"{parts.path}?{parts.query}")
    return response


def sign_in_through_idp(client: Client) -> HttpResponse:
    return return_to_portal(client, visit_idp(press_sso_button(client)))


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    return parts._replace(query=urlencode(query)).geturl()


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def assert_nobody_signed_in(client: Client) -> None:
    assert signed_in_user(client) is None
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditKind.LOGIN_SUCCEEDED).exists()
    # The home page still sends the visitor to sign in.
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 302
    assert home["Location"] == reverse("account_login")


# --- first sign-in: the account and its roles ---------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("groups", "roles", "landing"),
    [
        (["engineering-all", "preflight-reviewers"], {Role.SECURITY_REVIEWER}, "reviews:queue"),
        (["preflight-leads"], {Role.PRODUCT_LEAD}, "reviews:portfolio"),
        ("preflight-leads", {Role.PRODUCT_LEAD}, "reviews:portfolio"),  # a lone string
        (
            ["preflight-leads", "preflight-reviewers"],
            {Role.PRODUCT_LEAD, Role.SECURITY_REVIEWER},
            "reviews:portfolio",
        ),
    ],
)
def test_first_sso_sign_in_creates_the_account_with_mapped_roles(idp, groups, roles, landing):
    idp.user_claims["groups"] = groups
    client = browser()

    response = sign_in_through_idp(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:home")
    user = User.objects.get()
    assert signed_in_user(client) == user
    assert user.email == "ada@example.com"
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert not user.has_usable_password()  # SSO people have no local password
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == (PROVIDER_ID, "idp-user-1001")
    user.forget_roles()
    assert user.roles == frozenset(roles)  # groups the map does not know are ignored
    assert not user.is_staff
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 302
    assert home["Location"] == reverse(landing)
    assert client.get(home["Location"]).status_code == 200


@pytest.mark.django_db
def test_the_sso_button_runs_an_authorization_code_flow_with_state_and_pkce(idp):
    idp.user_claims["groups"] = ["preflight-reviewers"]
    client = browser()

    authorize_url = press_sso_button(client)

    parts = urlsplit(authorize_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{idp.issuer}/authorize"
    query = query_of(authorize_url)
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK_URL
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == {"openid", "profile", "email", "groups"}
    assert len(query["state"]) >= 16
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url SHA-256, unpadded
    # allauth 65.21 sends no OIDC nonce; the state (bound to this session) and PKCE
    # are what tie the IdP's answer to this browser. The fake IdP echoes one if sent.
    assert "client_secret" not in query

    callback = visit_idp(authorize_url)
    assert callback.startswith(CALLBACK_URL + "?")
    assert query_of(callback)["state"] == query["state"]
    response = return_to_portal(client, callback)
    assert response.status_code == 302
    assert signed_in_user(client) is not None

    # The server side talked to the IdP itself: discovery, token, userinfo.
    assert "GET /.well-known/openid-configuration" in idp.requested_paths
    assert "GET /userinfo" in idp.requested_paths
    [token_request] = idp.token_requests
    assert token_request.outcome == "issued"
    assert token_request.basic_auth == (CLIENT_ID, CLIENT_SECRET)  # client_secret_basic
    assert "client_secret" not in token_request.form
    assert token_request.form["grant_type"] == "authorization_code"
    assert token_request.form["redirect_uri"] == CALLBACK_URL
    assert token_request.form["code"] == query_of(callback)["code"]
    assert pkce_challenge(token_request.form["code_verifier"]) == query["code_challenge"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "claims",
    [
        {},  # the IdP sends no groups claim at all
        {"groups": []},
        {"groups": ["engineering-all", "Security reviewer"]},  # unmapped names only
    ],
    ids=["no-groups-claim", "empty-groups", "unmapped-groups"],
)
def test_a_claim_with_no_mapped_groups_creates_the_account_with_no_role(idp, claims):
    idp.user_claims.update(claims)
    client = browser()

    response = sign_in_through_idp(client)

    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    assert signed_in_user(client) == user
    user.forget_roles()
    assert user.roles == frozenset()
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 200
    assert NO_ROLE_TEXT in home.content
    assert not AuditEvent.objects.filter(kind=AuditKind.ROLE_GRANTED).exists()


@pytest.mark.django_db
def test_signing_in_again_uses_the_same_account(idp):
    idp.user_claims["groups"] = ["preflight-reviewers"]
    first = browser()
    sign_in_through_idp(first)
    second = browser()  # another day, another browser

    response = sign_in_through_idp(second)

    assert response.status_code == 302
    user = User.objects.get()
    assert signed_in_user(second) == user
    assert SocialAccount.objects.count() == 1
    assert AuditEvent.objects.filter(kind=AuditKind.LOGIN_SUCCEEDED, subject_user=user).count() == 2


# --- an existing local account with the same email address ---------------------------


def local_account(email: str, *, verified: bool | None) -> User:
    """A person an admin already made (verified=None: no EmailAddress row, as the admin
    creates them); optionally with allauth's record of their address."""
    user = UserFactory(email=email, password="correct horse battery staple")
    services.user_set_roles(user=user, roles=[Role.PRODUCT_LEAD], reason="test")
    if verified is not None:
        EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    return user


@pytest.mark.django_db
def test_an_existing_account_with_the_same_verified_email_is_connected_not_duplicated(idp):
    existing = local_account("ada@example.com", verified=True)
    idp.user_claims.update(email_verified=True, groups=["preflight-leads"])
    client = browser()

    response = sign_in_through_idp(client)

    assert response.status_code == 302
    assert User.objects.count() == 1
    assert signed_in_user(client) == existing
    account = SocialAccount.objects.get()
    assert (account.user, account.provider, account.uid) == (existing, PROVIDER_ID, ADA["sub"])
    existing.refresh_from_db()
    assert existing.check_password("correct horse battery staple")  # verified: kept
    existing.forget_roles()
    assert Role.PRODUCT_LEAD in existing.roles
    # And from now on the IdP's subject finds the account directly.
    again = browser()
    sign_in_through_idp(again)
    assert signed_in_user(again) == existing
    assert SocialAccount.objects.count() == 1


@pytest.mark.django_db
def test_the_idp_email_finds_the_existing_account_whatever_its_case(idp):
    existing = local_account("ada@example.com", verified=True)
    idp.user_claims["email"] = "Ada@Example.COM"
    client = browser()

    sign_in_through_idp(client)

    assert User.objects.count() == 1
    assert signed_in_user(client) == existing


@pytest.mark.django_db
def test_connecting_an_account_whose_address_was_never_verified_retires_its_password(idp):
    # allauth's guard against a pre-registered address: the account is connected, but a
    # password nobody proved belongs to the address owner is made unusable.
    existing = local_account("ada@example.com", verified=None)
    client = browser()

    sign_in_through_idp(client)

    assert User.objects.count() == 1
    assert signed_in_user(client) == existing
    existing.refresh_from_db()
    assert not existing.has_usable_password()


@pytest.mark.django_db
@pytest.mark.parametrize("email_verified", [False, None], ids=["false", "absent"])
def test_an_unverified_idp_email_does_not_take_over_the_existing_account(idp, email_verified):
    existing = local_account("ada@example.com", verified=True)
    idp.user_claims["groups"] = ["preflight-reviewers"]
    if email_verified is None:
        del idp.user_claims["email_verified"]
    else:
        idp.user_claims["email_verified"] = email_verified
    client = browser()

    response = sign_in_through_idp(client)

    # Not signed in; sent to the social sign-up form to pick another address instead.
    assert signed_in_user(client) is None
    assert response.status_code == 302
    assert response["Location"] == reverse("socialaccount_signup")
    assert User.objects.count() == 1
    assert not SocialAccount.objects.exists()
    existing.refresh_from_db()
    assert existing.check_password("correct horse battery staple")
    existing.forget_roles()
    assert existing.roles == frozenset({Role.PRODUCT_LEAD})
    assert not AuditEvent.objects.filter(kind=AuditKind.LOGIN_SUCCEEDED).exists()


# --- forged and tampered callbacks -----------------------------------------------------


@pytest.mark.django_db
def test_a_callback_with_a_forged_state_signs_no_one_in(idp):
    client = browser()
    callback = visit_idp(press_sso_button(client))

    response = return_to_portal(client, with_query(callback, state="forged0state0123"))

    assert response.status_code == 401  # allauth's authentication error page
    assert b"Third-Party Login Failure" in response.content
    assert_nobody_signed_in(client)
    assert idp.token_requests == []  # the code was never even redeemed


@pytest.mark.django_db
def test_a_callback_without_a_state_signs_no_one_in(idp):
    client = browser()
    callback = visit_idp(press_sso_button(client))
    parts = urlsplit(callback)

    response = client.get(parts.path, {"code": query_of(callback)["code"]})

    assert response.status_code == 401  # allauth's authentication error page
    assert_nobody_signed_in(client)
    assert idp.token_requests == []


@pytest.mark.django_db
def test_a_callback_replayed_in_another_browser_signs_no_one_in(idp):
    # Login CSRF: an attacker's own code and state, pushed into a victim's browser.
    attacker = browser()
    callback = visit_idp(press_sso_button(attacker))
    victim = browser()
    victim.get(reverse("account_login"))

    response = return_to_portal(victim, callback)

    assert response.status_code == 401  # allauth's authentication error page
    assert_nobody_signed_in(victim)
    assert idp.token_requests == []


@pytest.mark.django_db
def test_a_stolen_code_injected_with_another_sessions_state_is_refused_by_pkce(idp):
    victim = browser()
    stolen = query_of(visit_idp(press_sso_button(victim)))["code"]
    attacker = browser()
    own_state = query_of(press_sso_button(attacker))["state"]

    response = attacker.get(urlsplit(CALLBACK_URL).path, {"code": stolen, "state": own_state})

    assert response.status_code == 401  # allauth's authentication error page
    assert_nobody_signed_in(attacker)
    [token_request] = idp.token_requests
    assert token_request.form["code"] == stolen
    assert token_request.outcome == "invalid_grant"  # the verifier is the attacker's


@pytest.mark.django_db
def test_a_made_up_code_signs_no_one_in(idp):
    client = browser()
    callback = visit_idp(press_sso_button(client))

    response = return_to_portal(client, with_query(callback, code="made-up-code"))

    assert response.status_code == 401  # allauth's authentication error page
    assert_nobody_signed_in(client)
    assert [t.outcome for t in idp.token_requests] == ["invalid_grant"]


@pytest.mark.django_db
def test_an_idp_that_refuses_the_client_secret_signs_no_one_in(idp):
    idp.client_secret = "rotated-at-the-idp"
    client = browser()

    response = sign_in_through_idp(client)

    assert response.status_code == 401  # allauth's authentication error page
    assert_nobody_signed_in(client)
    assert [t.outcome for t in idp.token_requests] == ["invalid_client"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "override",
    [
        {"iss": "http://evil.example"},
        {"aud": "some-other-client"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    ],
    ids=["wrong-issuer", "wrong-audience", "expired"],
)
def test_an_id_token_that_fails_validation_signs_no_one_in(idp, override):
    idp.id_token_claims_override = override
    client = browser()

    response = sign_in_through_idp(client)

    assert response.status_code == 401  # allauth's authentication error page
    assert b"Third-Party Login Failure" in response.content
    assert_nobody_signed_in(client)
    assert [t.outcome for t in idp.token_requests] == ["issued"]


# --- where the groups claim lives -------------------------------------------------------


@pytest.mark.django_db
def test_groups_sent_only_in_the_id_token_still_map_to_roles(idp):
    idp.user_claims["groups"] = ["preflight-reviewers"]
    idp.userinfo_omits = {"groups"}
    client = browser()

    sign_in_through_idp(client)

    user = User.objects.get()
    user.forget_roles()
    assert user.roles == frozenset({Role.SECURITY_REVIEWER})


# --- the sign-in page ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_sign_in_page_offers_the_idp_when_oidc_is_configured(idp):
    response = Client().get(reverse("account_login"))

    html = response.content.decode()
    form = sso_form(html)
    assert form is not None
    assert form.action == (
        reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID}) + "?process=login"
    )
    assert "Or use single sign-on" in html


@pytest.mark.django_db
def test_the_sign_in_page_has_no_sso_button_when_oidc_is_not_configured(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}

    response = Client().get(reverse("account_login"))

    html = response.content.decode()
    assert response.status_code == 200
    assert sso_form(html) is None
    assert "Sign in with" not in html
    assert "single sign-on" not in html
    # And the provider's login URL leads nowhere.
    login_url = reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID})
    assert Client().post(login_url).status_code == 404


# --- the audit record ------------------------------------------------------------------


@pytest.mark.django_db
def test_sso_sign_in_writes_login_and_role_grant_audit_events(idp):
    idp.user_claims["groups"] = ["preflight-reviewers", "engineering-all"]
    client = browser()

    sign_in_through_idp(client)

    user = User.objects.get()
    [login] = AuditEvent.objects.filter(kind=AuditKind.LOGIN_SUCCEEDED)
    assert (login.actor, login.subject_user) == (user, user)
    assert login.subject_label == "ada@example.com"
    assert login.ip_address == "127.0.0.1"
    [grant] = AuditEvent.objects.filter(kind=AuditKind.ROLE_GRANTED)
    assert grant.subject_user == user
    assert grant.details == {"role": "security_reviewer", "group": "Security reviewer"}
    [created] = AuditEvent.objects.filter(kind=AuditKind.ACCOUNT_CREATED)
    assert created.subject_user == user
    assert not AuditEvent.objects.exclude(
        kind__in=[AuditKind.LOGIN_SUCCEEDED, AuditKind.ROLE_GRANTED, AuditKind.ACCOUNT_CREATED]
    ).exists()
    assert not mail.outbox
