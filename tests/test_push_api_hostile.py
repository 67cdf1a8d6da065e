"""The push API under hostile input: every refusal is a 4xx JSON error, never a 500 or a
wrong answer, and nothing is stored.

Each test posts real bytes through the test client with a real token, so the JSON
decoder, the payload model, the database (PostgreSQL's text and jsonb) and Django's own
limits all take part.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from checklists.parsers import parse_file
from checklists.services import checklist_import
from portal import errors
from reviews import services
from reviews.checks.pushed import IdempotencyKeyReused, PushedEvidence
from reviews.checks.services import evidence_push, token_create
from reviews.models import CheckResult, CheckRun, CheckRunTrigger, Service, ServiceToken
from tests.test_pushed_evidence import CHECKLIST, GOOD
from tests.test_settings import manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(lead, benefits_team):
    version = checklist_import(
        parsed=parse_file("p.md", CHECKLIST).checklist, by=None, publish=True
    ).version
    service = Service.objects.create(
        name="Benefits portal", slug="benefits-portal", team=benefits_team
    )
    services.review_start(service=service, checklist_version=version, by=lead)
    return service


@pytest.fixture
def token(service, lead):
    return token_create(service=service, name="GitHub Actions", by=lead)[1]


def post(token, raw: bytes | str, path="/api/v1/evidence", method="post", **headers):
    """Post exactly these bytes, as a pipeline (or a probe) would."""
    send = getattr(Client(), method)
    if method in ("get", "head"):  # no body: Django's client puts data in the query string
        return send(path, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)
    return send(
        path,
        data=raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **headers,
    )


def with_observed(observed_json: str, **fields) -> str:
    """GOOD with ``observed`` spliced in as raw JSON text (json.dumps cannot write NaN's
    kin, deep nesting or a 4,500-digit integer the way a probe does)."""
    head = json.dumps({**GOOD, **fields})[:-1]
    return f'{head}, "observed": {observed_json}}}'


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    message = response.json()["error"]
    for word in words:
        assert word in message, message
    assert CheckResult.objects.count() == 0


# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_nan_and_infinity_in_observed_are_refused_and_nothing_is_stored(token, number):
    response = post(token, with_observed(f'{{"p95": {number}}}'))
    assert_refused(response, 422, "observed", "p95", "not finite")


def test_nan_with_an_idempotency_key_is_refused_rather_than_answered_with_an_earlier_result(
    token,
):
    first = post(token, json.dumps({**GOOD, "idempotency_key": "build-7"}))
    assert first.status_code == 201
    again = post(token, with_observed('{"p95": NaN}', idempotency_key="build-7"))
    assert again.status_code == 422
    assert "not finite" in again.json()["error"]
    assert CheckResult.objects.count() == 1


def test_a_4500_digit_integer_is_refused_and_nothing_is_stored(token):
    response = post(token, with_observed('{"n": ' + "9" * 4500 + "}"))
    assert_refused(response, 422, "integer", "64 bits")


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1])
def test_an_integer_beyond_64_bits_is_refused_and_nothing_is_stored(token, number):
    response = post(token, with_observed(f'{{"n": {{"deeper": [{number}]}}}}'))
    assert_refused(response, 422, "observed", "n.deeper[0]", "64 bits")


def test_integers_and_floats_within_bounds_are_stored_as_sent(token):
    observed = {"max": 2**63 - 1, "min": -(2**63), "tiny": 1e-300, "huge": 1e300, "ok": True}
    response = post(token, json.dumps({**GOOD, "observed": observed}))
    assert response.status_code == 201
    assert CheckResult.objects.get().observed == pytest.approx(observed)


# --- nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_observed_nested_5000_deep_is_refused_and_nothing_is_stored(token, opening, closing):
    deep = '{"x": ' + opening * 5000 + "1" + closing * 5000 + "}"
    response = post(token, with_observed(deep))
    assert_refused(response, 400, "nested too deeply")


def test_observed_nested_past_32_levels_is_refused_naming_the_limit(token):
    response = post(token, with_observed('{"x": ' + "[" * 32 + "1" + "]" * 32 + "}"))
    assert_refused(response, 422, "observed", "deeper than 32 levels")


def test_observed_nested_32_levels_is_accepted(token):
    response = post(token, with_observed('{"x": ' + "[" * 31 + "1" + "]" * 31 + "}"))
    assert response.status_code == 201


# --- characters PostgreSQL cannot store, and control characters -------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (json.dumps({**GOOD, "summary": "p95\u0000180 ms"}), "summary"),
        (json.dumps({**GOOD, "idempotency_key": "build\u0000-1"}), "idempotency_key"),
        (json.dumps({**GOOD, "check": "ci.load_test\u0000"}), "check"),
        (json.dumps({**GOOD, "link": "https://ci.example.com/\u0000"}), "link"),
        (with_observed('{"k\\u0000ey": 1}'), "observed"),
        (with_observed('{"key": "va\\u0000lue"}'), "observed"),
        (with_observed('{"key": ["fine", {"deep": "\\u0000"}]}'), "observed"),
    ],
)
def test_a_nul_anywhere_is_refused_naming_the_field_and_nothing_is_stored(token, body, field):
    response = post(token, body)
    assert_refused(response, 422, field)


@pytest.mark.parametrize("character", ["\u001b", "\u0007", "\u007f", "\u0085", "\u009b"])
def test_control_characters_in_the_summary_are_refused(token, character):
    response = post(token, json.dumps({**GOOD, "summary": f"p95 {character}[31m180 ms"}))
    assert_refused(response, 422, "summary", "control character")


@pytest.mark.parametrize("field", ["idempotency_key", "check"])
@pytest.mark.parametrize("character", ["\n", "\t", "\r", "\u001b", "\u0085"])
def test_control_characters_in_keys_are_refused(token, field, character):
    value = {"idempotency_key": "build-1", "check": "ci.load_test"}[field] + character
    response = post(token, json.dumps({**GOOD, field: value}))
    assert_refused(response, 422, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"check": "ci.load_test", "result": "pass", "summary": "a\\ud800"}', "summary"),
        (json.dumps(GOOD)[:-1] + ', "idempotency_key": "b\\udc00"}', "idempotency_key"),
        (json.dumps(GOOD)[:-1] + ', "link": "https://ci.example.com/\\ud800"}', "link"),
        (with_observed('{"k": "\\udfff"}'), "observed"),
        (with_observed('{"\\udfff": 1}'), "observed"),
    ],
)
def test_a_lone_surrogate_is_refused_rather_than_failing_to_encode(token, body, field):
    # UTF-8 cannot encode it, so PostgreSQL would never get it: a 500 before this.
    assert_refused(post(token, body), 422, field)


def test_a_summary_keeps_its_newlines_and_tabs(token):
    response = post(token, json.dumps({**GOOD, "summary": "p95 180 ms\n\tp99 240 ms\r\n"}))
    assert response.status_code == 201
    assert CheckResult.objects.get().explanation == "p95 180 ms\n\tp99 240 ms"


# --- types and links -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"fresh_for_days": True}, "fresh_for_days"),
        ({"fresh_for_days": "30"}, "fresh_for_days"),
        ({"fresh_for_days": 30.0}, "fresh_for_days"),
        ({"summary": 180}, "summary"),
        ({"summary": True}, "summary"),
        ({"idempotency_key": 42}, "idempotency_key"),
        ({"result": 1}, "result"),
        ({"observed": [1, 2]}, "observed"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(token, fields, field):
    response = post(token, json.dumps({**GOOD, **fields}))
    assert_refused(response, 422, field)


@pytest.mark.parametrize(
    "link",
    [
        "https://",
        "http://exa mple.com/",
        "https://example.com/\nSet-Cookie: x",
        "ftp://ci.example.com/1",
        "https:///path-only",
        "https://ci.example.com/" + "a" * 2000,
    ],
)
def test_a_link_that_is_not_a_well_formed_http_url_is_refused(token, link):
    response = post(token, json.dumps({**GOOD, "link": link}))
    assert_refused(response, 422, "link")


# --- size ---------------------------------------------------------------------------------


def test_a_3_mb_body_gets_a_413_json_error_and_nothing_is_stored(token):
    response = post(token, with_observed(json.dumps({"log": "x" * (3 * 1024 * 1024)})))
    assert_refused(response, 413, "larger than 64 KB")


def test_a_content_length_that_is_not_a_number_is_refused(token):
    response = post(token, json.dumps(GOOD), CONTENT_LENGTH="lots")
    assert_refused(response, 400, "Content-Length")


# --- the /api/ prefix always answers JSON ---------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/evidence", "/api/v1/evidence/", "/api"])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_path_under_api_answers_a_json_404(token, path, method):
    response = post(token, "{}", path=path, method=method)
    assert_refused(response, 404, "no API endpoint", path)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_a_wrong_method_answers_a_json_405_with_allow(token, method):
    response = post(token, json.dumps(GOOD), method=method)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "head":
        assert "use POST" in response.json()["error"]
    assert CheckResult.objects.count() == 0


def test_a_crash_inside_the_api_answers_a_json_500(token, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("reviews.checks.api.evidence_push", crash)
    response = Client(raise_request_exception=False).post(
        "/api/v1/evidence",
        data=json.dumps(GOOD),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 500
    assert response.json() == {"error": "Something went wrong on our side; try again later."}
    assert b"boom" not in response.content


@pytest.mark.parametrize(
    ("handler", "status"),
    [
        (errors.bad_request, 400),
        (errors.permission_denied, 403),
        (errors.page_not_found, 404),
    ],
)
def test_the_project_error_handlers_answer_json_under_api_and_html_elsewhere(handler, status):
    api = handler(RequestFactory().get("/api/v1/evidence"), Exception("detail"))
    assert api.status_code == status and "error" in json.loads(api.content)
    page = handler(RequestFactory().get("/somewhere"), Exception("detail"))
    assert page.status_code == status and b'<html lang="en">' in page.content
    api_crash = errors.server_error(RequestFactory().get("/api/x"))
    assert api_crash.status_code == 500 and "error" in json.loads(api_crash.content)
    page_crash = errors.server_error(RequestFactory().get("/"))
    assert b"Something went wrong on our side" in page_crash.content


def test_pages_outside_the_api_keep_their_html_404():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert b"<h1>Page not found</h1>" in response.content


# --- idempotency --------------------------------------------------------------------------


def test_the_same_key_with_a_different_body_is_a_409_and_records_nothing(service, token):
    keyed = {**GOOD, "idempotency_key": "build-9", "observed": {"p95": 180.5, "ok": True}}
    assert post(token, json.dumps(keyed)).status_code == 201
    for change in (
        {"result": "fail"},
        {"summary": "p95 181 ms"},
        {"check": "ci.other"},
        {"link": "https://ci.example.com/2"},
        {"fresh_for_days": 7},
        {"observed": {"p95": 180.6, "ok": True}},
        {"observed": {"p95": 180.5, "ok": 1}},
    ):
        response = post(token, json.dumps({**keyed, **change}))
        assert response.status_code == 409, change
        assert "already used with a different body" in response.json()["error"]
    assert CheckResult.objects.count() == 1


def test_the_same_key_with_the_same_body_returns_the_first_result(service, token):
    keyed = {
        **GOOD,
        "idempotency_key": "build-10",
        "fresh_for_days": 14,
        "observed": {"huge": 1e300, "flag": False, "n": 2**62, "nested": {"list": [1.5, None]}},
    }
    first = post(token, json.dumps(keyed))
    # Key order and whitespace are not part of the body's meaning.
    again = post(token, json.dumps(dict(reversed(keyed.items())), indent=2))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] and again.json()["id"] == first.json()["id"]
    assert CheckResult.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("summary", "status"), [(GOOD["summary"], 200), ("other", 409)])
def test_a_push_that_loses_the_race_for_its_key_gets_the_winner_or_a_conflict(
    service, token, summary, status
):
    """The winner's row is inserted but not committed when the loser looks for the key;
    the loser's insert then waits on the unique index and fails once the winner commits."""
    inserted, loser_waited = threading.Event(), threading.Event()
    errors_in_thread: list[BaseException] = []

    def winner() -> None:
        try:
            from django.db import transaction

            with transaction.atomic():
                now = timezone.now()
                run = CheckRun.objects.create(
                    trigger=CheckRunTrigger.PUSH, service=service, job_count=1, finished_at=now
                )
                CheckResult.objects.create(
                    run=run,
                    service=service,
                    check_key=GOOD["check"],
                    binding=GOOD["check"],
                    result=GOOD["result"],
                    explanation=GOOD["summary"],
                    observed={},
                    checked_at=now,
                    fresh_until=now + timedelta(days=30),
                    link=GOOD["link"],
                    idempotency_key="race-1",
                )
                inserted.set()
                # Commit only once the loser's insert is waiting on this row's lock.
                with connection.cursor() as cursor:
                    for _ in range(200):
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                            " current_database() AND wait_event_type = 'Lock'"
                        )
                        if cursor.fetchone()[0]:
                            loser_waited.set()
                            break
                        threading.Event().wait(0.025)
        except BaseException as exc:  # surfaced in the main thread
            errors_in_thread.append(exc)
            inserted.set()
        finally:
            connection.close()

    thread = threading.Thread(target=winner)
    thread.start()
    assert inserted.wait(5)
    response = post(token, json.dumps({**GOOD, "summary": summary, "idempotency_key": "race-1"}))
    thread.join(10)
    assert not errors_in_thread
    assert loser_waited.is_set(), "the push never waited on the winner's row"
    assert response.status_code == status, response.content
    assert CheckResult.objects.filter(idempotency_key="race-1").count() == 1
    assert CheckResult.objects.count() == 1


def test_evidence_push_refuses_a_reused_key_in_code_too(service):
    first = PushedEvidence.model_validate({**GOOD, "idempotency_key": "k"})
    evidence_push(service=service, payload=first)
    second = PushedEvidence.model_validate({**GOOD, "idempotency_key": "k", "result": "fail"})
    with pytest.raises(IdempotencyKeyReused, match="different body"):
        evidence_push(service=service, payload=second)


# --- rate limit -----------------------------------------------------------------------------


def test_a_token_over_its_rate_limit_gets_a_429_with_retry_after(service, token, lead, settings):
    settings.PUSH_RATE_LIMIT = "3/m"
    other = token_create(service=service, name="Other pipeline", by=lead)[1]
    with time_machine.travel(timezone.now().replace(second=10), tick=False):
        assert [post(token, json.dumps(GOOD)).status_code for _ in range(3)] == [201] * 3
        response = post(token, json.dumps(GOOD))
        assert response.status_code == 429
        assert response["Retry-After"] == "50"
        assert "Too many pushes" in response.json()["error"]
        assert CheckResult.objects.count() == 3
        # The limit is per token: another pipeline of the same service is not held back.
        assert post(other, json.dumps(GOOD)).status_code == 201
    with time_machine.travel(timezone.now().replace(second=10) + timedelta(minutes=1)):
        assert post(token, json.dumps(GOOD)).status_code == 201


def test_refused_pushes_count_towards_the_rate_limit(token, settings):
    settings.PUSH_RATE_LIMIT = "2/h"
    assert post(token, "not json").status_code == 400
    assert post(token, "not json").status_code == 400
    response = post(token, json.dumps(GOOD))
    assert_refused(response, 429, "at most 2/h")
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_a_bad_push_rate_limit_stops_start_up_naming_the_variable(tmp_path):
    result = manage("check", tmp_path=tmp_path, PUSH_RATE_LIMIT="120 per minute")
    assert result.returncode != 0
    assert "PUSH_RATE_LIMIT='120 per minute' is not a rate" in result.stderr


# --- tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CI\u0000", "CI\u001b[2J", "GitHub\nActions", "C\u0085I"])
def test_a_token_name_with_control_characters_is_refused(service, lead, client_for, name):
    with pytest.raises(ValueError, match=r"Remove the (control character|line break)"):
        token_create(service=service, name=name, by=lead)
    response = client_for(lead).post(
        f"/services/{service.slug}/tokens/", {"name": name}, follow=True
    )
    assert response.status_code == 200
    assert "usa-alert--error" in response.content.decode()
    assert not ServiceToken.objects.exists()
