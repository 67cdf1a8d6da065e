"""Form fuzzing: every HTML form that writes takes hostile input without a 500, escapes
what it echoes, and stores nothing invalid.

Each endpoint starts from its well-formed POST in ``tests/record_writes.py`` (SCENARIOS)
and hypothesis mutates the fields: huge strings, control characters, RTL and zero-width
text, combining marks, script and SQL payloads, wrong types (text where a number, date or
id goes, lists where one value goes), missing and extra fields, and the ids of another
team's records. After each example:

- the response (and the page a redirect leads to) is not a 5xx; the test client re-raises
  any exception a view lets out, so a 500 fails with its traceback;
- an HTML answer carries no raw ``<script>alert(1)`` nor ``<img src=x onerror``;
- every row the example created or changed passes its model's own field rules (each
  field's ``clean``: the text rules of portal.validators, max_length, choices), holds no
  more than 10,000 characters in a text column without a length of its own, and neither
  is nor points at the other team's service, review or answer.

Each example runs in a savepoint rolled back at its end, so the next starts from the same
world. Left out: the JSON API (``api:``; tests/test_push_api_hostile.py and the
schemathesis run in tests/test_api_fuzz.py cover it) and the Django admin (``admin:``;
superuser-only, Django's own forms; tests/test_input_validation.py covers the project's
admin form).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models, transaction
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portal.accounts.models import SecurityPolicy
from reviews.models import Service
from tests.factories import ReviewFactory, ServiceFactory, UserFactory
from tests.record_writes import SCENARIOS, SERVICE_FORM, Attempt, World, routes

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("accounts", "audit", "checklists", "reviews")
EXAMPLES = 3  # generated per endpoint, after the five always tried: ~90 s for ~45 forms

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(1)">'
RAW_MARKUP = ("<script>alert(1)", "<img src=x onerror")

HOSTILE_TEXT = [
    "x" * 100_000,
    "\x00",
    "before\x00after",
    "\x1b[31mred\x1b[0m",
    "\u202egnp.exe",
    "\u200b",
    "zero\u200bwidth\u200djoin",
    "\u202e\u200fمرحبا بالعالم",
    "שלום עולם",
    "Z\u0335\u0327a\u0337l\u0336g\u0335o\u0338" + "\u0301" * 200,
    SCRIPT,
    IMG,
    f'"><{SCRIPT[1:]}',
    "' OR 1=1 --",
    "1; DROP TABLE reviews_review; --",
    "line one\r\nline two",
    "\x85\x7f",
    "",
    " ",
    "../../../etc/passwd",
    "%00",
    "{{ 7*7 }}",
]
WRONG_TYPES = [
    "abc",
    "-1",
    "0",
    "1.5",
    "1e309",
    "99999999999999999999999",
    "2024-02-30",
    "9999-12-31",
    "0001-01-01",
    "true",
    "null",
    "[]",
    "{}",
]


@dataclass
class Other:
    """Another team's records: their ids typed into this team's forms must change nothing
    and end up nowhere."""

    team: Any
    service: Any
    review: Any
    answer: Any

    def ids(self) -> list[str]:
        return [str(x.pk) for x in (self.team, self.service, self.review, self.answer)]

    def forbidden(self) -> dict[str, set[Any]]:
        """model label -> pks no row of this team may become or point at."""
        return {
            "accounts.team": {self.team.pk},
            "reviews.service": {self.service.pk},
            "reviews.review": {self.review.pk},
            "reviews.answer": {self.answer.pk},
        }


@pytest.fixture
def world(cast, service, review, answer, settings) -> World:
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    SecurityPolicy.current()
    return World(
        cast={**cast, "root": root},
        service=service,
        review=review,
        answer=answer,
        settings=settings,
    )


@pytest.fixture
def other(permits_team, cast) -> Other:
    service = ServiceFactory(name="Permits portal", slug="permits-portal", team=permits_team)
    review = ReviewFactory(service=service, by=cast["other_lead"])
    return Other(permits_team, service, review, review.answers.first())


def fuzzed_keys() -> list[str]:
    keys = {r.key for r in routes() if r.writes} & set(SCENARIOS)
    return sorted(k for k in keys if not k.startswith(("api:", "admin:")))


# --- what "invalid" means: the models' own field rules ---------------------------------------


def project_models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models()
        if m._meta.app_label in PROJECT_APPS
        and not m.__name__.startswith("Historical")
        and isinstance(m._meta.pk, models.AutoField | models.BigAutoField)
    ]


def history_models() -> list[Any]:
    return [
        m
        for m in apps.get_models()
        if m.__name__.startswith("Historical") and hasattr(m, "instance_type")
    ]


@dataclass
class Mark:
    """Where every project table and history table stood when an example began."""

    tops: dict[Any, int]
    history: dict[Any, int]

    @classmethod
    def now(cls) -> Mark:
        def top(model: Any, field: str) -> int:
            return model.objects.order_by(f"-{field}").values_list(field, flat=True).first() or 0

        return cls(
            tops={m: top(m, "pk") for m in project_models()},
            history={m: top(m, "history_id") for m in history_models()},
        )

    def touched(self) -> Iterator[models.Model]:
        """Every row created since (by primary key) or changed since (by its history)."""
        seen: set[tuple[Any, Any]] = set()
        for model, top in self.tops.items():
            for row in model.objects.filter(pk__gt=top):
                seen.add((model, row.pk))
                yield row
        for hmodel, top in self.history.items():
            model = hmodel.instance_type
            pk_name = model._meta.pk.attname
            changed = hmodel.objects.filter(history_id__gt=top).values_list(pk_name, flat=True)
            for pk in set(changed) - {pk for m, pk in seen if m is model}:
                row = model._default_manager.filter(pk=pk).first()
                if row is not None:  # deleted rows are gone: nothing stored
                    yield row


# The longest free text any form takes (an answer's notes, an evidence note): a text
# column without a max_length of its own must not store more from a form either.
LONGEST_TEXT = 10_000


def field_errors(row: models.Model) -> dict[str, list[str]]:
    """The model's own rules for each field's stored value (validators, max_length,
    choices); not blank=False, which services legitimately leave to defaults."""
    errors: dict[str, list[str]] = {}
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        if value in field.empty_values or isinstance(field, models.ForeignKey):
            continue
        try:
            field.clean(value, row)
        except ValidationError as refused:
            errors[field.name] = refused.messages
        unbounded = isinstance(field, models.TextField) and not field.max_length
        if unbounded and len(value) > LONGEST_TEXT:
            errors.setdefault(field.name, []).append(f"{len(value):,} characters stored")
    return errors


def pointers(row: models.Model, forbidden: dict[str, set[Any]]) -> list[str]:
    found = []
    label = row._meta.label_lower
    if row.pk in forbidden.get(label, set()):
        found.append(f"{label} {row.pk} itself changed")
    for field in row._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            target = field.related_model._meta.label_lower
            value = getattr(row, field.attname)
            if value is not None and value in forbidden.get(target, set()):
                found.append(f"{label} {row.pk}.{field.name} -> {target} {value}")
    return found


# --- the mutations ------------------------------------------------------------------------
# Drawn without the world (hypothesis wants strategies that do not depend on fixtures): a
# field is named by its index among the POST's fields, and "@other" stands for the other
# team's ids, filled in when the example runs.

OTHER = "@other"
EXTRA_FIELDS = ["id", "pk", "team", "by", "state", "created_by", "is_staff", "x"]

values = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from(WRONG_TYPES),
    st.just(OTHER),
    st.text(max_size=40),
)
Op = tuple[str, int, Any]
ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "append", "listify", "drop", "extra"]),
        st.integers(0, 40),
        st.one_of(values, st.lists(values, min_size=2, max_size=3)),
    ),
    min_size=1,
    max_size=3,
)


def mutate(data: dict[str, Any], mutations: list[Op], other: Other) -> dict[str, Any]:
    """The well-formed POST with each mutation applied: a field set, appended to, given
    several values, or dropped; a field the form does not have added; or every field set
    at once ("all"), or none sent ("empty")."""
    data = dict(data)
    ids = other.ids()

    def resolve(value: Any, n: int) -> Any:
        if isinstance(value, list):
            return [resolve(v, n + i) for i, v in enumerate(value)]
        return ids[n % len(ids)] if value == OTHER else value

    for op, n, value in mutations:
        names = sorted(data)
        if op == "empty":
            data = {}
        elif op == "all":
            data = {name: resolve(value, n + i) for i, name in enumerate(names)}
        elif op == "extra" or not names:
            data[EXTRA_FIELDS[n % len(EXTRA_FIELDS)]] = resolve(value, n)
        elif op == "set":
            data[names[n % len(names)]] = resolve(value, n)
        elif op == "listify":
            data[names[n % len(names)]] = resolve(
                value if isinstance(value, list) else [value, value], n
            )
        elif op == "append":
            name = names[n % len(names)]
            current = data[name][0] if isinstance(data[name], list) else data[name]
            added = resolve(value, n)
            data[name] = f"{current}{added[0] if isinstance(added, list) else added}"
        else:
            del data[name]
    return data


# --- the test -----------------------------------------------------------------------------


def refreshed(world: World) -> World:
    """The world as the database has it again: a rolled-back example may have changed the
    in-memory objects (a revision, a state) or added someone to the cast."""
    for obj in (world.service, world.review, world.answer, *world.cast.values()):
        obj.refresh_from_db()
    return World(dict(world.cast), world.service, world.review, world.answer, world.settings)


def send(client: Any, attempt: Attempt, data: dict[str, Any], htmx: bool) -> Any:
    headers = dict(attempt.headers or {})
    if htmx:
        headers["HX-Request"] = "true"
    return getattr(client, attempt.method)(attempt.path, data, headers=headers)


def assert_safe(key: str, response: Any, where: str) -> None:
    assert response.status_code < 500, (key, where, response.status_code)
    if "html" in response.get("Content-Type", "") and not response.streaming:
        page = response.content.decode(errors="replace")
        for raw in RAW_MARKUP:
            assert raw not in page, (key, where, raw)


def check_example(key: str, world: World, other: Other, mutations: list[Op], htmx: bool) -> None:
    cache.clear()  # rate limits: one example's failures must not throttle the next
    with transaction.atomic():  # each example starts from the same world: rolled back below
        now = refreshed(world)
        attempt = SCENARIOS[key](now)
        client = attempt.client or now.client(attempt.who or "")
        base = attempt.data if isinstance(attempt.data, dict) else {}
        data = mutate(base, mutations, other)
        mark = Mark.now()

        response = send(client, attempt, data, htmx)
        assert_safe(key, response, "the answer")
        location = response.get("Location", "")
        if response.status_code in (301, 302, 303) and location.startswith("/"):
            assert_safe(key, client.get(location), location)

        problems = {}
        forbidden = other.forbidden()
        for row in mark.touched():
            if errors := field_errors(row):
                problems[f"{row._meta.label_lower} {row.pk}"] = errors
            if found := pointers(row, forbidden):
                problems[f"{row._meta.label_lower} {row.pk} -> other team"] = found
        assert not problems, (key, data if len(str(data)) < 2000 else "(huge)", problems)
        transaction.set_rollback(True)


@pytest.mark.parametrize("key", fuzzed_keys())
def test_hostile_input_to_a_form_is_refused_or_stored_valid_never_a_500(key, world, other):
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,  # nothing written to the work tree; failures print their example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutations=ops, htmx=st.booleans())
    # Always tried on every form: each field at once a script, 100,000 characters, a NUL
    # inside text, another team's ids; and nothing sent at all.
    @example(mutations=[("all", 0, SCRIPT)], htmx=False)
    @example(mutations=[("all", 0, "x" * 100_000)], htmx=True)
    @example(mutations=[("all", 0, "before\x00after")], htmx=False)
    @example(mutations=[("all", 0, OTHER)], htmx=False)
    @example(mutations=[("empty", 0, "")], htmx=True)
    def run(mutations: list[Op], htmx: bool) -> None:
        check_example(key, world, other, mutations, htmx)

    run()


def test_the_check_flags_a_row_stored_around_the_rules(world, other):
    """The fuzz test's own check finds what it looks for: a control character written
    past the forms and services, and a row pointing at the other team's service."""
    from reviews.models import Comment

    mark = Mark.now()
    Comment.objects.create(answer=world.answer, author=world.cast["lead"], body="hi\x1b[31m")
    Service.objects.filter(pk=world.service.pk).update(description="ok")  # no history: unseen
    found = [errors for row in mark.touched() if (errors := field_errors(row))]
    assert found == [{"body": ["Remove the control character (U+001B) from this field."]}]
    assert pointers(other.review, other.forbidden()) == [
        f"reviews.review {other.review.pk} itself changed",
        f"reviews.review {other.review.pk}.service -> reviews.service {other.service.pk}",
    ]


def test_every_html_form_that_writes_is_fuzzed():
    keys = fuzzed_keys()
    assert len(keys) >= 40, keys
    assert {"reviews:service_create", "reviews:answer", "account_login"} <= set(keys)


def test_a_service_description_longer_than_10000_characters_is_refused(client_for, lead):
    # Found by the fuzzing above: the description column has no length of its own, and the
    # service form stored 100,000 characters.
    data = SERVICE_FORM | {"team": lead.teams.get().pk, "description": "x" * 10_001}
    response = client_for(lead).post("/services/new/", data)
    assert response.status_code == 400
    assert "at most 10000 characters (it has 10001)" in response.content.decode()
    assert not Service.objects.filter(slug="claims-api").exists()
