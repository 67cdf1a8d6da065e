"""The auditor reads everything and changes nothing.

Every URL that accepts a write (enumerated from the project's URL patterns, the API and
the admin included; see tests/record_writes.py) is sent the same well-formed request the
scenario's rightful author sends, by the auditor instead: it is refused (401, 403, 404 or
405; the admin sends them to its sign-in page) and no row of any table changes, but for
the record of the refusal itself. The pages that only read, sent a POST, change nothing
either. And every auditor page answers the auditor.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from portal.accounts.models import SecurityPolicy
from portal.audit.models import AuditEvent, Entry
from reviews.models import CheckRun
from tests.factories import UserFactory
from tests.record_writes import (
    ADMIN_SITE_READS,
    OWN_ACCOUNT,
    READS,
    SCENARIOS,
    World,
    routes,
)

pytestmark = pytest.mark.django_db

# Tables a refused request may add to: the refusal's event, its line and the chain head.
RECORD_TABLES = ("audit_auditevent", "audit_entry", "audit_chainhead")
# Sessions are the visitor's own (a sign-in page may start one), and so is when they last
# looked at a review (for "changed since my last visit"); no record lives there.
IGNORED_TABLES = ("django_session", "reviews_reviewvisit")


def table_digests() -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows, in one order."""
    found = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table in IGNORED_TABLES or table in RECORD_TABLES:
                continue
            rows = "coalesce(string_agg(t::text, '|' ORDER BY t::text), '')"
            cursor.execute(f'SELECT count(*), md5({rows}) FROM "{table}" t')  # noqa: S608
            found[table] = cursor.fetchone()
    return found


class Unchanged:
    """Everything as it stands; ``assert_only_refusals`` says what changed since."""

    def __init__(self, auditor: Any) -> None:
        self.auditor = auditor
        self.tables = table_digests()
        self.event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.line = Entry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.lines = self._old_lines()

    def _old_lines(self) -> list[tuple[Any, ...]]:
        rows = Entry.objects.filter(id__lte=self.line).order_by("id")
        return list(rows.values_list("id", "chain_hash"))

    def assert_only_refusals(self, what: str, reading: bool = False) -> None:
        """Nothing changed but the record of the auditor's refusals (and, ``reading``,
        of what they read that the record notes: an export, an evidence file)."""
        changed = {
            table: digest
            for table, digest in table_digests().items()
            if self.tables.get(table) != digest
        }
        assert not changed, f"{what}: the auditor changed {sorted(changed)}"
        assert self._old_lines() == self.lines, f"{what}: a line of the record changed"
        events = AuditEvent.objects.filter(id__gt=self.event)
        kinds = {"access_denied", *(("exported", "file_downloaded") if reading else ())}
        assert all(e.kind in kinds and e.actor_id == self.auditor.pk for e in events), (
            f"{what}: {list(events)}"
        )
        added = Entry.objects.filter(id__gt=self.line)
        assert sorted(added.values_list("source_id", flat=True)) == sorted(
            events.values_list("id", flat=True)
        ), what


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


def auditor_writes() -> list[str]:
    """Every write scenario the auditor must be refused: all but their own account's."""
    return sorted(set(SCENARIOS) - OWN_ACCOUNT)


def test_only_the_auditors_own_account_is_left_to_them():
    """What the auditor may write: their own sign-in, password, email, two-factor set-up
    and read-only API token, and the Verify button (which only reads)."""
    theirs = ("accounts:api_token_create", "audit:verify", "admin:login", "admin:logout")
    assert all(
        key.startswith(("account_", "mfa_", "socialaccount_", "openid_connect_"))
        or key in (*theirs, "admin:password_change")
        for key in OWN_ACCOUNT
    ), sorted(OWN_ACCOUNT)


def is_admin(path: str) -> bool:
    return path.startswith("/admin/")


@pytest.mark.parametrize("key", auditor_writes())
def test_the_auditors_write_is_refused_and_changes_nothing(world, key):
    attempt = SCENARIOS[key](world)
    auditor = world.cast["auditor"]
    client = world.client("auditor")
    options: dict[str, Any] = {}
    if attempt.content_type:
        options["content_type"] = attempt.content_type
    unchanged = Unchanged(auditor)
    send = getattr(client, attempt.method)
    # The auditor has no CI token of their own to send: the request goes as they are.
    response = send(attempt.path, attempt.data if attempt.data is not None else {}, **options)
    if is_admin(attempt.path):
        assert response.status_code == 302, (key, response.status_code)
        assert response["Location"].startswith("/admin/login/"), key
    else:
        assert response.status_code in (401, 403, 404, 405), (key, response.status_code)
    unchanged.assert_only_refusals(key)


# --- pages that only read, and every admin page -------------------------------------------


def read_paths(world: World) -> dict[str, str]:
    """A real address for each page of READS (those that take arguments)."""
    from tests.record_writes import launch_audit

    version = world.review.checklist_version
    run = CheckRun.objects.create(trigger="schedule")
    session = launch_audit(world)
    from reviews.evidence import evidence_add
    from tests.record_writes import _today

    evidence = evidence_add(
        answer=world.answer, by=world.cast["lead"], kind="note", note="n", effective_date=_today()
    )
    return {
        "checklists:checklist": reverse("checklists:checklist", args=[version.checklist.slug]),
        "checklists:compare": reverse("checklists:compare", args=[version.checklist.slug]),
        "checklists:version": reverse(
            "checklists:version", args=[version.checklist.slug, version.number]
        ),
        "reviews:service": world.service.get_absolute_url(),
        "reviews:review": world.review.get_absolute_url(),
        "reviews:evidence_file": reverse("reviews:evidence_file", args=[evidence.pk]),
        "reviews:check_run": reverse("reviews:check_run", args=[run.pk]),
        "reviews:audit_session": reverse("reviews:audit_session", args=[session.pk]),
        "^api(?:/.*)?$": "/api/nothing-here",
    }


def test_pages_that_only_read_change_nothing_when_the_auditor_posts_to_them(world):
    paths = read_paths(world)
    by_key = {r.key: r for r in routes()}
    auditor = world.cast["auditor"]
    client = world.client("auditor")
    for key in sorted(READS):
        route = by_key[key]
        path = paths.get(key) or "/" + route.route
        assert "<" not in path and "^" not in path, f"read_paths needs an address for {key}"
        unchanged = Unchanged(auditor)
        response = client.post(path, {"name": "x"})
        assert response.status_code < 500, (key, response.status_code)
        unchanged.assert_only_refusals(key, reading=True)


ADMIN_ARGUMENT = re.compile(r"<(?:path:|id:)?\w+>")


def test_every_admin_page_sends_the_auditor_to_its_sign_in_and_changes_nothing(world):
    auditor = world.cast["auditor"]
    client = world.client("auditor")
    for route in routes():
        if not route.route.startswith("admin/") or "^" in route.route or "(?P" in route.route:
            continue  # regex routes: simple-history's revert pages, the catch-all
        path = "/" + ADMIN_ARGUMENT.sub("1", route.route)
        unchanged = Unchanged(auditor)
        response = client.post(path, {"post": "yes", "name": "x"})
        if route.key in ("admin:login", "admin:jsi18n", "admin:logout"):
            assert response.status_code < 500, (route.key, response.status_code)
        else:
            assert response.status_code == 302, (route.key, response.status_code)
            assert "/login/" in response["Location"], (route.key, response["Location"])
        unchanged.assert_only_refusals(route.key)
    assert "admin:index" in ADMIN_SITE_READS


# --- the auditor's pages ------------------------------------------------------------------


def auditor_pages(world: World) -> dict[str, str]:
    """Every page of the record the auditor works from, at a real address."""
    from tests.record_writes import launch_audit

    review = world.review
    session = launch_audit(world)
    return {
        "audit:activity": reverse("audit:activity"),
        "audit:export_csv": reverse("audit:export_csv"),
        "audit:export_json": reverse("audit:export_json"),
        "audit:portfolio_csv": reverse("audit:portfolio_csv"),
        "audit:portfolio_json": reverse("audit:portfolio_json"),
        "audit:timeline": reverse("audit:timeline", args=["reviews.review", review.pk]),
        "audit:verify": reverse("audit:verify"),
        "reviews:review_as_of": reverse("reviews:review_as_of", args=[review.pk]),
        "reviews:audit_pack": reverse("reviews:audit_pack", args=[review.pk]),
        "reviews:audit_session": reverse("reviews:audit_session", args=[session.pk]),
        "reviews:journal": reverse("reviews:journal", args=[world.service.slug]),
        "reviews:portfolio": reverse("reviews:portfolio"),
        "reviews:service": world.service.get_absolute_url(),
        "reviews:review": review.get_absolute_url(),
        "reviews:check_runs": reverse("reviews:check_runs"),
        "checklists:library": reverse("checklists:library"),
    }


# Pages of the record that are not the auditor's: none yet. A new page in the audit
# namespace is the auditor's unless it is named here with why.
NOT_THE_AUDITORS: dict[str, str] = {}


def test_every_page_of_the_record_is_in_the_auditors_table(world):
    pages = auditor_pages(world)
    record_pages = {
        r.key
        for r in routes()
        if r.namespace == "audit" and not (r.methods or set()) - {"GET", "HEAD", "POST"}
    }
    missing = sorted(record_pages - set(pages) - set(NOT_THE_AUDITORS))
    assert not missing, f"Add these pages of the record to auditor_pages(): {missing}"


def test_the_auditor_gets_every_auditor_page(world):
    client = world.client("auditor")
    for key, path in auditor_pages(world).items():
        response = client.get(path)
        assert response.status_code == 200, (key, path, response.status_code)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
