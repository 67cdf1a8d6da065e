"""A small OpenID Connect identity provider served over real loopback HTTP, for tests.

It speaks just enough of OpenID Connect Core and OAuth 2.0 (with PKCE) for a relying
party to sign someone in: discovery, an authorization endpoint that "signs in" whoever
the test says is at the keyboard, a token endpoint that checks client authentication
(``client_secret_basic``), the redirect URI and the PKCE verifier, a JWKS endpoint and
a userinfo endpoint. Nothing in Django or allauth is patched: the relying party reaches
it over a socket like any other IdP.

What the IdP does wrong on purpose (to test the relying party) is set per test through
``id_token_claims_override``, ``id_token_signing_key`` and ``userinfo_omits``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """An authorization code and what it was issued for."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    claims: dict[str, Any]


@dataclass
class TokenRequest:
    """One call to the token endpoint, as the IdP saw it."""

    form: dict[str, str]
    basic_auth: tuple[str, str] | None
    outcome: str  # "issued", or the OAuth error code returned


@dataclass
class FakeIdP:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    signing_key: rsa.RSAPrivateKey
    kid: str = "test-key-1"
    # Who is signed in at the IdP when the browser arrives: the claims about them.
    user_claims: dict[str, Any] = field(default_factory=dict)
    # Misbehaviour, for tests of the relying party.
    id_token_claims_override: dict[str, Any] = field(default_factory=dict)
    id_token_signing_key: rsa.RSAPrivateKey | None = None
    userinfo_omits: set[str] = field(default_factory=set)
    # What happened, for assertions.
    authorization_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[TokenRequest] = field(default_factory=list)
    requested_paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, Grant] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        assert self._server is not None, "the IdP is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        idp = self

        class Handler(_Handler):
            provider = idp

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-idp", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @classmethod
    @contextmanager
    def running(cls, **kwargs: Any) -> Iterator[FakeIdP]:
        idp = cls(**kwargs)
        idp.start()
        try:
            yield idp
        finally:
            idp.stop()

    # --- the documents it serves -------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "claims_supported": [
                "sub",
                "email",
                "email_verified",
                "name",
                "given_name",
                "family_name",
                "groups",
            ],
        }

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            **grant.claims,
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.id_token_claims_override)
        key = self.id_token_signing_key or self.signing_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    # --- endpoints (called from the server's threads) ------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Returns (status, headers, json body). Signs in ``user_claims`` at once."""
        with self._lock:
            self.authorization_requests.append(dict(query))
            redirect_uri = query.get("redirect_uri", "")
            if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
                # Never redirect to an unregistered URI (RFC 6749 section 4.1.2.1).
                return 400, {}, {"error": "invalid_request"}
            problem = None
            if query.get("response_type") != "code":
                problem = "unsupported_response_type"
            elif "openid" not in query.get("scope", "").split():
                problem = "invalid_scope"
            elif not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
                problem = "invalid_request"  # this IdP requires PKCE
            params = {"state": query["state"]} if "state" in query else {}
            if problem:
                params["error"] = problem
            else:
                code = secrets.token_urlsafe(24)
                self._codes[code] = Grant(
                    client_id=self.client_id,
                    redirect_uri=redirect_uri,
                    scope=query["scope"],
                    code_challenge=query["code_challenge"],
                    code_challenge_method=query["code_challenge_method"],
                    nonce=query.get("nonce"),
                    claims=dict(self.user_claims),
                )
                params["code"] = code
            return 302, {"Location": f"{redirect_uri}?{urlencode(params)}"}, {}

    def token(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            basic = _parse_basic(authorization)
            request = TokenRequest(form=dict(form), basic_auth=basic, outcome="")
            self.token_requests.append(request)

            def refuse(status: int, error: str) -> tuple[int, dict[str, str], dict[str, Any]]:
                request.outcome = error
                headers = {"WWW-Authenticate": 'Basic realm="fake-idp"'} if status == 401 else {}
                return status, headers, {"error": error}

            # client_secret_basic only: the secret never travels in the body.
            if basic != (self.client_id, self.client_secret) or "client_secret" in form:
                return refuse(401, "invalid_client")
            if form.get("grant_type") != "authorization_code":
                return refuse(400, "unsupported_grant_type")
            grant = self._codes.pop(form.get("code", ""), None)  # single use
            if grant is None or grant.client_id != self.client_id:
                return refuse(400, "invalid_grant")
            if form.get("redirect_uri") != grant.redirect_uri:
                return refuse(400, "invalid_grant")
            verifier = form.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(
                pkce_challenge(verifier), grant.code_challenge
            ):
                return refuse(400, "invalid_grant")
            access_token = secrets.token_urlsafe(32)
            self._access_tokens[access_token] = dict(grant.claims)
            request.outcome = "issued"
            body = {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": grant.scope,
                "id_token": self.id_token(grant),
            }
            return 200, {"Cache-Control": "no-store"}, body

    def userinfo(self, authorization: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            scheme, _, token = (authorization or "").partition(" ")
            claims = self._access_tokens.get(token) if scheme.lower() == "bearer" else None
            if claims is None:
                return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {}
            return 200, {}, {k: v for k, v in claims.items() if k not in self.userinfo_omits}


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before encoding.
    return unquote(user), unquote(password)


class _Handler(BaseHTTPRequestHandler):
    provider: FakeIdP

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8") if body or status != 302 else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.provider.requested_paths.append(f"GET {url.path}")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self._send(200, {}, self.provider.discovery())
        elif url.path == "/jwks":
            self._send(200, {}, self.provider.jwks())
        elif url.path == "/authorize":
            self._send(*self.provider.authorize(query))
        elif url.path == "/userinfo":
            self._send(*self.provider.userinfo(self.headers.get("Authorization")))
        else:
            self._send(404, {}, {"error": "not_found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.provider.requested_paths.append(f"POST {url.path}")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        if url.path != "/token":
            self._send(404, {}, {"error": "not_found"})
            return
        if not (self.headers.get("Content-Type") or "").startswith(
            "application/x-www-form-urlencoded"
        ):
            self._send(400, {}, {"error": "invalid_request"})
            return
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        self._send(*self.provider.token(form, self.headers.get("Authorization")))
