"""The HTTP/TLS checks, run through ``run_jobs`` against real servers on 127.0.0.1.

Nothing is patched: the checks reach ``tests.http_servers`` over sockets, and TLS uses
certificates from an in-memory trustme CA that the run's ``ssl_context`` trusts (plus a
second CA that it does not). The hosts ``localhost`` and ``127.0.0.1`` both reach the same
servers and are both in the leaf certificates, which gives "two hosts" without DNS.

No database: these tests are not marked ``django_db``.
"""

from __future__ import annotations

import gc
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from reviews.checks.collectors.base import Outcome, Result, Target, all_check_types, check_type
from reviews.checks.collectors.runner import Job, run_jobs
from tests.http_servers import LocalServer, closed_port, server_context

# Checks reach these tests' local servers on loopback, opened as an operator would.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

HOSTS = ("localhost", "127.0.0.1")
ONE_YEAR = "max-age=31536000; includeSubDomains"


# --- certificates and servers ----------------------------------------------------------


@pytest.fixture(scope="module")
def _http() -> Iterator[LocalServer]:
    with LocalServer.running() as server:
        yield server


@pytest.fixture(scope="module")
def _https(ca: trustme.CA) -> Iterator[LocalServer]:
    with LocalServer.running(server_context(ca.issue_cert(*HOSTS))) as server:
        yield server


@pytest.fixture(scope="module")
def _https_expiring(ca: trustme.CA) -> Iterator[LocalServer]:
    leaf = ca.issue_cert(*HOSTS, not_after=datetime.now(UTC) + timedelta(days=10))
    with LocalServer.running(server_context(leaf)) as server:
        yield server


@pytest.fixture(scope="module")
def _https_untrusted() -> Iterator[LocalServer]:
    stranger = trustme.CA()  # never handed to the client
    with LocalServer.running(server_context(stranger.issue_cert(*HOSTS))) as server:
        yield server


@pytest.fixture
def http_server(_http: LocalServer) -> LocalServer:
    _http.reset()
    return _http


@pytest.fixture
def https_server(_https: LocalServer) -> LocalServer:
    _https.reset()
    return _https


@pytest.fixture
def https_expiring(_https_expiring: LocalServer) -> LocalServer:
    _https_expiring.reset()
    return _https_expiring


@pytest.fixture
def https_untrusted(_https_untrusted: LocalServer) -> LocalServer:
    _https_untrusted.reset()
    return _https_untrusted


@pytest.fixture
def refused_port() -> Iterator[int]:
    with closed_port() as port:
        yield port


def run_one(
    key: str,
    trusting: ssl.SSLContext,
    *,
    params: dict[str, Any] | None = None,
    timeout: float = 5.0,
    **target: str,
) -> Outcome:
    [outcome] = run_jobs(
        [Job(key, Target(service_id=1, **target), params or {})],
        ssl_context=trusting,
        timeout=timeout,
    )
    return outcome


# --- http.health ----------------------------------------------------------------------


def test_health_passes_on_a_fast_200(http_server, trusting):
    url = http_server.route("/healthCheck", 200, body="ok")

    outcome = run_one("http.health", trusting, health_check_url=url)

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["status"] == 200
    assert 0 < outcome.observed["ms"] < 1000
    assert outcome.expected == "HTTP 200 within the time limit"
    assert outcome.duration_ms > 0
    assert http_server.requests == ["/healthCheck"]


def test_health_passes_over_https_with_the_trusted_ca(https_server, trusting):
    https_server.route("/healthCheck", 200)
    url = https_server.url("/healthCheck", host="localhost")

    outcome = run_one("http.health", trusting, health_check_url=url)

    assert outcome.result == Result.PASS, outcome


def test_health_fails_on_a_500(http_server, trusting):
    url = http_server.route("/healthCheck", 500, body="boom")

    outcome = run_one("http.health", trusting, health_check_url=url)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["status"] == 500
    assert "500" in outcome.explanation


def test_health_fails_on_a_200_slower_than_max_ms(http_server, trusting):
    url = http_server.route("/healthCheck", 200, delay=0.3)

    outcome = run_one("http.health", trusting, health_check_url=url, params={"max_ms": 100})

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["status"] == 200
    assert outcome.observed["ms"] >= 300
    assert "limit 100 ms" in outcome.explanation


def test_health_is_an_error_naming_the_url_when_nothing_listens(refused_port, trusting):
    url = f"http://127.0.0.1:{refused_port}/healthCheck"

    outcome = run_one("http.health", trusting, health_check_url=url)

    assert outcome.result == Result.ERROR, outcome
    assert url in outcome.explanation


def test_health_error_says_the_connection_was_refused(refused_port, trusting):
    url = f"http://127.0.0.1:{refused_port}/healthCheck"

    outcome = run_one("http.health", trusting, health_check_url=url)

    assert "refused" in outcome.explanation.lower(), outcome.explanation


def test_health_is_an_error_when_the_answer_takes_longer_than_the_timeout(http_server, trusting):
    url = http_server.route("/healthCheck", 200, delay=2.0)

    started = time.monotonic()
    outcome = run_one("http.health", trusting, health_check_url=url, timeout=0.5)
    wall = time.monotonic() - started

    assert outcome.result == Result.ERROR, outcome
    assert outcome.explanation == f"No answer from {url} within 0.5 s."
    assert wall < 1.5, f"the run took {wall:.2f} s with a 0.5 s timeout"


def test_health_is_not_applicable_without_a_url(trusting):
    outcome = run_one("http.health", trusting)

    assert outcome.result == Result.NOT_APPLICABLE
    assert outcome.explanation == "The service has no health-check URL."


# --- http.https_redirect ----------------------------------------------------------------


def test_redirect_passes_when_plain_http_answers_301_to_https(http_server, https_server, trusting):
    secure = https_server.url("/", host="localhost")
    plain = http_server.route("/", 301, headers={"Location": secure})

    # The public URL is the https one; the plain-HTTP address is a parameter.
    outcome = run_one(
        "http.https_redirect", trusting, public_url=secure, params={"http_url": plain}
    )

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"url": plain, "status": 301, "location": secure}
    assert http_server.requests == ["/"]
    assert https_server.requests == []  # the redirect is not followed


def test_redirect_derives_the_http_address_from_the_public_url(http_server, trusting):
    http_server.route("/app", 308, headers={"Location": "https://localhost/app"})

    outcome = run_one("http.https_redirect", trusting, public_url=http_server.url("/app"))

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["status"] == 308


def test_redirect_fails_on_a_200_without_redirect(http_server, trusting):
    plain = http_server.route("/", 200, body="welcome, in the clear")

    outcome = run_one("http.https_redirect", trusting, public_url=plain)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {"url": plain, "status": 200, "location": ""}
    assert "without redirecting to HTTPS" in outcome.explanation


def test_redirect_fails_on_a_redirect_to_another_http_address(http_server, trusting):
    plain = http_server.route("/", 301, headers={"Location": http_server.url("/elsewhere")})

    outcome = run_one("http.https_redirect", trusting, public_url=plain)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["location"] == http_server.url("/elsewhere")


def test_redirect_is_not_applicable_without_a_public_url(trusting):
    outcome = run_one("http.https_redirect", trusting)

    assert outcome.result == Result.NOT_APPLICABLE


# --- http.hsts ---------------------------------------------------------------------------


def test_hsts_passes_with_a_year_and_subdomains(https_server, trusting):
    https_server.route("/", 200, headers={"Strict-Transport-Security": ONE_YEAR})

    outcome = run_one("http.hsts", trusting, public_url=https_server.url("/", host="localhost"))

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"header": ONE_YEAR, "max_age": 31536000}


def test_hsts_fails_without_the_header(https_server, trusting):
    https_server.route("/", 200)

    outcome = run_one("http.hsts", trusting, public_url=https_server.url("/"))

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == "No Strict-Transport-Security header."


def test_hsts_fails_when_max_age_is_too_small(https_server, trusting):
    https_server.route("/", 200, headers={"Strict-Transport-Security": "max-age=300"})

    outcome = run_one("http.hsts", trusting, public_url=https_server.url("/"))

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["max_age"] == 300
    assert "31536000" in outcome.explanation


def test_hsts_is_not_applicable_without_an_https_url(http_server, trusting):
    outcome = run_one("http.hsts", trusting, public_url=http_server.url("/"))

    assert outcome.result == Result.NOT_APPLICABLE
    assert http_server.requests == []


# --- tls.certificate ---------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_certificate_passes_when_trusted_and_far_from_expiry(https_server, trusting, host):
    outcome = run_one("tls.certificate", trusting, public_url=https_server.url("/", host=host))

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["host"] == host
    assert outcome.observed["days_left"] > 30
    assert outcome.observed["tls"].startswith("TLSv1.")
    assert datetime.fromisoformat(outcome.observed["expires"]) > datetime.now(UTC)


def test_certificate_fails_when_it_expires_in_ten_days(https_expiring, trusting):
    outcome = run_one("tls.certificate", trusting, public_url=https_expiring.url("/"))

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["days_left"] in (9, 10)
    assert f"expires in {outcome.observed['days_left']} days" in outcome.explanation


def test_certificate_fails_when_the_ca_is_not_trusted(https_untrusted, trusting):
    outcome = run_one("tls.certificate", trusting, public_url=https_untrusted.url("/"))

    assert outcome.result == Result.FAIL, outcome
    assert "not trusted" in outcome.explanation
    assert outcome.observed == {"host": "127.0.0.1"}


def test_certificate_is_an_error_when_nothing_listens(refused_port, trusting):
    outcome = run_one("tls.certificate", trusting, public_url=f"https://127.0.0.1:{refused_port}/")

    assert outcome.result == Result.ERROR, outcome
    assert f"127.0.0.1:{refused_port}" in outcome.explanation


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that listens (the kernel completes TCP) but never accepts nor answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        yield silent.getsockname()[1]


def test_certificate_is_an_error_within_the_timeout_when_the_handshake_never_comes(
    silent_port, trusting
):
    url = f"https://127.0.0.1:{silent_port}/"

    started = time.monotonic()
    outcome = run_one("tls.certificate", trusting, public_url=url, timeout=0.5)
    wall = time.monotonic() - started

    assert outcome.result == Result.ERROR, outcome
    assert f"127.0.0.1:{silent_port}" in outcome.explanation
    assert wall < 1.5, f"the run took {wall:.2f} s with a 0.5 s timeout"


def test_certificate_timeout_error_says_it_timed_out(silent_port, trusting):
    url = f"https://127.0.0.1:{silent_port}/"

    outcome = run_one("tls.certificate", trusting, public_url=url, timeout=0.5)

    assert "timed out" in outcome.explanation, outcome.explanation


def resource_warnings(run: Any, times: int) -> list[str]:
    """What ``run`` leaks (unclosed sockets and transports), over ``times`` runs."""
    gc.collect()  # what earlier tests left behind is not this run's leak
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(times):
            run()
        gc.collect()  # leaked transports sit in reference cycles until collected
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and "psycopg" not in str(w.message)
    ]


def test_certificate_check_closes_its_connection(https_server, trusting):
    job = Job("tls.certificate", Target(1, public_url=https_server.url("/")), {})

    def run() -> None:
        assert run_jobs([job], ssl_context=trusting)[0].result == Result.PASS

    assert resource_warnings(run, times=20) == []


def test_certificate_is_not_applicable_for_an_http_url(http_server, trusting):
    outcome = run_one("tls.certificate", trusting, public_url=http_server.url("/"))

    assert outcome.result == Result.NOT_APPLICABLE


# --- http.robots -------------------------------------------------------------------------


def test_robots_passes_when_everything_is_disallowed(https_server, trusting):
    https_server.route("/robots.txt", 200, body="User-agent: *\nDisallow: /\n")

    outcome = run_one("http.robots", trusting, public_url=https_server.url("/app/"))

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"url": https_server.url("/robots.txt")}
    assert https_server.requests == ["/robots.txt"]


def test_robots_reads_the_url_parameter_before_the_public_url(http_server, https_server, trusting):
    http_server.route("/robots.txt", 200, body="User-agent: *\nDisallow: /\n")

    outcome = run_one(
        "http.robots",
        trusting,
        public_url=https_server.url("/"),
        params={"url": http_server.url("/staging/")},
    )

    assert outcome.result == Result.PASS, outcome
    assert https_server.requests == []


@pytest.mark.parametrize(
    "robots",
    [
        "User-agent: *\nAllow: /\n",
        "User-agent: *\nDisallow:\n",
        "User-agent: Googlebot\nDisallow: /\n",
    ],
)
def test_robots_fails_when_crawlers_may_index(https_server, trusting, robots):
    https_server.route("/robots.txt", 200, body=robots)

    outcome = run_one("http.robots", trusting, public_url=https_server.url("/"))

    assert outcome.result == Result.FAIL, outcome
    assert "allows crawlers" in outcome.explanation


def test_robots_fails_on_a_404(https_server, trusting):
    outcome = run_one("http.robots", trusting, public_url=https_server.url("/"))

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == "robots.txt answered 404."


def test_robots_is_not_applicable_without_a_url(trusting):
    assert run_one("http.robots", trusting).result == Result.NOT_APPLICABLE


# --- http.status_page --------------------------------------------------------------------


def test_status_page_passes_on_a_200_from_another_host(https_server, trusting):
    https_server.route("/status", 200, body="all systems go")

    outcome = run_one(
        "http.status_page",
        trusting,
        public_url=https_server.url("/", host="127.0.0.1"),
        status_page_url=https_server.url("/status", host="localhost"),
    )

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"status": 200, "host": "localhost"}


def test_status_page_fails_on_the_services_own_host(http_server, https_server, trusting):
    http_server.route("/status", 200)

    # Another port, same host: still the service's own host.
    outcome = run_one(
        "http.status_page",
        trusting,
        public_url=https_server.url("/"),
        status_page_url=http_server.url("/status"),
    )

    assert outcome.result == Result.FAIL, outcome
    assert outcome.explanation == "The status page is on the service's own host."


def test_status_page_fails_on_a_500(https_server, trusting):
    https_server.route("/status", 500)

    outcome = run_one(
        "http.status_page",
        trusting,
        public_url=https_server.url("/", host="127.0.0.1"),
        status_page_url=https_server.url("/status", host="localhost"),
    )

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["status"] == 500


def test_status_page_is_not_applicable_without_a_url(https_server, trusting):
    outcome = run_one("http.status_page", trusting, public_url=https_server.url("/"))

    assert outcome.result == Result.NOT_APPLICABLE
    assert https_server.requests == []


# --- the runner ---------------------------------------------------------------------------


def test_many_jobs_run_concurrently_bounded_and_come_back_in_order(trusting):
    statuses = [200, 500, 503, 404]
    # A server of its own, so no other test's slow request counts as in flight.
    with LocalServer.running() as server:
        jobs = []
        for i in range(200):
            url = server.route(f"/job/{i}", statuses[i % 4], delay=0.2)
            jobs.append(Job("http.health", Target(service_id=i, health_check_url=url), {}))

        started = time.monotonic()
        outcomes = run_jobs(jobs, ssl_context=trusting, timeout=10, concurrency=100)
        wall = time.monotonic() - started

    # 200 × 0.2 s is 40 s one after another; 100 at a time is two waves.
    assert wall < 5, f"{wall:.2f} s for 200 jobs of 0.2 s"
    assert 1 < server.max_in_flight <= 100
    assert len(outcomes) == 200
    assert [o.observed.get("status") for o in outcomes] == [statuses[i % 4] for i in range(200)]
    assert [o.result for o in outcomes] == [
        Result.PASS if i % 4 == 0 else Result.FAIL for i in range(200)
    ]
    assert all(o.duration_ms >= 200 for o in outcomes), min(o.duration_ms for o in outcomes)


def test_a_check_that_raises_unexpectedly_is_an_error_and_the_batch_goes_on(http_server, trusting):
    ok = http_server.route("/healthCheck", 200)
    jobs = [
        Job("http.health", Target(1, health_check_url=ok), {}),
        # httpx.InvalidURL is not an httpx.HTTPError: it escapes _get and check().
        Job("http.status_page", Target(2, status_page_url="http://[::1"), {}),
        # urlsplit(...).port raises ValueError inside check().
        Job("tls.certificate", Target(3, public_url="https://127.0.0.1:99999/"), {}),
        Job("http.health", Target(4, health_check_url=ok), {}),
    ]

    outcomes = run_jobs(jobs, ssl_context=trusting, timeout=5)

    assert [o.result for o in outcomes] == [Result.PASS, Result.ERROR, Result.ERROR, Result.PASS]
    assert outcomes[1].explanation.startswith("InvalidURL: ")
    assert outcomes[2].explanation == "ValueError: Port out of range 0-65535"
    assert outcomes[2].expected == "a trusted certificate with more than 30 days left"


def test_a_job_with_bad_parameters_is_an_error_and_the_batch_goes_on(http_server, trusting):
    ok = http_server.route("/healthCheck", 200)
    jobs = [
        Job("http.health", Target(1, health_check_url=ok), {}),
        Job("http.health", Target(2, health_check_url=ok), {"max_ms": "fast"}),
        Job("http.health", Target(3, health_check_url=ok), {"speed": 1}),
        Job("http.health", Target(4, health_check_url=ok), {}),
    ]

    outcomes = run_jobs(jobs, ssl_context=trusting, timeout=5)

    assert [o.result for o in outcomes] == [Result.PASS, Result.ERROR, Result.ERROR, Result.PASS]
    assert "max_ms" in outcomes[1].explanation
    assert "speed" in outcomes[2].explanation


def test_a_job_with_an_unknown_check_is_an_error_and_the_batch_goes_on(http_server, trusting):
    ok = http_server.route("/healthCheck", 200)
    jobs = [
        Job("http.nope", Target(1, health_check_url=ok), {}),
        Job("http.health", Target(2, health_check_url=ok), {}),
    ]

    outcomes = run_jobs(jobs, ssl_context=trusting, timeout=5)

    assert [o.result for o in outcomes] == [Result.ERROR, Result.PASS]
    assert "http.nope" in outcomes[0].explanation


def test_the_http_checks_leave_no_socket_open(http_server, https_server, trusting):
    https_server.route("/", 200, headers={"Strict-Transport-Security": ONE_YEAR})
    https_server.route("/robots.txt", 200, body="User-agent: *\nDisallow: /\n")
    https_server.route("/status", 200)
    http_server.route("/", 301, headers={"Location": https_server.url("/")})
    public = https_server.url("/")
    target = Target(
        1,
        health_check_url=https_server.url("/status"),
        public_url=public,
        status_page_url=https_server.url("/status", host="localhost"),
    )
    keys = ["http.health", "http.https_redirect", "http.hsts", "http.robots", "http.status_page"]
    params: dict[str, dict[str, Any]] = {"http.https_redirect": {"http_url": http_server.url("/")}}
    jobs = [Job(key, target, params.get(key, {})) for key in keys]

    def run() -> None:
        outcomes = run_jobs(jobs, ssl_context=trusting)
        assert [o.result for o in outcomes] == [Result.PASS] * len(keys), outcomes

    assert resource_warnings(run, times=5) == []


def test_no_jobs_is_no_outcomes(trusting):
    assert run_jobs([], ssl_context=trusting) == []


# --- parameters and the registry -----------------------------------------------------------


def test_params_fill_in_defaults_and_take_overrides():
    health = check_type("http.health")

    assert health.params(None) == {"max_ms": 1000}
    assert health.params({"max_ms": 250}) == {"max_ms": 250}
    assert check_type("http.status_page").params({}) == {}


def test_params_of_the_wrong_type_are_refused_with_a_clear_message():
    with pytest.raises(ValueError) as raised:
        check_type("http.health").params({"max_ms": "fast"})

    assert str(raised.value) == "http.health: “max_ms” must be int."


def test_unknown_params_are_refused_with_a_clear_message():
    with pytest.raises(ValueError) as raised:
        check_type("http.health").params({"speed": 1})
    assert str(raised.value) == "http.health takes no parameter “speed”."
    with pytest.raises(ValueError, match="takes no parameter “max_ms”"):
        check_type("http.status_page").params({"max_ms": 1})


def test_a_bool_is_not_taken_for_a_number():
    with pytest.raises(ValueError, match="must be int"):
        check_type("http.health").params({"max_ms": True})


def test_an_unknown_check_type_is_refused():
    with pytest.raises(ValueError) as raised:
        check_type("nope")

    assert str(raised.value) == "Unknown check “nope”."


def test_every_http_and_tls_check_type_is_registered_and_tested_here():
    keys = {cls.key for cls in all_check_types() if cls.family == "HTTP and TLS"}

    assert keys == {
        "http.health",
        "http.https_redirect",
        "http.hsts",
        "tls.certificate",
        "http.robots",
        "http.status_page",
    }


# --- the test servers themselves ------------------------------------------------------------


def test_a_silent_client_neither_stalls_the_https_server_nor_its_shutdown(ca, trusting):
    server = LocalServer(server_context(ca.issue_cert(*HOSTS)))
    server.start()
    silent = socket.create_connection(("127.0.0.1", server.port))  # never says hello
    try:
        url = server.route("/healthCheck", 200)
        started = time.monotonic()
        outcome = run_one("http.health", trusting, health_check_url=url)
        assert outcome.result == Result.PASS, outcome
        assert time.monotonic() - started < 1
    finally:
        started = time.monotonic()
        server.stop()  # with the silent client still connected
        stop_took = time.monotonic() - started
        silent.close()

    assert stop_took < 2, f"stop() took {stop_took:.2f} s"
