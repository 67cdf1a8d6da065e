"""Every URL the project answers, and which of them accept writes: what
``tests/test_record_capture.py`` and ``tests/test_record_auditor_reads_only.py`` walk.

A route's methods are read from the view itself: Django's ``require_http_methods``
family (the list it closes over), a class-based view's handlers, a ninja path's
operations. A function view without a method decorator answers any method: it is
"unrestricted", and the tests want it either in a table of writes or in the table of
pages that only read (better: decorate it with ``require_safe``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    key: str  # "reviews:answer", or the route itself when it has no name
    route: str  # "reviews/<id:pk>/answers/<id:answer_pk>/"
    callback: Callable[..., Any]

    @property
    def namespace(self) -> str:
        return self.key.split(":", 1)[0] if ":" in self.key else ""

    @property
    def methods(self) -> frozenset[str] | None:
        """The methods the view accepts; None when it does not say (any method)."""
        return view_methods(self.callback)

    @property
    def writes(self) -> bool:
        """Whether the view may accept a write method (unrestricted views may)."""
        methods = self.methods
        return methods is None or bool(methods & WRITE_METHODS)


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str = ""
) -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            continue
        route = prefix + str(pattern.pattern)
        if pattern.name:
            key = f"{namespace}:{pattern.name}" if namespace else pattern.name
        else:
            key = route
        yield Route(key=key, route=route, callback=pattern.callback)


def routes() -> list[Route]:
    """Every URL pattern of the project, in order."""
    return list(_walk(get_resolver().url_patterns))


def _closure(function: Any) -> dict[str, Any]:
    try:
        return dict(inspect.getclosurevars(function).nonlocals)
    except (TypeError, ValueError):
        return {}


def view_methods(callback: Callable[..., Any]) -> frozenset[str] | None:
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        names = [m for m in view_class.http_method_names if m != "options"]
        return frozenset(m.upper() for m in names if hasattr(view_class, m))
    function: Any = callback
    while function is not None:
        free = _closure(function)
        if "request_method_list" in free:  # django.views.decorators.http
            return frozenset(m.upper() for m in free["request_method_list"])
        path_view = free.get("self")
        if path_view is not None and hasattr(path_view, "operations"):  # a ninja path
            return frozenset(m for op in path_view.operations for m in op.methods)
        function = getattr(function, "__wrapped__", None)
    return None


# --- reading forms the way a browser sends them ----------------------------------------------


class _Forms(HTMLParser):
    """The forms of a page, each as the fields a browser would submit."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._select: dict[str, Any] | None = None
        self._textarea: str | None = None

    @property
    def _current(self) -> dict[str, Any]:
        if not self.forms:
            self.forms.append({"attrs": {}, "fields": []})
        return self.forms[-1]

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: (v or "") for k, v in attrs_list}
        if tag == "form":
            self.forms.append({"attrs": attrs, "fields": []})
        elif tag == "input" and attrs.get("name") and "disabled" not in attrs:
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self._current["fields"].append((attrs["name"], attrs.get("value", default)))
        elif tag == "select" and attrs.get("name") and "disabled" not in attrs:
            self._select = {"name": attrs["name"], "multiple": "multiple" in attrs, "options": []}
        elif tag == "option" and self._select is not None:
            self._select["options"].append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and attrs.get("name") and "disabled" not in attrs:
            self._textarea = attrs["name"]
            self._current["fields"].append((attrs["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self._current["fields"][-1]
            self._current["fields"][-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            name, value = self._current["fields"][-1]
            # A browser drops the one line break that follows <textarea>.
            self._current["fields"][-1] = (name, value.removeprefix("\n"))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._select["options"] if selected]
            if not chosen and not self._select["multiple"] and self._select["options"]:
                chosen = [self._select["options"][0][0]]
            for value in chosen:
                self._current["fields"].append((self._select["name"], value))
            self._select = None


def form_fields(html: str, *, form_id: str = "", action: str = "") -> dict[str, Any]:
    """What a browser would submit from the page's form (the one with ``form_id``, or
    whose action ends with ``action``, or the last form with a CSRF token): one value per
    field, a list where a field repeats."""
    parser = _Forms()
    parser.feed(html)
    forms = parser.forms
    if form_id:
        forms = [f for f in forms if f["attrs"].get("id") == form_id]
    elif action:
        forms = [f for f in forms if f["attrs"].get("action", "").endswith(action)]
    else:
        forms = [f for f in forms if any(n == "csrfmiddlewaretoken" for n, _ in f["fields"])]
    if not forms:
        raise AssertionError(f"no such form on the page ({form_id or action or 'any'})")
    data: dict[str, Any] = {}
    for name, value in forms[-1]["fields"]:
        if name in data:
            previous = data[name]
            data[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            data[name] = value
    data.pop("csrfmiddlewaretoken", None)
    return data


# --- the writes: one scenario per URL that accepts a write -----------------------------------
# Each scenario sets up what its request needs (through the portal's own services), then
# says who sends which request and which records it must change: ``changes`` maps a
# model's label to the number of its records the request changes, or to their ids. The
# capture test checks exactly one attributed history row for each of them and none for
# any other record; the auditor test sends the same request as the auditor.


@dataclass
class World:
    """What every scenario starts from: the cast (tests/conftest.py), a superuser admin
    for the Django admin (``root``), the Benefits portal and its draft review."""

    cast: dict[str, Any]
    service: Any
    review: Any
    answer: Any
    settings: Any  # pytest-django's: a scenario's changes are undone after the test

    def client(self, who: str) -> Any:
        from django.test import Client

        client = Client()
        client.force_login(self.cast[who])
        return client


@dataclass
class Attempt:
    who: str | None  # the cast member acting; None: not a person (a CI token, a visitor)
    path: str
    data: Any = None
    method: str = "post"
    client: Any = None  # a prepared client; by default one signed in as ``who``
    content_type: str | None = None
    headers: dict[str, str] | None = None
    changes: dict[str, Any] | None = None  # label -> how many records change, or their ids
    events: tuple[str, ...] = ()  # the audit events the request records
    ok: tuple[int, ...] = (200, 201, 302)


Scenario = Callable[[World], Attempt]
SCENARIOS: dict[str, Scenario] = {}
# Scenarios whose events are recorded once the request's transaction commits (allauth's
# MFA signals): the tests run them in transactions of their own, as a real request is.
COMMITTING: set[str] = set()
# Writes to one's own account (signing in and out, one's password, email addresses,
# two-factor set-up, a read-only API token), and the Verify button: the auditor does
# these too. Every other write is refused to the auditor.
OWN_ACCOUNT: set[str] = set()


def scenario(
    *keys: str, commits: bool = False, own: bool = False
) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        for key in keys:
            SCENARIOS[key] = function
            if commits:
                COMMITTING.add(key)
            if own:
                OWN_ACCOUNT.add(key)
        return function

    return register


# --- services, reviews and their records -------------------------------------------------------


def _today() -> Any:
    from django.utils import timezone

    return timezone.localdate()


def _url(name: str, *args: Any) -> str:
    from django.urls import reverse

    return reverse(name, args=args)


SERVICE_FORM = {
    "name": "Claims API",
    "slug": "claims-api",
    "description": "Claims intake",
    "hosting": "aws",
    "impact_level": "moderate",
    "environments": "staging, production",
    "repository_url": "https://github.com/example/claims",
    "health_check_url": "https://claims.example.gov/health",
}


@scenario("reviews:service_create")
def _service_create(w: World) -> Attempt:
    data = SERVICE_FORM | {"team": w.service.team_id}
    return Attempt("lead", _url("reviews:service_create"), data, changes={"reviews.service": 1})


@scenario("reviews:service_edit")
def _service_edit(w: World) -> Attempt:
    path = _url("reviews:service_edit", w.service.slug)
    data = form_fields(w.client("lead").get(path).content.decode())
    data["description"] = "Benefits, online"
    return Attempt("lead", path, data, changes={"reviews.service": {w.service.pk}})


@scenario("reviews:review_start")
def _review_start(w: World) -> Attempt:
    from tests.factories import ServiceFactory

    other = ServiceFactory(name="Claims API", slug="claims-api", team=w.service.team)
    data = {"checklist_version": w.review.checklist_version_id, "kind": "launch"}
    return Attempt(
        "lead",
        _url("reviews:review_start", other.slug),
        data,
        changes={"reviews.review": 1, "reviews.answer": 2},
    )


def answer_post(answer: Any, status: str = "met", justification: str = "") -> dict[str, str]:
    prefix = f"a{answer.pk}-"
    return {
        prefix + "status": status,
        prefix + "justification": justification,
        prefix + "notes": "",
        prefix + "owner": "",
        prefix + "revision": str(answer.revision),
    }


@scenario("reviews:answer")
def _answer(w: World) -> Attempt:
    return Attempt(
        "lead",
        _url("reviews:answer", w.review.pk, w.answer.pk),
        answer_post(w.answer),
        changes={"reviews.answer": {w.answer.pk}, "reviews.review": {w.review.pk}},
    )


@scenario("reviews:evidence_add")
def _evidence_add(w: World) -> Attempt:
    data = {"kind": "note", "note": "Restore tested on 1 May", "effective_date": _today()}
    return Attempt(
        "lead",
        _url("reviews:evidence_add", w.review.pk, w.answer.pk),
        data,
        changes={"reviews.evidence": 1, "reviews.review": {w.review.pk}},
    )


@scenario("reviews:evidence_withdraw")
def _evidence_withdraw(w: World) -> Attempt:
    from reviews.evidence import evidence_add

    evidence = evidence_add(
        answer=w.answer, by=w.cast["lead"], kind="note", note="n", effective_date=_today()
    )
    return Attempt(
        "lead",
        _url("reviews:evidence_withdraw", w.review.pk, w.answer.pk, evidence.pk),
        {"reason": "Wrong database"},
        changes={"reviews.evidence": {evidence.pk}, "reviews.review": {w.review.pk}},
    )


@scenario("reviews:comment_add")
def _comment_add(w: World) -> Attempt:
    return Attempt(
        "reviewer",
        _url("reviews:comment_add", w.review.pk, w.answer.pk),
        {"body": "Which database?"},
        changes={"reviews.comment": 1},
    )


def _unmet(w: World) -> Any:
    from reviews import services

    return services.answer_update(
        answer=w.answer,
        change=services.AnswerChange("not_met", "Not yet", "", None),
        based_on_revision=w.answer.revision,
        by=w.cast["lead"],
    )


def _waiver(w: World) -> Any:
    from datetime import timedelta

    from reviews import waivers

    return waivers.waiver_request(
        answer=_unmet(w),
        by=w.cast["lead"],
        rationale="Risk is low",
        compensating_controls="Manual checks",
        expires_on=_today() + timedelta(days=30),
    )


@scenario("reviews:waiver_request")
def _waiver_request(w: World) -> Attempt:
    from datetime import timedelta

    answer = _unmet(w)
    data = {
        "rationale": "Risk is low",
        "compensating_controls": "Manual checks",
        "expires_on": _today() + timedelta(days=30),
    }
    return Attempt(
        "lead",
        _url("reviews:waiver_request", w.review.pk, answer.pk),
        data,
        changes={"reviews.waiver": 1, "reviews.review": {w.review.pk}},
    )


@scenario("reviews:waiver_decide")
def _waiver_decide(w: World) -> Attempt:
    waiver = _waiver(w)
    return Attempt(
        "reviewer",
        _url("reviews:waiver_decide", w.review.pk, w.answer.pk, waiver.pk),
        {"decision": "approve", "comment": "Until the restore test"},
        changes={"reviews.waiver": {waiver.pk}, "reviews.review": {w.review.pk}},
    )


def _submitted(w: World) -> Any:
    from reviews import services

    for answer in w.review.answers.all():
        services.answer_update(
            answer=answer,
            change=services.AnswerChange("met", "", "", None),
            based_on_revision=answer.revision,
            by=w.cast["lead"],
        )
    return services.review_transition(review=w.review, action="submit", by=w.cast["lead"])


def signed_in(email: str) -> Any:
    """A client that signed in with the password and re-authenticated, as signing off
    requires."""
    from django.test import Client

    from tests.conftest import PASSWORD

    client = Client()
    client.post(_url("account_login"), {"login": email, "password": PASSWORD})
    client.post(_url("account_reauthenticate"), {"password": PASSWORD})
    return client


@scenario("reviews:signoff")
def _signoff(w: World) -> Attempt:
    review = _submitted(w)
    return Attempt(
        "reviewer",
        _url("reviews:signoff", review.pk),
        {"role": "security_reviewer", "decision": "approve", "comment": "Ready"},
        client=signed_in(w.cast["reviewer"].email),
        changes={"reviews.signoff": 1, "reviews.review": {review.pk}},
    )


def _all_met(w: World) -> None:
    from reviews import services

    for answer in w.review.answers.all():
        services.answer_update(
            answer=answer,
            change=services.AnswerChange("met", "", "", None),
            based_on_revision=answer.revision,
            by=w.cast["lead"],
        )


@scenario("reviews:review_action")
def _review_action(w: World) -> Attempt:
    _all_met(w)  # a review with nothing answered is not submitted
    return Attempt(
        "lead",
        _url("reviews:review_action", w.review.pk, "submit"),
        changes={"reviews.review": {w.review.pk}},
    )


CHECKED_CHECKLIST = b"""---
title: Checked
slug: checked
checks:
  service-answers-health-checks: [http.health]
---
## Ops
- **Service answers health checks**
"""


def checked_answer(w: World) -> Any:
    """A review of the Benefits portal on a checklist whose one item binds http.health,
    which passes now (stored the way a sweep stores it): "mark as met" is offered."""
    from checklists.parsers import parse_file
    from checklists.services import checklist_import
    from reviews.checks.collectors.base import Outcome, Target
    from reviews.checks.collectors.runner import Job
    from reviews.checks.services import outcomes_store
    from reviews.models import CheckRun, CheckRunTrigger
    from reviews.services import review_start

    parsed = parse_file("checked.md", CHECKED_CHECKLIST).checklist
    version = checklist_import(parsed=parsed, by=None, publish=True).version
    review = review_start(service=w.service, checklist_version=version, by=w.cast["lead"])
    run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, service=w.service)
    job = Job("http.health", Target(service_id=w.service.pk), {})
    outcomes_store(run, [job], [Outcome.passed("The health check answered 200.")])
    return review.answers.get()


@scenario("reviews:answer_mark_met")
def _mark_met(w: World) -> Attempt:
    answer = checked_answer(w)
    return Attempt(
        "lead",
        _url("reviews:answer_mark_met", answer.review_id, answer.pk),
        {"revision": str(answer.revision)},
        changes={
            "reviews.answer": {answer.pk},
            "reviews.evidence": 1,
            "reviews.review": {answer.review_id},
        },
    )


@scenario("reviews:check_now")
def _check_now(w: World) -> Attempt:
    # The review's checklist binds no check: the sweep finds nothing, so nothing changes
    # (tests/test_history_noise.py shows a real change recorded once, with why).
    return Attempt("lead", _url("reviews:check_now", w.service.slug), changes={})


@scenario("reviews:token_create")
def _token_create(w: World) -> Attempt:
    return Attempt(
        "lead",
        _url("reviews:token_create", w.service.slug),
        {"name": "GitHub Actions"},
        changes={"reviews.servicetoken": 1},
    )


@scenario("reviews:token_revoke")
def _token_revoke(w: World) -> Attempt:
    from reviews.checks import services as check_services

    token, _plain = check_services.token_create(service=w.service, name="CI", by=w.cast["lead"])
    return Attempt(
        "lead",
        _url("reviews:token_revoke", w.service.slug, token.pk),
        changes={"reviews.servicetoken": {token.pk}},
    )


PUSHED_CHECKLIST = b"""---
title: Pushed
slug: pushed
checks:
  load-is-tested: [ci.load_test]
---
## Ops
- **Load is tested**
"""


@scenario("api:push_evidence")
def _push_evidence(w: World) -> Attempt:
    import json

    from checklists.parsers import parse_file
    from checklists.services import checklist_import
    from reviews import services
    from reviews.checks import services as check_services
    from tests.factories import ServiceFactory

    version = checklist_import(
        parsed=parse_file("p.md", PUSHED_CHECKLIST).checklist, by=None, publish=True
    ).version
    pushed = ServiceFactory(name="Claims API", slug="claims-api", team=w.service.team)
    review = services.review_start(service=pushed, checklist_version=version, by=w.cast["lead"])
    _token, plain = check_services.token_create(service=pushed, name="CI", by=w.cast["lead"])
    body = {"check": "ci.load_test", "result": "fail", "summary": "p95 1,800 ms"}
    from django.test import Client

    return Attempt(
        None,  # a CI token, not a person: the rows carry the request, the address and why
        "/api/v1/evidence",
        json.dumps(body),
        client=Client(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {plain}"},
        changes={"reviews.review": {review.pk}},
    )


# --- the checklist library (admins) ----------------------------------------------------------

IMPORTED = b"""---
title: Imported
slug: imported
---
## Ops
- **Backups run**
- Dashboards exist
"""


@scenario("checklists:import")
def _checklist_import(w: World) -> Attempt:
    import re

    from django.core.files.uploadedfile import SimpleUploadedFile

    client = w.client("admin")
    path = _url("checklists:import")
    # The preview (the first POST) writes nothing; the confirmation does.
    preview = client.post(path, {"file": SimpleUploadedFile("imported.md", IMPORTED)})
    found = re.search(r'name="payload" value="([^"]+)"', preview.content.decode())
    assert found, preview.content.decode()[:500]
    return Attempt(
        "admin",
        path,
        {"payload": found.group(1)},
        client=client,
        changes={
            "checklists.checklist": 1,
            "checklists.checklistversion": 1,
            "checklists.section": 1,
            "checklists.item": 2,
        },
    )


def draft_version(w: World) -> Any:
    from checklists.services import version_new_draft

    return version_new_draft(version=w.review.checklist_version, by=w.cast["admin"])


@scenario("checklists:publish")
def _publish(w: World) -> Attempt:
    draft = draft_version(w)
    return Attempt(
        "admin",
        _url("checklists:publish", draft.checklist.slug, draft.number),
        changes={"checklists.checklistversion": {draft.pk}},
    )


@scenario("checklists:new_draft")
def _new_draft(w: World) -> Attempt:
    version = w.review.checklist_version
    return Attempt(
        "admin",
        _url("checklists:new_draft", version.checklist.slug, version.number),
        changes={
            "checklists.checklistversion": 1,
            "checklists.section": 1,
            "checklists.item": 2,
        },
    )


# --- people's own API tokens -------------------------------------------------------------------


@scenario("accounts:api_token_create", own=True)
def _api_token_create(w: World) -> Attempt:
    return Attempt(
        "lead",
        _url("accounts:api_token_create"),
        {"name": "Weekly report"},
        changes={"accounts.apitoken": 1},
    )


@scenario("accounts:api_token_revoke")
def _api_token_revoke(w: World) -> Attempt:
    from portal.accounts.services import api_token_create

    token, _plain = api_token_create(user=w.cast["lead"], name="Weekly")
    return Attempt(
        "lead",
        _url("accounts:api_token_revoke", token.pk),
        changes={"accounts.apitoken": {token.pk}},
    )


# --- pages that only read, though their views do not say so ---------------------------------
# Better: decorate such a view with @require_safe, and it leaves this table.
READS: dict[str, str] = {
    "^api(?:/.*)?$": "the API's answer for an address it does not have (404, any method)",
    "api:api-root": "the API's index",
    "api:openapi-json": "the API's OpenAPI document",
    "api:openapi-view": "the API's documentation page",
    "account_email_verification_sent": "a page saying an email is on its way",
    "accounts/social/connections/": "an old address, redirected",
    "accounts/social/login/cancelled/": "an old address, redirected",
    "accounts/social/login/error/": "an old address, redirected",
    "accounts/social/signup/": "an old address, redirected",
    "accounts:home": "the home page",
    "accounts:administration": "the administration page",
    "accounts:profile": "the account page",
    "checklists:library": "the checklist library",
    "checklists:checklist": "a checklist",
    "checklists:compare": "two versions compared",
    "checklists:version": "a checklist version",
    "reviews:services": "the services",
    "reviews:service": "a service",
    "reviews:review": "a review",
    "reviews:evidence_file": "an evidence file (its download is an event: file_downloaded)",
    "reviews:queue": "the review queue",
    "reviews:check_catalogue": "the checks catalogue",
    "reviews:check_runs": "the check runs",
    "reviews:check_run": "one check run",
    "reviews:portfolio": "the portfolio",
    "reviews:portfolio_heat_map": "the heat map",
    "reviews:portfolio_trends": "the trends",
    "reviews:portfolio_csv": "the portfolio as CSV (an export: the event exported)",
    "reviews:portfolio_report": "the printable portfolio",
    "reviews:audit_session": "a launch audit",
}


# --- signing in and people's own accounts (allauth) --------------------------------------------
# Each is the person's own business, so the auditor may do them too (OWN_ACCOUNT):
# signing in and out, their password, email addresses and two-factor set-up.

NEW_PASSWORD = "a different horse battery staple"


def _visitor() -> Any:
    from django.test import Client

    return Client()


def _own(who: str | None, path: str, data: Any = None, **options: Any) -> Attempt:
    return Attempt(who, path, data, **options)


@scenario("account_login", own=True)
def _login(w: World) -> Attempt:
    from tests.conftest import PASSWORD

    data = {"login": w.cast["lead"].email, "password": PASSWORD}
    # Signing in writes last_login, which history leaves out: an event, no history row.
    return _own(None, _url("account_login"), data, client=_visitor(), events=("login_succeeded",))


@scenario("account_logout", own=True)
def _logout(w: World) -> Attempt:
    return _own("lead", _url("account_logout"), events=("logout",))


@scenario("account_signup", own=True)
def _signup(w: World) -> Attempt:
    data = {"email": "new@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    # Sign-up is closed (people come from single sign-on or an admin): nothing is written.
    return _own(None, _url("account_signup"), data, client=_visitor())


@scenario("account_reauthenticate", own=True)
def _reauthenticate(w: World) -> Attempt:
    from tests.conftest import PASSWORD

    client = signed_in(w.cast["lead"].email)
    return _own("lead", _url("account_reauthenticate"), {"password": PASSWORD}, client=client)


@scenario("account_email", own=True)
def _email_add(w: World) -> Attempt:
    data = {"action_add": "", "email": "lead.second@example.com"}
    return _own("lead", _url("account_email"), data, events=("email_added",))


@scenario("account_change_password", own=True)
def _password_change(w: World) -> Attempt:
    from tests.conftest import PASSWORD

    data = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    # The hash is left out of history: the change is an event, not a row.
    return _own("lead", _url("account_change_password"), data, events=("password_changed",))


@scenario("account_set_password", own=True)
def _password_set(w: World) -> Attempt:
    from tests.factories import UserFactory

    person = UserFactory(email="sso-only@example.com")
    person.set_unusable_password()
    person.save()
    w.cast["sso_only"] = person
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    return _own("sso_only", _url("account_set_password"), data, events=("password_set",))


@scenario("account_reset_password", own=True)
def _password_reset_asked(w: World) -> Attempt:
    # Asking for a reset link writes nothing (the email goes out from a worker).
    data = {"email": w.cast["lead"].email}
    return _own(None, _url("account_reset_password"), data, client=_visitor())


@scenario("account_reset_password_from_key", own=True)
def _password_reset(w: World) -> Attempt:
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    lead = w.cast["lead"]
    uid, key = user_pk_to_url_str(lead), default_token_generator.make_token(lead)
    client = _visitor()
    # The link's key goes into the session, and the form is at the "set-password" address.
    form = client.get(_url("account_reset_password_from_key", uid, key))
    assert form.status_code == 302, form.status_code
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    return _own(None, form["Location"], data, client=client, events=("password_changed",))


@scenario("account_confirm_login_code", own=True)
def _login_code(w: World) -> Attempt:
    # Sign-in by emailed code is off: nothing is pending, nothing is written.
    return _own(None, _url("account_confirm_login_code"), {"code": "123456"}, client=_visitor())


@scenario("account_confirm_email", own=True)
def _email_confirm(w: World) -> Attempt:
    from allauth.account.models import EmailAddress, EmailConfirmationHMAC

    address = EmailAddress.objects.create(
        user=w.cast["lead"], email="lead.second@example.com", verified=False, primary=False
    )
    key = EmailConfirmationHMAC(address).key
    # The lead had no address on file: the confirmed one becomes their primary address.
    return _own(
        "lead",
        _url("account_confirm_email", key),
        events=("email_confirmed",),
        changes={"accounts.user": {w.cast["lead"].pk}},
    )


def totp_code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    return str(format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time()))))


def with_totp(w: World, who: str) -> Any:
    """A client of ``who``, just re-authenticated, who has an authenticator app."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    client = signed_in(w.cast[who].email)
    TOTP.activate(w.cast[who], generate_totp_secret())
    return client


@scenario("mfa_activate_totp", commits=True, own=True)
def _totp_activate(w: World) -> Attempt:
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY

    client = signed_in(w.cast["lead"].email)
    client.get(_url("mfa_activate_totp"))  # makes the secret the app is to learn
    code = totp_code(client.session[SECRET_SESSION_KEY])
    # The app, and the recovery codes allauth makes with it.
    return _own(
        "lead",
        _url("mfa_activate_totp"),
        {"code": code},
        client=client,
        events=("mfa_enrolled", "mfa_enrolled"),
    )


@scenario("mfa_deactivate_totp", commits=True, own=True)
def _totp_deactivate(w: World) -> Attempt:
    client = with_totp(w, "lead")
    return _own("lead", _url("mfa_deactivate_totp"), client=client, events=("mfa_removed",))


@scenario("mfa_generate_recovery_codes", commits=True, own=True)
def _recovery_codes(w: World) -> Attempt:
    client = with_totp(w, "lead")
    return _own("lead", _url("mfa_generate_recovery_codes"), client=client, events=("mfa_reset",))


@scenario("mfa_authenticate", "mfa_reauthenticate", own=True)
def _mfa_code_nothing_pending(w: World) -> Attempt:
    # Nobody is half-way through signing in (or has an authenticator): nothing to check.
    return _own("lead", _url("mfa_reauthenticate"), {"code": "123456"})


@scenario("socialaccount_signup", own=True)
def _sso_signup_nothing_pending(w: World) -> Attempt:
    # No single sign-on is half-way through: the page sends the visitor to sign in.
    return _own(None, _url("socialaccount_signup"), {"email": "x@example.com"}, client=_visitor())


SSO_APP = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": "sso",
                "name": "Agency SSO",
                "client_id": "preflight",
                "secret": "not-used",
                "settings": {"server_url": "https://sso.example.gov"},
            }
        ]
    }
}


@scenario("socialaccount_connections", own=True)
def _sso_unlink(w: World) -> Attempt:
    from allauth.socialaccount.models import SocialAccount

    w.settings.SOCIALACCOUNT_PROVIDERS = SSO_APP
    account = SocialAccount.objects.create(user=w.cast["lead"], provider="sso", uid="idp-1")
    return _own(
        "lead", _url("socialaccount_connections"), {"account": account.pk}, events=("sso_unlinked",)
    )


# --- launch audits, the journal and the record's own pages ------------------------------------


def _filled(client: Any, path: str, **values: Any) -> dict[str, Any]:
    """The form at ``path`` as its page offers it, with ``values`` typed in."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return form_fields(page.content.decode()) | values


def _session_form(w: World, client: Any, path: str) -> dict[str, Any]:
    from datetime import timedelta

    from django.db.models import F

    from reviews.models import Review

    # The audit works from a whole minute of the record: the review began before it.
    Review.objects.filter(pk=w.review.pk).update(created_at=F("created_at") - timedelta(hours=1))
    return _filled(
        client,
        path,
        title="Launch audit, June",
        minutes="Walked through backups and alerting.",
        attendees=[str(w.cast["reviewer"].pk), str(w.cast["lead"].pk)],
    )


@scenario("reviews:audit_session_create")
def _audit_session_create(w: World) -> Attempt:
    client = w.client("reviewer")
    path = _url("reviews:audit_session_create", w.review.pk)
    return Attempt(
        "reviewer",
        path,
        _session_form(w, client, path),
        client=client,
        changes={"reviews.auditsession": 1},
    )


def launch_audit(w: World) -> Any:
    """A launch audit recorded by the reviewer through its page."""
    from reviews.models import AuditSession

    client = w.client("reviewer")
    path = _url("reviews:audit_session_create", w.review.pk)
    response = client.post(path, _session_form(w, client, path))
    assert response.status_code == 302, response.content.decode()[:800]
    return AuditSession.objects.get(review=w.review)


@scenario("reviews:audit_session_edit")
def _audit_session_edit(w: World) -> Attempt:
    session = launch_audit(w)
    client = w.client("reviewer")
    path = _url("reviews:audit_session_edit", session.pk)
    data = _filled(client, path, minutes="Walked through backups, alerting and restores.")
    return Attempt(
        "reviewer", path, data, client=client, changes={"reviews.auditsession": {session.pk}}
    )


@scenario("reviews:journal")
def _journal_write(w: World) -> Attempt:
    client = w.client("lead")
    path = _url("reviews:journal", w.service.slug)
    data = _filled(client, path, body="Restore drill moved to June.")
    return Attempt("lead", path, data, client=client, changes={"reviews.journalnote": 1})


@scenario("reviews:journal_note_edit")
def _journal_edit(w: World) -> Attempt:
    from reviews.models import JournalNote

    client = w.client("lead")
    path = _url("reviews:journal", w.service.slug)
    client.post(path, _filled(client, path, body="Restore drill moved to June."))
    note = JournalNote.objects.get(service=w.service)
    path = _url("reviews:journal_note_edit", note.pk)
    data = _filled(client, path, body="Restore drill moved to July.")
    return Attempt("lead", path, data, client=client, changes={"reviews.journalnote": {note.pk}})


@scenario("audit:verify", own=True)
def _verify(w: World) -> Attempt:
    # Verifying reads the whole record and changes nothing; a POST so that no link or
    # crawler starts it.
    return Attempt("auditor", _url("audit:verify"), changes={})


@scenario("openid_connect_login", "openid_connect_callback", own=True)
def _sso_without_a_provider(w: World) -> Attempt:
    # No identity provider is configured here: the pages answer without writing.
    # tests/test_oidc.py signs in through a real (local) one.
    path = "/accounts/oidc/sso/login/"
    return _own(None, path, client=_visitor(), ok=(200, 302, 404))


# --- the Django admin ---------------------------------------------------------------------------
# Its pages come from the registered models. For a model the record follows, each page
# that writes (add, change, delete, the list's actions, simple-history's revert) either
# has a scenario below, as the superuser admin ``root``, or is refused by the model's
# admin (tests/test_record_capture.py checks the refusal writes nothing). A model the
# record does not follow is in ADMIN_UNFOLLOWED: its changes are admin_action events
# (Django's own admin log), as the group scenarios show.

ADMIN_WRITES = ("add", "change", "delete", "changelist", "simple_history")

ADMIN_UNFOLLOWED: dict[str, str] = {
    "auth.group": "roles are groups: role changes are role events, the rest admin_action",
    "account.emailaddress": "allauth's email addresses: admin_action events",
    "mfa.authenticator": "allauth's authenticators: admin_action events",
    "socialaccount.socialapp": "single sign-on apps: admin_action events",
    "socialaccount.socialtoken": "single sign-on tokens: admin_action events",
    "socialaccount.socialaccount": "single sign-on accounts: admin_action events",
    "django_celery_beat.periodictask": "beat's schedule: admin_action events",
    "django_celery_beat.clockedschedule": "beat's schedule: admin_action events",
    "django_celery_beat.crontabschedule": "beat's schedule: admin_action events",
    "django_celery_beat.solarschedule": "beat's schedule: admin_action events",
    "django_celery_beat.intervalschedule": "beat's schedule: admin_action events",
    "audit.auditevent": "security events: read-only (add, change and delete refused)",
    "outbox.outboxtask": "tasks waiting for the broker, not records: trying one again "
    "is an admin_action event",
}

# The admin's own pages that write: signing in and out, one's own password.
ADMIN_SITE_READS = {
    "admin:index": "the admin's index",
    "admin:app_list": "an app's models",
    "admin:jsi18n": "the admin's translations",
    "admin:autocomplete": "search results for a select",
    "admin:view_on_site": "a redirect to the record's page",
    "admin:password_change_done": "a page saying the password changed",
    "admin/(?P<url>.*)$": "the admin's catch-all: sends unknown addresses to the index",
}


def admin_models() -> dict[str, Any]:
    """label -> ModelAdmin of every model in the admin."""
    from django.contrib import admin

    return {model._meta.label_lower: ma for model, ma in admin.site._registry.items()}


def admin_key(label: str, action: str) -> str:
    app_label, model_name = label.split(".")
    return f"admin:{app_label}_{model_name}_{action}"


def admin_route_label(route: Route) -> tuple[str, str] | None:
    """(model label, admin action) of an admin route, or None for the site's own pages."""
    for label in admin_models():
        app_label, model_name = label.split(".")
        prefix = f"admin:{app_label}_{model_name}_"
        if route.key.startswith(prefix):
            return label, route.key.removeprefix(prefix)
        if route.route == f"admin/{app_label}/{model_name}/<path:object_id>/":
            return label, "redirect"  # the old change address, redirected
    return None


def admin_allows(label: str, action: str, root: Any) -> bool:
    """Whether the model's admin lets a superuser use ``action`` at all."""
    from django.test import RequestFactory

    request = RequestFactory().post("/admin/")
    request.user = root
    ma = admin_models()[label]
    if action == "add":
        return bool(ma.has_add_permission(request))
    if action in ("change", "simple_history"):
        return bool(ma.has_change_permission(request))
    if action == "delete":
        return bool(ma.has_delete_permission(request))
    if action == "changelist":
        return bool(ma.get_actions(request))
    return False


@dataclass(frozen=True)
class AdminSpec:
    """How to exercise one followed model's admin pages."""

    make: Callable[[World], Any]  # a record to change, revert and delete
    typed: dict[str, Any]  # what the change (and revert) form gets typed into it
    added: dict[str, Any] | None = None  # a new record's fields, for the add page
    deleted: Callable[[World, Any], dict[str, Any]] | None = None  # what a delete removes
    events: tuple[str, ...] = ()  # events each write of it records
    bulk_action: str = "delete_selected"  # the list's action the changelist scenario runs
    bulk_changes: Callable[[World, Any], dict[str, Any]] | None = None
    # The pages its admin allows (the others are refused: see the capture test).
    actions: tuple[str, ...] = ADMIN_WRITES
    deleted_events: tuple[str, ...] = ()


def _root() -> str:
    return "root"


def _admin_form(w: World, path: str, **typed: Any) -> dict[str, Any]:
    client = w.client("root")
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return form_fields(page.content.decode(), form_id="") | typed


def _admin_scenarios(label: str, spec: AdminSpec) -> None:
    app_label, model_name = label.split(".")
    base = f"/admin/{app_label}/{model_name}/"

    def change(w: World) -> Attempt:
        obj = spec.make(w)
        path = f"{base}{obj.pk}/change/"
        return Attempt(
            "root",
            path,
            _admin_form(w, path, **spec.typed),
            changes={label: {obj.pk}},
            events=spec.events,
        )

    def add(w: World) -> Attempt:
        path = f"{base}add/"
        return Attempt(
            "root",
            path,
            _admin_form(w, path, **(spec.added or {})),
            changes={label: 1},
            events=spec.events,
        )

    def delete(w: World) -> Attempt:
        obj = spec.make(w)
        changes = spec.deleted(w, obj) if spec.deleted else {label: {obj.pk}}
        return Attempt(
            "root",
            f"{base}{obj.pk}/delete/",
            {"post": "yes"},
            changes=changes,
            events=spec.deleted_events,
        )

    def changelist(w: World) -> Attempt:
        obj = spec.make(w)
        if spec.bulk_changes is not None:
            changes = spec.bulk_changes(w, obj)
        else:
            changes = spec.deleted(w, obj) if spec.deleted else {label: {obj.pk}}
        data = {"action": spec.bulk_action, "_selected_action": [str(obj.pk)], "post": "yes"}
        events = spec.deleted_events if spec.bulk_action == "delete_selected" else spec.events
        return Attempt("root", base, data, changes=changes, events=events)

    def revert(w: World) -> Attempt:
        obj = spec.make(w)
        first = type(obj).history.filter(**{type(obj)._meta.pk.attname: obj.pk}).earliest()
        path = f"{base}{obj.pk}/history/{first.history_id}/"
        return Attempt(
            "root",
            path,
            _admin_form(w, path, **spec.typed),
            changes={label: {obj.pk}},
            events=spec.events,
        )

    pages = {
        "change": change,
        "add": add,
        "delete": delete,
        "changelist": changelist,
        "simple_history": revert,
    }
    for action in spec.actions:
        SCENARIOS[admin_key(label, action)] = pages[action]


def _person(w: World) -> Any:
    from tests.factories import UserFactory

    return UserFactory(email="pat@example.com", first_name="Pat")


def _team(w: World) -> Any:
    from tests.factories import TeamFactory

    return TeamFactory(name="Claims Team", slug="claims")


def _policy(w: World) -> Any:
    from portal.accounts.models import SecurityPolicy

    return SecurityPolicy.current()


def _bare_checklist(w: World) -> Any:
    from checklists.models import Checklist
    from portal.audit.history import acting

    # A checklist with no version yet (one with versions cannot be deleted: they protect it).
    with acting(by=w.cast["admin"], reason="Test set-up"):
        return Checklist.objects.create(title="Scratch", slug="scratch")


def _draft_with_contents(w: World, draft: Any) -> dict[str, Any]:
    return {
        "checklists.checklistversion": {draft.pk},
        "checklists.section": set(draft.sections.values_list("pk", flat=True)),
        "checklists.item": set(draft.items.values_list("pk", flat=True)),
    }


def _draft_section(w: World) -> Any:
    return draft_version(w).sections.get()


def _section_with_items(w: World, section: Any) -> dict[str, Any]:
    return {
        "checklists.section": {section.pk},
        "checklists.item": set(section.items.values_list("pk", flat=True)),
    }


def _connection(w: World) -> Any:
    from reviews.models import PlatformConnection

    connection = PlatformConnection(
        kind="pagerduty", name="PagerDuty", api_url="https://api.pagerduty.com"
    )
    connection.set_secret("u+key")
    connection.save()
    return connection


ADMIN_SPECS: dict[str, AdminSpec] = {
    "accounts.user": AdminSpec(
        actions=("add", "change", "simple_history"),  # people are deactivated, not deleted
        make=_person,
        typed={"first_name": "Patricia"},
        added={
            "email": "new@example.com",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
        },
    ),
    "accounts.team": AdminSpec(
        make=_team, typed={"name": "Claims and Appeals"}, added={"name": "Appeals", "slug": "a"}
    ),
    "accounts.securitypolicy": AdminSpec(
        actions=("change", "simple_history"),  # one row, never added nor deleted by hand
        make=_policy,
        typed={"require_mfa_for_privileged": "on"},
    ),
    "checklists.checklist": AdminSpec(
        actions=("change", "delete", "changelist", "simple_history"),  # added by an import
        make=_bare_checklist,
        typed={"title": "Scratch pad"},
    ),
    "checklists.checklistversion": AdminSpec(
        actions=("change", "delete", "changelist", "simple_history"),  # made by "new draft"
        make=draft_version,
        typed={"change_note": "Tightened the wording"},
        deleted=_draft_with_contents,
        bulk_action="publish",
        bulk_changes=lambda w, draft: {"checklists.checklistversion": {draft.pk}},
    ),
    "checklists.section": AdminSpec(
        actions=("change", "delete", "changelist", "simple_history"),  # added on its version
        make=_draft_section,
        typed={"title": "Operations and backups"},
        deleted=_section_with_items,
    ),
    "reviews.platformconnection": AdminSpec(
        make=_connection,
        typed={"name": "PagerDuty (all teams)"},
        added={"kind": "newrelic", "name": "New Relic", "account": "1234", "secret": "NRAK-1"},
        events=("connection_saved",),
        deleted_events=("connection_deleted",),
    ),
}
for _label, _spec in ADMIN_SPECS.items():
    _admin_scenarios(_label, _spec)


@scenario("admin:auth_user_password_change")
def _admin_sets_a_password(w: World) -> Attempt:
    person = _person(w)
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    # The hash is left out of history: the change is an event, the subject the person.
    return Attempt(
        "root",
        f"/admin/accounts/user/{person.pk}/password/",
        data,
        events=("password_changed",),
    )


@scenario("admin:password_change", own=True)
def _admin_changes_own_password(w: World) -> Attempt:
    from tests.conftest import PASSWORD

    w.cast["root"].set_password(PASSWORD)
    w.cast["root"].save()
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return _own("root", "/admin/password_change/", data, events=("password_changed",))


@scenario("admin:logout", own=True)
def _admin_logout(w: World) -> Attempt:
    return _own("root", "/admin/logout/", events=("logout",))


@scenario("admin:login", own=True)
def _admin_login(w: World) -> Attempt:
    # The admin signs in through allauth (portal/urls.py): this page only sends people there.
    return _own(None, "/admin/login/", {"username": "x", "password": "y"}, client=_visitor())


def _group(w: World) -> Any:
    from django.contrib.auth.models import Group

    return Group.objects.create(name="Contractors")


@scenario("admin:auth_group_add")
def _group_add(w: World) -> Attempt:
    path = "/admin/auth/group/add/"
    return Attempt("root", path, _admin_form(w, path, name="Contractors"), events=("admin_action",))


@scenario("admin:auth_group_change")
def _group_change(w: World) -> Attempt:
    group = _group(w)
    path = f"/admin/auth/group/{group.pk}/change/"
    data = _admin_form(w, path, name="Contractors (2025)")
    return Attempt("root", path, data, events=("admin_action",))


@scenario("admin:auth_group_delete")
def _group_delete(w: World) -> Attempt:
    group = _group(w)
    return Attempt(
        "root", f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}, events=("admin_action",)
    )
