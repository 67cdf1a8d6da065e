"""API fuzzing: schemathesis generates requests from the served OpenAPI document and sends
them to the Django app in-process; no answer may be a server error or break the schema.

Every operation of the document gets the same share of the cases, half valid by the
schema (positive) and half not (negative), and at least ``TOTAL_CASES`` different
requests are sent in all. They are signed as a product lead: a personal API token for the
reads, a CI token of the lead's own service for the push, over a world with a service, a
review and a published checklist for the reads to find. The run is derandomized, so CI
sends the same cases every time; a failure names its operation and a curl to replay it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.accounts.services import api_token_create
from portal.api.urls import api
from reviews.checks.collectors.base import Result
from reviews.checks.services import token_create
from reviews.models import Review

pytestmark = pytest.mark.django_db

TOTAL_CASES = 1000
SCHEMA = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1"))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Each operation's share of the total in each mode, tripled: Hypothesis repeats some
# requests (an operation whose only parameter is ``page`` has few different ones).
MAX_EXAMPLES = 3 * math.ceil(TOTAL_CASES / (len(OPERATIONS) * len(MODES)))
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture
def app() -> Iterator[Callable[..., Any]]:
    """The project's WSGI app, keeping the test's database connection open between
    requests as Django's test client does: closing it would end the test transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(lead, review, settings) -> dict[str, str]:
    """The ``Authorization`` header per security scheme: the lead's personal token for
    the reads, a CI token of the lead's service for the push. ``review`` brings the
    service, the review and a published checklist version for the reads to find."""
    # The push limit would otherwise answer most pushes with a 429 before validating them.
    settings.PUSH_RATE_LIMIT = "100000/m"
    personal = api_token_create(user=lead, name="fuzzing")[1]
    ci = token_create(service=review.service, name="fuzzing", by=lead)[1]
    return {"PersonalTokenAuth": f"Bearer {personal}", "ServiceTokenAuth": f"Bearer {ci}"}


def _authorization(operation: Any, bearer: dict[str, str]) -> str:
    (scheme,) = [
        name
        for requirement in operation.definition.raw.get("security", [])
        for name in requirement
        if name in bearer
    ]
    return bearer[scheme]


def _known_path(operation: Any, review: Review) -> dict[str, Any]:
    """Path parameters naming the world's objects, so the fuzzing reaches the 200s and
    not only the 404s of ids nobody has."""
    version = review.checklist_version
    if operation.path.startswith("/api/v1/checklists/"):
        return {"slug": version.checklist.slug, "number": version.number}
    names = {"slug": review.service.slug, "review_id": review.pk}
    return {
        parameter.name: names[parameter.name]
        for parameter in operation.path_parameters
        if parameter.name in names
    }


def _with_a_known_result(drawn: tuple[Any, str, int]) -> Any:
    # The document types ``result`` as a string and ``fresh_for_days`` as a number; the
    # push takes one of four results and whole days. Without this nearly every push
    # would stop at that 422 and the storing path would go unfuzzed.
    case, result, days = drawn
    if isinstance(case.body, dict):
        case.body = {**case.body, "result": result}
        if "fresh_for_days" in case.body:
            case.body["fresh_for_days"] = days
    return case


def _strategy(operation: Any, mode: GenerationMode, review: Review) -> st.SearchStrategy[Any]:
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is not GenerationMode.POSITIVE:
        return strategy
    known = _known_path(operation, review)
    if known:
        # One case in four: with only path parameters fixed, those cases are mostly alike.
        found = operation.as_strategy(generation_mode=mode, path_parameters=known)
        strategy = st.tuples(st.integers(min_value=0, max_value=3), strategy, found).map(
            lambda drawn: drawn[2] if drawn[0] == 0 else drawn[1]
        )
    if operation.method.upper() == "POST":
        repaired = st.tuples(
            strategy, st.sampled_from(Result.values), st.integers(min_value=1, max_value=365)
        ).map(_with_a_known_result)
        strategy = st.one_of(repaired, strategy)
    return strategy


def test_the_checks_catch_a_server_error_and_an_answer_outside_the_schema() -> None:
    # The run below proves something only if these checks fail on a bad answer.
    (operation,) = [op for op in OPERATIONS if op.label == "GET /api/v1/services"]
    case = operation.Case()
    request = requests.Request("GET", "http://localhost/api/v1/services").prepare()
    json_type = {"content-type": ["application/json"]}
    for status, body in [(500, b'{"error": "Boom"}'), (200, b'{"items": "none"}')]:
        answer = schemathesis.Response(status, json_type, body, request, 0.0, True)
        with pytest.raises(FailureGroup):
            case.validate_response(answer, checks=CHECKS)


def test_the_fuzzed_reads_see_the_lead_s_world(bearer, review) -> None:
    # The reads must find something, or the fuzzing would only ever meet 404s.
    client = Client(HTTP_AUTHORIZATION=bearer["PersonalTokenAuth"])
    body = client.get("/api/v1/services").json()
    assert [item["slug"] for item in body["items"]] == [review.service.slug]
    assert client.get(f"/api/v1/reviews/{review.pk}").status_code == 200


def _fuzz(
    app: Any, operation: Any, mode: GenerationMode, review: Review, bearer: dict[str, str]
) -> list[str]:
    """Send ``MAX_EXAMPLES`` generated cases of ``operation``; return each request sent."""
    authorization = _authorization(operation, bearer)
    sent: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: a failure is reported as generated, and the run stays bounded.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, review))
    def send(case: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": authorization}
        response = case.call(app=app)
        sent.append(repr((case.method, case.formatted_path, case.query, case.body)))
        case.validate_response(response, checks=CHECKS)

    send()
    return sent


def test_no_generated_request_gets_a_server_error_or_an_answer_outside_the_schema(
    app, bearer, review
) -> None:
    assert len(OPERATIONS) >= 9  # every operation of the document, read from it
    failures: list[str] = []
    sent: list[str] = []
    for operation in OPERATIONS:
        for mode in MODES:
            try:
                sent += _fuzz(app, operation, mode, review, bearer)
            except (Exception, FailureGroup) as failure:  # every operation's, not only the first
                failures.append(f"{operation.label} ({mode.value}):\n{failure}")
    assert not failures, "\n\n".join(failures)
    # Hypothesis repeats some requests; only different ones count towards the total.
    assert len(set(sent)) >= TOTAL_CASES, (len(set(sent)), len(sent))
