"""Platform connections: secrets encrypted at rest, rotated, resolved per team, and managed
by admins only in the Django admin."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from reviews.checks.secrets import derived_key
from reviews.checks.selectors import jobs_from, target_for
from reviews.models import PlatformConnection, Service

# Checks reach these tests' local servers on loopback, opened as an operator would.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]

SECRET = "pd-read-only-key-abcdef"
ADD_URL = "/admin/reviews/platformconnection/add/"


def connect(
    kind: str = "pagerduty", team=None, secret: str = SECRET, **fields
) -> PlatformConnection:
    fields.setdefault("api_url", "https://api.pagerduty.com")
    connection = PlatformConnection(kind=kind, name=f"{kind} {team or 'org'}", team=team, **fields)
    connection.set_secret(secret)
    connection.full_clean()
    connection.save()
    return connection


def service(team, **fields) -> Service:
    return Service.objects.create(name="Benefits API", slug="benefits-api", team=team, **fields)


# --- encryption -----------------------------------------------------------------------------


def test_the_secret_is_stored_encrypted_and_read_back():
    stored = connect()

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secret_ciphertext FROM reviews_platformconnection")
        [(ciphertext,)] = cursor.fetchall()
    assert SECRET not in ciphertext
    assert PlatformConnection.objects.get(pk=stored.pk).credentials().secret == SECRET


def test_history_records_changes_but_never_the_ciphertext():
    stored = connect()
    stored.name = "renamed"
    stored.save()

    record = stored.history.first()
    assert record is not None and record.name == "renamed"
    assert not hasattr(record, "secret_ciphertext")


def test_a_secret_under_a_key_no_longer_configured_is_a_problem_not_a_crash(settings):
    stored = connect()
    settings.CONNECTION_SECRET_KEYS = [Fernet.generate_key().decode()]

    credentials = PlatformConnection.objects.get(pk=stored.pk).credentials()

    assert credentials.secret == ""
    assert "cannot be decrypted with the configured keys" in credentials.problem
    assert "“pagerduty org”" in credentials.problem


def test_keys_rotate_old_secrets_still_decrypt_and_the_command_re_encrypts(settings):
    stored = connect()  # under the key derived from SECRET_KEY
    old = derived_key(settings.SECRET_KEY).decode()
    new = Fernet.generate_key().decode()
    settings.CONNECTION_SECRET_KEYS = [new, old]
    assert PlatformConnection.objects.get(pk=stored.pk).credentials().secret == SECRET

    call_command("rotate_connection_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115

    settings.CONNECTION_SECRET_KEYS = [new]  # the old key is gone now
    assert PlatformConnection.objects.get(pk=stored.pk).credentials().secret == SECRET


def test_rotation_changes_nothing_when_one_secret_cannot_be_decrypted(settings):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CONNECTION_SECRET_KEYS = [key_a]
    readable = connect()
    settings.CONNECTION_SECRET_KEYS = [key_b]
    connect(kind="newrelic", api_url="https://api.newrelic.com/graphql")
    settings.CONNECTION_SECRET_KEYS = [key_a]
    before = PlatformConnection.objects.get(pk=readable.pk).secret_ciphertext

    with pytest.raises(CommandError, match=r"nothing was changed: New Relic: newrelic org\."):
        call_command("rotate_connection_secrets")

    assert PlatformConnection.objects.get(pk=readable.pk).secret_ciphertext == before


# --- which connection a service uses ----------------------------------------------------------


def test_a_service_uses_its_teams_connection_over_the_organisations(benefits_team, permits_team):
    connect(secret="org-key")
    connect(team=benefits_team, secret="benefits-key")
    ours = service(benefits_team, pagerduty_service_id="PSVC001")
    theirs = Service.objects.create(name="Permits", slug="permits", team=permits_team)

    assert target_for(ours).connection("pagerduty").secret == "benefits-key"
    assert target_for(theirs).connection("pagerduty").secret == "org-key"
    assert target_for(ours).pagerduty_service_id == "PSVC001"


def test_a_disabled_connection_is_not_used(benefits_team):
    connect(enabled=False)

    assert target_for(service(benefits_team)).connection("pagerduty") is None


def test_a_sweep_chunk_reads_the_connections_once(benefits_team, django_assert_num_queries):
    connect()
    connect(kind="newrelic", api_url="https://api.newrelic.com/graphql")
    services = [
        Service.objects.create(name=f"S{n}", slug=f"s{n}", team=benefits_team) for n in range(5)
    ]
    payload = [{"service_id": s.pk, "key": "http.health", "params": {}} for s in services]

    with django_assert_num_queries(2):  # the services, the connections
        jobs = jobs_from(payload)

    assert all(job.target.connection("newrelic") is not None for job in jobs)


def test_one_connection_per_kind_for_the_organisation_and_for_each_team(benefits_team):
    from django.core.exceptions import ValidationError

    connect()
    connect(team=benefits_team)
    with pytest.raises(ValidationError, match="organisation already has a connection"):
        connect()
    with pytest.raises(ValidationError, match="team already has a connection"):
        connect(team=benefits_team)


# --- the admin ----------------------------------------------------------------------------------


def form(**overrides: str) -> dict[str, str]:
    data = {
        "kind": "pagerduty",
        "name": "Organisation PagerDuty",
        "team": "",
        "api_url": "",
        "username": "",
        "account": "",
        "secret": SECRET,
        "enabled": "on",
    }
    return {**data, **overrides}


def test_an_admin_adds_a_connection_with_the_default_url_and_an_encrypted_secret(cast, client_for):
    response = client_for(cast["admin"]).post(ADD_URL, form())

    assert response.status_code == 302, response.content.decode()[:2000]
    stored = PlatformConnection.objects.get()
    assert stored.api_url == "https://api.pagerduty.com"
    assert stored.credentials().secret == SECRET
    assert stored.secret_changed_at is not None


def test_the_change_page_never_shows_the_secret_and_an_empty_field_keeps_it(cast, client_for):
    stored = connect()
    admin = client_for(cast["admin"])
    url = f"/admin/reviews/platformconnection/{stored.pk}/change/"

    page = admin.get(url)
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert stored.secret_ciphertext not in page.content.decode()

    response = admin.post(url, form(name="Renamed", secret="", api_url=stored.api_url))
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.name == "Renamed"
    assert stored.credentials().secret == SECRET


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"api_url": "http://api.pagerduty.com"}, "api_url", "Use an https:// URL"),
        ({"secret": ""}, "secret", "Enter the secret."),
        ({"kind": "cloudfoundry"}, "username", "needs the service account's username"),
        ({"account": "123"}, "account", "Only New Relic connections take an account ID."),
        ({"kind": "newrelic", "account": "12ab"}, "account", "A New Relic account ID is a number."),
    ],
)
def test_the_admin_form_refuses_bad_input_and_saves_nothing(
    cast, client_for, overrides, field, message
):
    response = client_for(cast["admin"]).post(ADD_URL, form(**overrides))

    assert response.status_code == 200
    assert message in response.context["adminform"].form.errors[field][0]
    assert not PlatformConnection.objects.exists()


@pytest.mark.parametrize("who", ["lead", "reviewer", "manager", "auditor", "nobody"])
def test_only_admins_can_see_or_add_connections(cast, client_for, who):
    connect()
    client = client_for(cast[who])

    assert client.get("/admin/reviews/platformconnection/").status_code in (302, 403)
    assert client.post(ADD_URL, form(name="sneaky")).status_code in (302, 403)
    assert PlatformConnection.objects.count() == 1


def test_a_services_platform_settings_are_validated(benefits_team):
    from django.core.exceptions import ValidationError

    bad = Service(
        name="x",
        slug="x",
        team=benefits_team,
        pagerduty_service_id="not-an-id",
        cloud_foundry_space="just-an-org",
    )
    with pytest.raises(ValidationError) as raised:
        bad.full_clean()

    assert set(raised.value.message_dict) == {"pagerduty_service_id", "cloud_foundry_space"}


def test_saving_and_deleting_connections_is_audited_without_the_secret(cast, client_for):
    from portal.audit.models import AuditEvent, AuditKind

    admin = client_for(cast["admin"])
    admin.post(ADD_URL, form())
    stored = PlatformConnection.objects.get()
    url = f"/admin/reviews/platformconnection/{stored.pk}/change/"
    admin.post(url, form(name="Renamed", secret="", api_url=stored.api_url))
    admin.post(url, form(name="Renamed", secret="a-new-key-123", api_url=stored.api_url))
    admin.post(f"/admin/reviews/platformconnection/{stored.pk}/delete/", {"post": "yes"})

    events = list(
        AuditEvent.objects.filter(
            kind__in=[AuditKind.CONNECTION_SAVED, AuditKind.CONNECTION_DELETED]
        ).order_by("pk")
    )
    assert [
        (e.kind, e.details.get("created"), e.details.get("secret_changed")) for e in events
    ] == [
        (AuditKind.CONNECTION_SAVED, True, True),
        (AuditKind.CONNECTION_SAVED, False, False),
        (AuditKind.CONNECTION_SAVED, False, True),
        (AuditKind.CONNECTION_DELETED, None, None),
    ]
    assert all(e.actor == cast["admin"] for e in events)
    assert events[-1].details["platform"] == "pagerduty"
    for event in events:
        assert SECRET not in str(event.details) and "a-new-key" not in str(event.details)


def test_the_admin_tests_connections_and_says_what_each_platform_answered(
    cast, client_for, tmp_path, monkeypatch
):
    import json

    import trustme

    from tests.http_servers import LocalServer, server_context

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    # The action uses the system trust store, which OpenSSL reads from SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    with LocalServer.running(server_context(ca.issue_cert("127.0.0.1"))) as fake:
        fake.route("/abilities", 200, {"Content-Type": "application/json"}, json.dumps({}))
        fake.route("/graphql", 401, {"Content-Type": "application/json"}, "{}")
        good = connect(api_url=fake.url(""))
        bad = connect(kind="newrelic", api_url=fake.url("/graphql"))

        response = client_for(cast["admin"]).post(
            "/admin/reviews/platformconnection/",
            {"action": "verify_connections", "_selected_action": [good.pk, bad.pk]},
            follow=True,
        )

    said = sorted(str(m) for m in response.context["messages"])
    assert said == [
        "New Relic: newrelic org: New Relic refused the credentials of the connection "
        "“newrelic org” (401 on /graphql).",
        "PagerDuty: pagerduty org: PagerDuty accepted the key (0 abilities).",
    ]


def test_the_administration_page_links_to_the_connections(cast, client_for):
    connect()

    page = client_for(cast["admin"]).get("/administration/").content.decode()

    assert "1 connection to PagerDuty, New Relic or Cloud Foundry" in page
    assert 'href="/admin/reviews/platformconnection/"' in page
