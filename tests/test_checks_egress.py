"""The egress policy: checks reach only the public internet unless an operator opens a
network, on real sockets (servers that count the connections they accept)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from django.urls import reverse

from checklists.parsers import parse_file
from checklists.services import checklist_import
from reviews import services
from reviews.checks.collectors.base import Credentials, Result, Target
from reviews.checks.collectors.egress import EgressPolicy, url_refusal
from reviews.checks.collectors.platforms import verify_connection
from reviews.checks.collectors.runner import Job, run_jobs
from reviews.models import CheckResult, Service
from tests.http_servers import LocalServer, server_context
from tests.services import IN_CI

CHECKLIST = b"""---
title: Checked
slug: checked
checks:
  service-answers-health-checks: [http.health]
---
## Ops
- **Service answers health checks**
"""


def health(url: str, **params):
    target = replace(Target(service_id=1), health_check_url=url)
    return run_jobs([Job("http.health", target, params)], timeout=5)[0]


# --- the rules --------------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "169.254.1.1": "link-local",
    "100.64.0.1": "shared",
    "100.127.255.254": "shared",
    "0.0.0.0": "unspecified",  # noqa: S104
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "255.255.255.255": "broadcast",
    "240.0.0.1": "reserved",
    "192.0.2.10": "documentation",
    "198.18.0.1": "benchmarking",
    "::1": "loopback",
    "::": "unspecified",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "fe80::1": "link-local",
    "ff02::1": "multicast",
    "2001:db8::1": "documentation",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "cloud metadata",
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1
    "::127.0.0.1": "reserved",  # IPv4-compatible (deprecated)
    "169.254.169.254": "cloud metadata",
    "169.254.170.2": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
}


@pytest.mark.parametrize(("address", "rule"), REFUSED.items())
def test_every_address_outside_the_public_internet_is_refused_by_its_rule(address, rule):
    assert rule in EgressPolicy().refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1::1", "64:ff9b::5db8:d822"]
)
def test_public_addresses_are_allowed(address):
    assert EgressPolicy().refusal(ipaddress.ip_address(address)) == ""


def test_an_allowed_network_opens_its_range_and_no_other():
    policy = EgressPolicy((ipaddress.ip_network("10.0.0.0/8"),))
    assert policy.refusal(ipaddress.ip_address("10.20.30.40")) == ""
    assert policy.refusal(ipaddress.ip_address("::ffff:10.20.30.40")) == ""
    assert "private" in policy.refusal(ipaddress.ip_address("192.168.0.1"))


def test_metadata_addresses_stay_refused_in_an_allowed_range_unless_listed_exactly():
    link_local = EgressPolicy(
        (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00::/8"))
    )
    assert link_local.refusal(ipaddress.ip_address("169.254.10.10")) == ""
    assert "metadata" in link_local.refusal(ipaddress.ip_address("169.254.169.254"))
    assert "metadata" in link_local.refusal(ipaddress.ip_address("fd00:ec2::254"))
    exact = EgressPolicy((ipaddress.ip_network("169.254.169.254/32"),))
    assert exact.refusal(ipaddress.ip_address("169.254.169.254")) == ""


def test_a_bad_allowed_network_stops_start_up_naming_the_variable(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from portal.env import env_networks

    monkeypatch.setenv("CHECK_ALLOWED_NETWORKS", "10.0.0.0/8, intranet")
    with pytest.raises(ImproperlyConfigured, match=r"CHECK_ALLOWED_NETWORKS.*intranet"):
        env_networks("CHECK_ALLOWED_NETWORKS")
    monkeypatch.setenv("CHECK_ALLOWED_NETWORKS", "10.0.0.0/8, ::1")
    assert env_networks("CHECK_ALLOWED_NETWORKS") == ["10.0.0.0/8", "::1/128"]


# --- real sockets: loopback ---------------------------------------------------------------------


def test_loopback_is_refused_by_default_and_nothing_reaches_it(settings):
    settings.CHECK_ALLOWED_NETWORKS = []
    with LocalServer.running() as server:
        outcome = health(server.route("/admin/", 200, body="secret"))
        assert server.accepted == 0
    assert outcome.result == Result.ERROR
    assert "127.0.0.1" in outcome.explanation
    assert "loopback" in outcome.explanation
    assert outcome.observed == {}


def test_loopback_is_reached_when_the_operator_allows_it(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with LocalServer.running() as server:
        outcome = health(server.route("/health", 200))
        assert server.accepted == 1
    assert outcome.result == Result.PASS


def test_a_name_that_resolves_to_loopback_is_refused(settings):
    settings.CHECK_ALLOWED_NETWORKS = []
    with LocalServer.running() as server:
        server.route("/health", 200)
        outcome = health(server.url("/health", host="localhost"))
        assert server.accepted == 0
    assert outcome.result == Result.ERROR
    assert "localhost" in outcome.explanation and "loopback" in outcome.explanation


def test_a_name_is_connected_to_at_the_address_that_was_judged(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    with LocalServer.running() as server:
        server.route("/health", 200)
        outcome = health(server.url("/health", host="localhost"))
        # The request still names the host (virtual hosting and TLS need it).
        assert server.received[0].headers["Host"] == f"localhost:{server.port}"
    assert outcome.result == Result.PASS


def test_a_redirect_from_an_allowed_server_to_loopback_is_refused(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # only the first server
    with (
        LocalServer.running() as allowed,
        LocalServer.running(host="127.0.0.2") as internal,
    ):
        secret = internal.route("/admin/", 200, body="secret")
        start = allowed.route("/health", 302, headers={"Location": secret})
        outcome = health(start)
        assert allowed.accepted == 1
        assert internal.accepted == 0
    assert outcome.result == Result.ERROR
    assert "127.0.0.2" in outcome.explanation and "loopback" in outcome.explanation


def test_the_tls_check_is_refused_before_it_connects(settings, ca):
    settings.CHECK_ALLOWED_NETWORKS = []
    with LocalServer.running(server_context(ca.issue_cert("127.0.0.1"))) as server:
        target = replace(Target(service_id=1), public_url=server.url("/"))
        outcome = run_jobs([Job("tls.certificate", target, {})], timeout=5)[0]
        assert server.accepted == 0
    assert outcome.result == Result.ERROR and "loopback" in outcome.explanation


def test_a_platform_connection_on_an_internal_address_is_refused(settings, ca, trusting):
    settings.CHECK_ALLOWED_NETWORKS = []
    with LocalServer.running(server_context(ca.issue_cert("127.0.0.1"))) as server:
        server.route("/abilities", 200, body='{"abilities": []}')
        credentials = Credentials(kind="pagerduty", name="PD", api_url=server.url(""), secret="key")
        outcome = verify_connection(credentials, timeout=5, ssl_context=trusting)
        assert server.accepted == 0
    assert outcome.result == Result.ERROR and "loopback" in outcome.explanation


# --- real sockets: addresses a test adds to the loopback interface --------------------------------


def _can_add_addresses() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@contextmanager
def interface_address(address: str) -> Iterator[None]:
    """``address`` on the loopback interface for the duration (needs root and iproute2)."""
    if not _can_add_addresses():
        if IN_CI:
            pytest.fail("CI must run as root with iproute2 to add test addresses to lo")
        pytest.skip("adding addresses to the loopback interface needs root and iproute2")
    prefix = "/128" if ":" in address else "/32"
    subprocess.run(["ip", "addr", "add", address + prefix, "dev", "lo"], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "addr", "del", address + prefix, "dev", "lo"], check=False)


def test_the_metadata_address_is_refused_even_when_link_local_is_allowed(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    with (
        interface_address("169.254.169.254"),
        interface_address("169.254.10.10"),
        LocalServer.running(host="169.254.169.254") as metadata,
        LocalServer.running(host="169.254.10.10") as link_local,
    ):
        credentials = metadata.route("/latest/meta-data/iam/security-credentials/", 200)
        refused = health(credentials)
        reached = health(link_local.route("/health", 200))
        assert metadata.accepted == 0
        assert link_local.accepted == 1
    assert refused.result == Result.ERROR
    assert "169.254.169.254" in refused.explanation and "metadata" in refused.explanation
    assert reached.result == Result.PASS


def test_check_now_on_metadata_loopback_or_private_addresses_records_errors_naming_the_rule(
    settings, lead, client_for, django_capture_on_commit_callbacks
):
    """The whole path a product lead takes: the service form, then Check now."""
    settings.CHECK_ALLOWED_NETWORKS = []
    version = checklist_import(
        parsed=parse_file("c.md", CHECKLIST).checklist, by=None, publish=True
    ).version
    client = client_for(lead)
    rules = {
        "169.254.169.254": "cloud metadata",
        "127.0.0.1": "loopback",
        "10.99.0.1": "private",
    }
    for n, (address, rule) in enumerate(rules.items()):
        with (
            interface_address(address) if address != "127.0.0.1" else _nothing(),
            LocalServer.running(host=address) as target,
        ):
            url = target.route("/latest/meta-data/", 200, body="secret")
            service = Service.objects.create(
                name=f"Internal {n}", slug=f"internal-{n}", team=lead.teams.get()
            )
            services.review_start(service=service, checklist_version=version, by=lead)
            response = client.post(
                reverse("reviews:service_edit", args=[service.slug]),
                _service_form(service, health_check_url=url),
                follow=True,
            )
            assert rule in response.content.decode(), "the form warns about the address"
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(reverse("reviews:check_now", args=[service.slug]))
            assert response.status_code == 302
            assert target.accepted == 0, f"a request reached {address}"
        result = CheckResult.objects.get(service=service, check_key="http.health")
        assert result.result == Result.ERROR
        assert address in result.explanation and rule in result.explanation


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _service_form(service: Service, **changes: str) -> dict[str, str]:
    from reviews.services import SERVICE_FIELDS

    data = {
        name: getattr(service, name + "_id" if name == "team" else name) or ""
        for name in SERVICE_FIELDS
    }
    data.update(changes)
    return {k: str(v) for k, v in data.items()}


def test_the_service_form_warns_when_a_url_resolves_to_a_refused_address(settings):
    settings.CHECK_ALLOWED_NETWORKS = []
    assert "cloud metadata" in url_refusal("http://169.254.169.254/latest/meta-data/")
    assert "localhost is 127.0.0.1" in url_refusal("http://localhost:8000/admin/")
    assert url_refusal("https://93.184.216.34/") == ""
    assert url_refusal("https://no-such-host.invalid/") == ""  # cannot tell: no warning
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert url_refusal("http://127.0.0.1:8000/readyz") == ""


# --- repositories: git connects only to judged addresses ---------------------------------------


@pytest.fixture
def served_repository(tmp_path: Path) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """A git repository served over smart HTTP by ``git http-backend``, as forges do."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "pyproject.toml").write_text("")
    (work / "uv.lock").write_text("")
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(tmp_path / "repo.git")],
        env=env,
        check=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHttpBackend)
    server.root = str(tmp_path)
    server.hits = 0
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "repo.git", server
    finally:
        server.shutdown()
        server.server_close()


class _GitHttpBackend(BaseHTTPRequestHandler):
    """Runs ``git http-backend`` (a CGI program) for each request."""

    def do_GET(self) -> None:
        self.server.hits += 1
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cgi = subprocess.run(
            ["git", "http-backend"],
            input=body,
            capture_output=True,
            check=False,
            env={
                "PATH": "/usr/bin:/bin",
                "GIT_PROJECT_ROOT": self.server.root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
            },
        )
        head, _, payload = cgi.stdout.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def _lock_file(url: str):
    target = replace(Target(service_id=1), repository_url=url)
    return run_jobs([Job("repo.lock_file", target, {})], timeout=15)[0]


def test_a_repository_on_loopback_is_refused_and_git_never_asks(settings, served_repository):
    settings.CHECK_GIT_PROTOCOLS = ["http"]
    settings.CHECK_ALLOWED_NETWORKS = []
    path, server = served_repository
    port = server.server_address[1]
    for host in ("127.0.0.1", "localhost"):
        outcome = _lock_file(f"http://{host}:{port}/{path}")
        assert outcome.result == Result.ERROR
        assert "loopback" in outcome.explanation
    assert server.hits == 0


def test_a_repository_on_an_allowed_network_is_read_at_the_judged_address(
    settings, served_repository
):
    settings.CHECK_GIT_PROTOCOLS = ["http"]
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    path, server = served_repository
    outcome = _lock_file(f"http://localhost:{server.server_address[1]}/{path}")
    assert outcome.result == Result.PASS, outcome
    assert server.hits > 0


def test_an_ssh_style_repository_address_is_judged_too(settings):
    settings.CHECK_GIT_PROTOCOLS = ["ssh"]
    settings.CHECK_ALLOWED_NETWORKS = []
    outcome = _lock_file("git@127.0.0.1:team/app.git")
    assert outcome.result == Result.ERROR and "loopback" in outcome.explanation


def test_git_is_pinned_to_the_judged_address_and_honours_the_pin(settings, served_repository):
    """git must never resolve the name again: the check hands curl the judged address,
    and this git really uses it (a name that does not resolve anywhere still clones)."""
    from reviews.checks.collectors.repository import _egress_config, _run_git

    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    path, server = served_repository
    port = server.server_address[1]
    config = asyncio.run(
        _egress_config(f"http://localhost:{port}/{path}", EgressPolicy.from_settings(), 5)
    )
    assert f"http.curloptResolve=localhost:{port}:127.0.0.1" in config[-1]
    assert "http.followRedirects=false" in config

    settings.CHECK_GIT_PROTOCOLS = ["http"]
    pin = [f"http.curloptResolve=nowhere.invalid:{port}:127.0.0.1"]
    clone = ["clone", "-q", "--depth", "1", f"http://nowhere.invalid:{port}/{path}", "out"]
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(_run_git(*clone, cwd=work, timeout=15, config=pin))
        assert (Path(work) / "out" / "pyproject.toml").exists()
