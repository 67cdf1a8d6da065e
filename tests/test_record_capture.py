"""Complete capture: every write the portal can make leaves exactly one attributed history
row for each record it changed (who, why, in which request, from where), none for the
records it left alone, and a line of the shared record for each row. Background work
writes with a request id of its own; 18F's "What to log" events are recorded.

The walk starts from the project's URL patterns (``tests/record_writes.py``): a URL that
accepts a write and has no scenario there fails here, by name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from simple_history.models import HistoricalChanges

from portal.accounts.models import SecurityPolicy
from portal.audit import registry
from portal.audit.models import AuditEvent, AuditKind, Entry
from tests.factories import UserFactory
from tests.record_writes import (
    ADMIN_SITE_READS,
    ADMIN_UNFOLLOWED,
    ADMIN_WRITES,
    COMMITTING,
    READS,
    SCENARIOS,
    Attempt,
    World,
    admin_allows,
    admin_models,
    admin_route_label,
    routes,
)

pytestmark = pytest.mark.django_db

CLIENT_IP = "127.0.0.1"  # what Django's test client sends as REMOTE_ADDR


def history_models() -> list[Any]:
    """Every history table (not the many-to-many snapshots that belong to a row)."""
    return [
        m
        for m in apps.get_models()
        if issubclass(m, HistoricalChanges) and hasattr(m, "history_change_reason")
    ]


@dataclass(frozen=True)
class Mark:
    """Where each history table, the record and the events stood before a request."""

    history: dict[Any, int]
    event: int

    @classmethod
    def now(cls) -> Mark:
        def top(model: Any, field: str) -> int:
            return model.objects.order_by(f"-{field}").values_list(field, flat=True).first() or 0

        return cls(
            history={m: top(m, "history_id") for m in history_models()},
            event=top(AuditEvent, "id"),
        )

    def rows(self) -> list[Any]:
        """The history rows written since."""
        return [
            row
            for model, top in self.history.items()
            for row in model.objects.filter(history_id__gt=top).order_by("history_id")
        ]

    def events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(id__gt=self.event).order_by("id"))


def label_and_id(row: Any) -> tuple[str, Any]:
    model = row.instance_type
    return model._meta.label_lower, getattr(row, model._meta.pk.attname)


def client_for_attempt(world: World, attempt: Attempt) -> Any:
    return attempt.client or world.client(attempt.who or "")


def perform(client: Any, attempt: Attempt) -> Any:
    options: dict[str, Any] = {"headers": attempt.headers or {}}
    if attempt.content_type:
        options["content_type"] = attempt.content_type
    send = getattr(client, attempt.method)
    return send(attempt.path, attempt.data if attempt.data is not None else {}, **options)


@pytest.fixture
def world(cast, service, review, answer, settings) -> World:
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    SecurityPolicy.current()  # stored on first use; here, before any request
    return World(
        cast={**cast, "root": root},
        service=service,
        review=review,
        answer=answer,
        settings=settings,
    )


def write_keys() -> list[str]:
    return sorted(r.key for r in routes() if r.writes and r.key in SCENARIOS)


# --- the walk ---------------------------------------------------------------------------------


def is_admin(route: Any) -> bool:
    return route.namespace == "admin" or route.route.startswith("admin/")


def test_every_url_that_accepts_a_write_has_a_scenario_or_only_reads():
    unplanned = sorted(
        f"{r.key} ({r.route})"
        for r in routes()
        if not is_admin(r) and r.writes and r.key not in SCENARIOS and r.key not in READS
    )
    assert not unplanned, (
        "These URLs accept POST (or any method) but tests/record_writes.py has no scenario "
        "for them: add one with @scenario(...) saying who writes and which records change, "
        "or, for a page that only reads, decorate the view with @require_safe (or list it "
        f"in READS with why): {unplanned}"
    )


def test_every_admin_page_that_writes_has_a_scenario_or_is_refused(world):
    unplanned = []
    for route in filter(is_admin, routes()):
        if route.key in SCENARIOS or route.key in ADMIN_SITE_READS:
            continue
        found = admin_route_label(route)
        if found is None:
            unplanned.append(f"{route.key}: an admin page of its own")
            continue
        label, action = found
        if action not in ADMIN_WRITES or label in ADMIN_UNFOLLOWED:
            continue  # history lists and redirects read; see ADMIN_UNFOLLOWED
        if registry.audited(label) is None:
            unplanned.append(f"{route.key}: {label} is in the admin but not in the record")
        elif admin_allows(label, action, world.cast["root"]):
            unplanned.append(f"{route.key}: the admin allows it; add a scenario (ADMIN_SPECS)")
    assert not unplanned, unplanned


def test_the_tables_name_only_urls_that_exist():
    keys = {r.key for r in routes()} | set(ADMIN_SITE_READS)
    assert not set(SCENARIOS) - keys, sorted(set(SCENARIOS) - keys)
    assert not set(READS) - keys, sorted(set(READS) - keys)


# Writes known to break the rule, each with why; strict, so a fix makes the test say so.
KNOWN_BREAKS: dict[str, str] = {}


def scenario_params() -> list[Any]:
    params = []
    for key in sorted(SCENARIOS):
        marks = []
        if key in COMMITTING:
            marks.append(pytest.mark.django_db(transaction=True))
        if key in KNOWN_BREAKS:
            marks.append(pytest.mark.xfail(reason=KNOWN_BREAKS[key], strict=True))
        params.append(pytest.param(key, marks=marks))
    return params


@pytest.mark.parametrize("key", scenario_params())
def test_a_write_leaves_one_attributed_row_per_changed_record_and_none_for_others(
    world, key, django_capture_on_commit_callbacks
):
    attempt = SCENARIOS[key](world)
    client = client_for_attempt(world, attempt)
    before = Mark.now()
    # What runs once the request's transaction commits (allauth's MFA events, tasks) runs.
    with django_capture_on_commit_callbacks(execute=True):
        response = perform(client, attempt)
    assert response.status_code in attempt.ok, (key, response.status_code, response.content[:600])
    request_id = response["X-Request-ID"]
    actor = world.cast[attempt.who] if attempt.who else None

    rows = before.rows()
    per_record: dict[tuple[str, Any], list[Any]] = defaultdict(list)
    for row in rows:
        per_record[label_and_id(row)].append(row)
    twice = {record: len(found) for record, found in per_record.items() if len(found) > 1}
    assert not twice, f"{key}: more than one history row for one change: {twice}"

    changed: dict[str, set[Any]] = defaultdict(set)
    for label, pk in per_record:
        changed[label].add(pk)
    expected = attempt.changes or {}
    for label, want in expected.items():
        got = changed.get(label, set())
        if isinstance(want, int):
            assert len(got) == want, f"{key}: {label} records changed: {sorted(got)}"
        else:
            assert got == set(want), f"{key}: {label} records changed: {sorted(got)}"
    unexpected = {label: sorted(pks) for label, pks in changed.items() if label not in expected}
    assert not unexpected, f"{key}: records changed that should not have: {unexpected}"

    for row in rows:
        where = (key, *label_and_id(row), row.history_type)
        assert row.history_user_id == (actor.pk if actor else None), where
        assert row.history_change_reason, where
        assert row.history_request_id == request_id, where
        assert row.history_ip_address == CLIENT_IP, where
        line = Entry.objects.get(source_table=row._meta.db_table, source_id=row.pk)
        assert (line.request_id, line.reason) == (request_id, row.history_change_reason), where

    events = before.events()
    assert Counter(e.kind for e in events) == Counter(attempt.events), (key, events)
    for event in events:
        assert event.request_id == request_id, (key, event)
        assert Entry.objects.filter(source_table="audit_auditevent", source_id=event.pk).exists()


def test_what_an_admin_refuses_writes_nothing_but_the_refusal(world):
    """The admin pages of followed models that their admin refuses (read-only records,
    deleting people, adding checklists by hand...) answer 403 and change nothing."""
    refused = [
        (label, action)
        for label in sorted(admin_models())
        if registry.audited(label) is not None
        for action in ADMIN_WRITES
        if not admin_allows(label, action, world.cast["root"])
    ]
    assert ("reviews.review", "change") in refused and ("accounts.user", "delete") in refused
    client = world.client("root")
    records = some_records(world)
    for label, action in refused:
        before = Mark.now()
        path, data = refused_request(label, action, records[label])
        response = client.post(path, data)
        if action == "changelist":  # no action to run: the list says so, nothing happens
            assert response.status_code in (200, 302), (label, action, response.status_code)
        else:
            assert response.status_code == 403, (label, action, response.status_code)
        assert before.rows() == [], (label, action)
        kinds = {e.kind for e in before.events()}
        assert kinds <= {"access_denied"}, (label, action, kinds)


def some_records(world: World) -> dict[str, Any]:
    """One record of every followed model, made the portal's way."""
    from reviews import signoffs, waivers
    from reviews.evidence import evidence_add
    from reviews.services import comment_add
    from tests import record_writes as w

    lead, reviewer = world.cast["lead"], world.cast["reviewer"]
    evidence_add(answer=world.answer, by=lead, kind="note", note="n", effective_date=w._today())
    comment_add(answer=world.answer, by=reviewer, body="Which database?")
    w._waiver(world)
    w.launch_audit(world)
    client = world.client("lead")
    path = w._url("reviews:journal", world.service.slug)
    client.post(path, w._filled(client, path, body="A note"))
    w._connection(world)
    w.draft_version(world)
    found = {}
    for label in registry.audited_labels():
        model = apps.get_model(label)
        found[label] = model._default_manager.order_by("pk").last()
    if found.get("reviews.signoff") is None:
        # Pending exceptions block sign-off: the one above is decided first.
        waivers.waiver_decide(
            waiver=found["reviews.waiver"], by=reviewer, approve=True, comment="Fine"
        )
        review = w._submitted(world)
        found["reviews.signoff"] = signoffs.signoff_record(
            review=review, by=reviewer, role="security_reviewer", decision="approve", comment=""
        )
    return found


def refused_request(label: str, action: str, record: Any) -> tuple[str, dict[str, Any]]:
    app_label, model_name = label.split(".")
    base = f"/admin/{app_label}/{model_name}/"
    if action == "add":
        return f"{base}add/", {}
    if action == "change":
        return f"{base}{record.pk}/change/", {}
    if action == "delete":
        return f"{base}{record.pk}/delete/", {"post": "yes"}
    if action == "simple_history":
        first = type(record).history.filter(**{"id": record.pk}).earliest()
        return f"{base}{record.pk}/history/{first.history_id}/", {}
    return base, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}


# --- background work ------------------------------------------------------------------------------


def test_expiring_an_exception_in_the_background_is_attributed_to_the_task(world):
    import time_machine
    from django.utils import timezone

    from reviews import waivers
    from reviews.tasks import expire_waivers
    from tests import record_writes as w

    waiver = waivers.waiver_decide(
        waiver=w._waiver(world), by=world.cast["reviewer"], approve=True, comment=""
    )
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        before = Mark.now()
        result = expire_waivers.delay().get()
    assert result == {"expired": 1, "reminded": 0}
    assert_task_rows(before, {("reviews.waiver", waiver.pk), ("reviews.review", world.review.pk)})


def test_reminders_sent_in_the_background_are_attributed_to_the_task(world):
    import time_machine
    from django.utils import timezone

    from reviews import waivers
    from reviews.tasks import expire_waivers
    from tests import record_writes as w

    waiver = waivers.waiver_decide(
        waiver=w._waiver(world), by=world.cast["reviewer"], approve=True, comment=""
    )
    with time_machine.travel(timezone.now() + timedelta(days=28), tick=False):
        before = Mark.now()
        result = expire_waivers.delay().get()
    assert result == {"expired": 0, "reminded": 1}
    assert_task_rows(before, {("reviews.waiver", waiver.pk)})


def assert_task_rows(before: Mark, expected: set[tuple[str, Any]]) -> None:
    rows = before.rows()
    assert {label_and_id(row) for row in rows} == expected
    assert len(rows) == len(expected)
    task_ids = {row.history_request_id for row in rows}
    assert len(task_ids) == 1 and task_ids.pop().startswith("task-"), rows
    for row in rows:
        assert row.history_change_reason, row
        assert row.history_ip_address is None  # no address: nobody sent it
        line = Entry.objects.get(source_table=row._meta.db_table, source_id=row.pk)
        assert line.request_id == row.history_request_id


@pytest.mark.usefixtures("loopback_allowed")
def test_a_sweep_that_changes_a_review_is_attributed_to_its_task(
    lead, benefits_team, django_capture_on_commit_callbacks
):
    from checklists.parsers import parse_file
    from checklists.services import checklist_import
    from reviews import services
    from reviews.checks.tasks import sweep
    from reviews.models import Service
    from tests.http_servers import LocalServer

    checked = b"""---
title: Checked
slug: checked
checks:
  service-answers-health-checks: [http.health]
---
## Ops
- **Service answers health checks**
"""
    version = checklist_import(
        parsed=parse_file("c.md", checked).checklist, by=None, publish=True
    ).version
    with LocalServer.running() as server:
        service = Service.objects.create(
            name="Benefits portal",
            slug="benefits-portal",
            team=benefits_team,
            health_check_url=server.route("/healthz", status=500),
        )
        review = services.review_start(service=service, checklist_version=version, by=lead)
        before = Mark.now()
        with django_capture_on_commit_callbacks(execute=True):
            sweep.delay()
    assert_task_rows(before, {("reviews.review", review.pk)})
    (row,) = before.rows()
    assert row.history_change_reason == "Automated check results changed"


# --- 18F's "What to log": the events themselves ---------------------------------------------------


def test_a_refused_request_is_recorded_with_who_what_how_and_why(world):
    client = world.client("manager")
    response = client.post(reverse("reviews:service_create"), {"name": "x"})
    assert response.status_code == 403
    event = AuditEvent.objects.get(kind=AuditKind.ACCESS_DENIED)
    assert event.actor == world.cast["manager"]
    assert event.request_id == response["X-Request-ID"]
    assert event.ip_address == CLIENT_IP
    assert event.details == {
        "path": "/services/new/",
        "method": "POST",
        "reason": "Only product leads add services, to their own teams.",
    }
    line = Entry.objects.get(source_table="audit_auditevent", source_id=event.pk)
    assert (line.change, line.actor_id) == ("access_denied", world.cast["manager"].pk)


def test_an_api_refusal_is_recorded_too(world):
    from portal.accounts.services import api_token_create

    _token, plain = api_token_create(user=world.cast["nobody"], name="t")
    response = Client().get("/api/v1/portfolio", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 403
    event = AuditEvent.objects.get(kind=AuditKind.ACCESS_DENIED)
    assert (event.actor, event.details["path"]) == (world.cast["nobody"], "/api/v1/portfolio")


def test_another_teams_record_answered_as_not_found_is_still_a_refusal(world):
    """Other teams' ids answer 404 (they cannot be probed), and the record says who tried."""
    response = world.client("other_lead").get(world.service.get_absolute_url())
    assert response.status_code == 404
    event = AuditEvent.objects.get(kind=AuditKind.ACCESS_DENIED)
    assert event.actor == world.cast["other_lead"]
    assert event.details["path"] == world.service.get_absolute_url()
    assert event.details["reason"].endswith("(answered as not found)")


def test_a_refused_form_token_is_a_refusal_for_the_signed_in(world):
    client = world.client("lead")
    client.handler.enforce_csrf_checks = True
    response = client.post(reverse("reviews:service_create"), {"name": "x"})
    assert response.status_code == 403
    event = AuditEvent.objects.get(kind=AuditKind.ACCESS_DENIED)
    assert event.actor == world.cast["lead"]
    assert event.details["reason"].startswith("The form's security token was missing or wrong")
    # A stale sign-in form is no one's refusal: anonymous refusals are not recorded.
    Client(enforce_csrf_checks=True).post(reverse("account_login"), {"login": "x"})
    assert AuditEvent.objects.filter(kind=AuditKind.ACCESS_DENIED).count() == 1


def test_visitors_sent_to_sign_in_are_not_refusals(db):
    response = Client().get(reverse("reviews:queue"))
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(kind=AuditKind.ACCESS_DENIED).exists()


def test_a_long_refused_address_is_cut_short(world):
    client = world.client("nobody")
    response = client.get(reverse("reviews:queue") + "?q=" + "x" * 5000)
    assert response.status_code == 403
    event = AuditEvent.objects.get(kind=AuditKind.ACCESS_DENIED)
    assert len(event.details["path"]) == 300


def test_a_failed_sign_in_is_recorded(world):
    response = Client().post(
        reverse("account_login"), {"login": world.cast["lead"].email, "password": "wrong"}
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(kind=AuditKind.LOGIN_FAILED)
    assert event.subject_user == world.cast["lead"]
    assert event.request_id == response["X-Request-ID"]


def test_the_portfolio_csv_is_recorded_as_an_export_with_its_filters(world):
    response = world.client("manager").get(reverse("reviews:portfolio_csv"), {"q": "Benefits"})
    assert response.status_code == 200
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(kind=AuditKind.EXPORTED)
    assert event.actor == world.cast["manager"]
    assert event.details["what"] == "Portfolio CSV"
    assert event.details["filters"] == {"q": "Benefits"}


def test_downloading_an_evidence_file_is_recorded(world, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from reviews.evidence import evidence_add
    from tests import record_writes as w

    settings.MEDIA_ROOT = tmp_path
    evidence = evidence_add(
        answer=world.answer,
        by=world.cast["lead"],
        kind="file",
        upload=SimpleUploadedFile("restore.txt", b"restored fine"),
        effective_date=w._today(),
    )
    response = world.client("auditor").get(reverse("reviews:evidence_file", args=[evidence.pk]))
    assert response.status_code == 200
    event = AuditEvent.objects.get(kind=AuditKind.FILE_DOWNLOADED)
    assert event.actor == world.cast["auditor"]
    assert event.details == {
        "what": "restore.txt",
        "evidence": evidence.pk,
        "review": world.review.pk,
    }


def test_a_password_changed_outside_the_web_is_recorded_and_a_rehash_is_not(world):
    person = world.cast["lead"]
    person.set_password("a brand new password")
    person.save()
    event = AuditEvent.objects.get(kind=AuditKind.PASSWORD_CHANGED)
    assert event.subject_user == person
    assert event.details == {"how": "outside the web pages", "usable": True}
    # Django upgrading the hash at sign-in is not a change of password.
    person.password = "pbkdf2_sha256$1$salt$" + "x" * 44
    person.save(update_fields=["password"])
    assert AuditEvent.objects.filter(kind=AuditKind.PASSWORD_CHANGED).count() == 1


def test_changes_in_the_admin_to_unfollowed_models_name_what_changed(world):
    from django.contrib.auth.models import Group

    client = world.client("root")
    response = client.post("/admin/auth/group/add/", {"name": "Contractors"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(kind=AuditKind.ADMIN_ACTION)
    group = Group.objects.get(name="Contractors")
    assert event.actor == world.cast["root"]
    assert event.subject_label == "Contractors"
    assert event.details["action"] == "added"
    assert (event.details["record_type"], event.details["record_id"]) == (
        "auth.group",
        str(group.pk),
    )


def test_the_receivers_docstring_answers_every_item_of_the_18f_checklist():
    """The built-in checklist is the specification: each of its items is named where the
    receivers say how Preflight records it (or why it does not apply)."""
    from checklists.builtin import BUILTIN_DIR
    from checklists.parsers import parse_file
    from portal.audit import receivers

    path = BUILTIN_DIR / "18f-logging-requirements.md"
    checklist = parse_file(path.name, path.read_bytes()).checklist
    items = [item.text for section in checklist.sections for item in section.items]
    doc = " ".join((receivers.__doc__ or "").split())
    missing = [text for text in items if text.split(" (")[0] not in doc]
    assert len(items) >= 14
    assert not missing, missing


# --- retention: deleting keeps the history -------------------------------------------------------


def test_deleting_a_draft_keeps_every_history_row_and_line_and_names_who(world):
    from checklists.models import ChecklistVersion, Item, Section
    from checklists.services import version_delete_draft
    from tests import record_writes as w

    draft = w.draft_version(world)
    records = {
        (ChecklistVersion, draft.pk),
        *((Section, pk) for pk in draft.sections.values_list("pk", flat=True)),
        *((Item, pk) for pk in draft.items.values_list("pk", flat=True)),
    }
    kept = {
        (m, pk): list(m.history.filter(id=pk).values_list("pk", flat=True)) for m, pk in records
    }
    lines_before = Entry.objects.count()
    before = Mark.now()
    version_delete_draft(version=draft, by=world.cast["admin"])
    for (model, pk), history in kept.items():
        assert set(history) <= set(model.history.filter(id=pk).values_list("pk", flat=True))
    rows = before.rows()
    assert {label_and_id(r) for r in rows} == {(m._meta.label_lower, pk) for m, pk in records}
    for row in rows:
        assert row.history_type == "-"
        assert row.history_user_id == world.cast["admin"].pk
        assert row.history_change_reason == f"Draft {draft} deleted"
    assert Entry.objects.count() == lines_before + len(rows)


def test_deleting_in_the_admin_keeps_the_record_and_its_lines(world):
    from portal.accounts.models import Team
    from tests.factories import TeamFactory

    team = TeamFactory(name="Claims Team", slug="claims")
    team.name = "Claims and Appeals"
    team._change_reason = "Renamed"
    team.save()
    lines = list(
        Entry.objects.filter(record_type="accounts.team", record_id=str(team.pk)).values_list(
            "pk", flat=True
        )
    )
    response = world.client("root").post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    history = Team.history.filter(id=team.pk).order_by("history_id")
    assert [h.history_type for h in history] == ["+", "~", "-"]
    kept = Entry.objects.filter(record_type="accounts.team", record_id=str(team.pk))
    assert set(lines) < set(kept.values_list("pk", flat=True))
    assert kept.order_by("-id").first().change == "deleted"


def test_deleting_several_records_at_once_in_the_admin_records_each(world):
    from django.contrib.auth.models import Group

    groups = [Group.objects.create(name=f"Contractors {n}") for n in (1, 2)]
    response = world.client("root").post(
        "/admin/auth/group/",
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
    )
    assert response.status_code == 302
    events = AuditEvent.objects.filter(kind=AuditKind.ADMIN_ACTION).order_by("id")
    assert sorted((e.details["action"], e.subject_label) for e in events) == [
        ("deleted", "Contractors 1"),
        ("deleted", "Contractors 2"),
    ]
    assert {e.actor for e in events} == {world.cast["root"]}


def test_deleting_a_role_or_a_team_records_every_membership_it_ends(world):
    from django.contrib.auth.models import Group

    from tests.factories import TeamFactory

    manager, lead = world.cast["manager"], world.cast["lead"]
    team = TeamFactory(name="Claims Team", slug="claims")
    team.members.add(lead)
    client = world.client("root")
    managers = Group.objects.get(name="Manager")
    before = Mark.now()
    for path in (f"/admin/auth/group/{managers.pk}/", f"/admin/accounts/team/{team.pk}/"):
        assert client.post(path + "delete/", {"post": "yes"}).status_code == 302
    got = [(e.kind, e.subject_user) for e in before.events()]
    assert (AuditKind.ROLE_REVOKED, manager) in got
    assert (AuditKind.TEAM_MEMBER_REMOVED, lead) in got
