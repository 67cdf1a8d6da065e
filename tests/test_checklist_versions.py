"""Checklist versions: a published one never changes, drafts do, and the diff between two.

The guard lives on the models and their querysets, so these tests go through every way
Django offers to write a row, not only the services.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from checklists.models import (
    Checklist,
    ChecklistVersion,
    Item,
    PublishedVersionError,
    Section,
    VersionStatus,
)
from checklists.parsers import parse_file
from checklists.selectors import version_diff, version_with_content
from checklists.services import (
    ChecklistError,
    ImportResult,
    checklist_import,
    version_content_hash,
    version_delete_draft,
    version_new_draft,
    version_publish,
)

pytestmark = pytest.mark.django_db

REFUSED = "is published and cannot be changed. Create a new draft version instead."

V1 = """\
title: Launch readiness
slug: launch-readiness
signoff_roles: [security_reviewer]
sections:
  - title: Operations
    items:
      - {ref: backups, text: Backups run nightly, must_have: true}
      - {ref: restores, text: Restores are tested, guidance: Every quarter.}
      - {ref: runbook, text: A runbook exists}
      - {ref: on-call, text: Someone is on call}
  - title: Security
    items:
      - {ref: tls, text: TLS everywhere, must_have: true}
      - ref: scans
        text: Vulnerability scans run
        checks: [{key: http.health, params: {max_ms: 500}}]
"""

# From V1: "status-page" added, "runbook" removed, "backups" text changed, "restores"
# made a must-have, "on-call" moved to Security, "tls" given guidance, "scans" unchanged.
V2 = """\
title: Launch readiness
slug: launch-readiness
signoff_roles: [security_reviewer]
sections:
  - title: Operations
    items:
      - {ref: backups, text: Backups run nightly and are encrypted, must_have: true}
      - {ref: restores, text: Restores are tested, guidance: Every quarter., must_have: true}
      - {ref: status-page, text: A status page is public}
  - title: Security
    items:
      - {ref: tls, text: TLS everywhere, must_have: true, guidance: HSTS too.}
      - ref: scans
        text: Vulnerability scans run
        checks: [{key: http.health, params: {max_ms: 500}}]
      - {ref: on-call, text: Someone is on call}
"""


def import_text(text: str, name: str = "launch.yaml", **options: Any) -> ImportResult:
    parsed = parse_file(name, text.encode("utf-8"))
    return checklist_import(parsed=parsed.checklist, by=None, warnings=parsed.warnings, **options)


def fresh(version: ChecklistVersion) -> ChecklistVersion:
    return ChecklistVersion.objects.get(pk=version.pk)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every stored row of the library, to prove a refused write changed nothing."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Checklist, ChecklistVersion, Section, Item)
    }


@pytest.fixture
def published() -> ChecklistVersion:
    result = import_text(V1)
    return version_publish(version=result.version, by=None)


@pytest.fixture
def draft(published: ChecklistVersion) -> ChecklistVersion:
    return version_new_draft(version=published, by=None)


# --- a published version never changes ------------------------------------------------


def _save_item(v: ChecklistVersion, d: ChecklistVersion) -> None:
    row = v.items.get(ref="backups")
    row.text = "Backups run weekly"
    row.save()


def _save_item_unchanged(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.items.get(ref="backups").save()


def _create_item(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.create(version=v, section=v.sections.first(), ref="new", text="New item")


def _create_section(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Section.objects.create(version=v, title="New section", order=9)


def _save_section(v: ChecklistVersion, d: ChecklistVersion) -> None:
    section = v.sections.get(title="Operations")
    section.title = "Ops"
    section.save()


def _move_section_to_draft(v: ChecklistVersion, d: ChecklistVersion) -> None:
    section = v.sections.get(title="Operations")
    section.version = d
    section.save()


def _delete_item(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.items.get(ref="backups").delete()


def _delete_section(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.sections.get(title="Operations").delete()


def _save_version(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.required_signoff_roles = ["security_reviewer", "manager"]
    v.save()


def _unpublish_version(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.status = VersionStatus.DRAFT
    v.save()


def _delete_version(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.delete()


def _delete_draft_service(v: ChecklistVersion, d: ChecklistVersion) -> None:
    version_delete_draft(version=v)


def _move_item_to_draft(v: ChecklistVersion, d: ChecklistVersion) -> None:
    row = v.items.get(ref="backups")
    row.version = d
    row.section = d.sections.get(title="Operations")
    row.ref = "moved"
    row.save()


def _update_items(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.filter(version=v).update(text="changed")


def _update_items_of_both_versions(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.filter(ref="backups").update(must_have=False)


def _bulk_update_items(v: ChecklistVersion, d: ChecklistVersion) -> None:
    row = v.items.get(ref="backups")
    row.text = "changed"
    Item.objects.bulk_update([row], ["text"])


def _delete_items(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.filter(version=v, ref="runbook").delete()


def _delete_items_through_relation(v: ChecklistVersion, d: ChecklistVersion) -> None:
    v.items.all().delete()


def _update_sections(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Section.objects.filter(version=v).update(title="changed")


def _delete_sections(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Section.objects.filter(version=v).delete()


def _update_versions(v: ChecklistVersion, d: ChecklistVersion) -> None:
    ChecklistVersion.objects.filter(pk=v.pk).update(required_signoff_roles=["manager"])


def _update_all_versions(v: ChecklistVersion, d: ChecklistVersion) -> None:
    ChecklistVersion.objects.all().update(change_note="bulk")


def _delete_versions(v: ChecklistVersion, d: ChecklistVersion) -> None:
    ChecklistVersion.objects.filter(pk=v.pk).delete()


REFUSALS = [
    pytest.param(_save_item, id="item-save"),
    pytest.param(_save_item_unchanged, id="item-save-unchanged"),
    pytest.param(_create_item, id="item-create"),
    pytest.param(_create_section, id="section-create"),
    pytest.param(_save_section, id="section-save"),
    pytest.param(_move_section_to_draft, id="section-move-to-draft"),
    pytest.param(_delete_item, id="item-delete"),
    pytest.param(_delete_section, id="section-delete"),
    pytest.param(_save_version, id="version-save-signoff-roles"),
    pytest.param(_unpublish_version, id="version-unpublish"),
    pytest.param(_delete_version, id="version-delete"),
    pytest.param(_delete_draft_service, id="version-delete-draft-service"),
    pytest.param(_move_item_to_draft, id="item-move-to-draft"),
    pytest.param(_update_items, id="item-queryset-update"),
    pytest.param(_update_items_of_both_versions, id="item-queryset-update-mixed"),
    pytest.param(_bulk_update_items, id="item-bulk-update"),
    pytest.param(_delete_items, id="item-queryset-delete"),
    pytest.param(_delete_items_through_relation, id="item-related-manager-delete"),
    pytest.param(_update_sections, id="section-queryset-update"),
    pytest.param(_delete_sections, id="section-queryset-delete"),
    pytest.param(_update_versions, id="version-queryset-update"),
    pytest.param(_update_all_versions, id="version-queryset-update-all"),
    pytest.param(_delete_versions, id="version-queryset-delete"),
]


@pytest.mark.parametrize("attempt", REFUSALS)
def test_it_refuses_to_change_a_published_version(published, draft, attempt):
    before = snapshot()

    with pytest.raises(PublishedVersionError, match=REFUSED), transaction.atomic():
        attempt(published, draft)

    assert snapshot() == before
    assert fresh(published).is_published


def test_the_refusal_names_the_version(published):
    row = published.items.get(ref="backups")
    row.text = "changed"

    with pytest.raises(PublishedVersionError) as caught:
        row.save()

    assert str(caught.value) == f"Launch readiness v1 {REFUSED}"


def test_deleting_a_checklist_with_versions_is_protected(published):
    before = snapshot()

    with pytest.raises(ProtectedError), transaction.atomic():
        published.checklist.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        Checklist.objects.filter(pk=published.checklist_id).delete()

    assert snapshot() == before


def test_the_published_content_reads_back_unchanged_after_refused_writes(published, draft):
    for attempt in (_save_item, _update_items, _delete_sections, _move_item_to_draft):
        with pytest.raises(PublishedVersionError), transaction.atomic():
            attempt(published, draft)

    stored = fresh(published)
    assert stored.content_hash == version_content_hash(stored)
    assert (stored.item_count, stored.must_have_count) == (6, 2)


# Holes in the guard: each of these changes what the published version holds.


def _bulk_create_item(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.bulk_create(
        [Item(version=v, section=v.sections.first(), ref="sneaked-in", text="Sneaked in")]
    )


def _bulk_create_section(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Section.objects.bulk_create([Section(version=v, title="Sneaked in", order=9)])


def _update_draft_items_into_published(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.filter(version=d, ref="backups").update(
        version=v, section=v.sections.get(title="Operations"), ref="sneaked-in"
    )


def _update_draft_sections_into_published(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Section.objects.filter(version=d).update(version=v)


def _draft_item_in_published_section(v: ChecklistVersion, d: ChecklistVersion) -> None:
    Item.objects.create(
        version=d, section=v.sections.get(title="Operations"), ref="sneaked-in", text="Sneaked"
    )


GUARD_HOLES = [
    pytest.param(_bulk_create_item, id="item-bulk-create"),
    pytest.param(_bulk_create_section, id="section-bulk-create"),
    pytest.param(_update_draft_items_into_published, id="item-update-into-published"),
    pytest.param(_update_draft_sections_into_published, id="section-update-into-published"),
    pytest.param(_draft_item_in_published_section, id="draft-item-in-published-section"),
]


@pytest.mark.parametrize("attempt", GUARD_HOLES)
def test_it_refuses_to_add_rows_to_a_published_version_by_other_paths(published, draft, attempt):
    before = snapshot()

    with pytest.raises(PublishedVersionError, match=REFUSED), transaction.atomic():
        attempt(published, draft)

    assert snapshot() == before
    shown = version_with_content("launch-readiness", 1)
    assert [i.ref for s in shown.sections.all() for i in s.items.all()] == [
        "backups",
        "restores",
        "runbook",
        "on-call",
        "tls",
        "scans",
    ]


# --- drafts can be edited, deleted and published ------------------------------------------


def test_a_draft_can_be_edited_and_deleted_by_every_path():
    version = import_text(V1).version
    row = version.items.get(ref="backups")
    row.text = "Backups run hourly"
    row.save()
    Item.objects.filter(version=version, ref="restores").update(must_have=True)
    Item.objects.create(
        version=version, section=version.sections.get(title="Security"), ref="waf", text="WAF"
    )
    section = version.sections.get(title="Security")
    section.title = "Safety"
    section.save()
    version.items.get(ref="runbook").delete()
    version.required_signoff_roles = ["manager", "security_reviewer"]
    version.save()

    assert fresh(version).required_signoff_roles == ["manager", "security_reviewer"]
    assert sorted(version.items.values_list("ref", flat=True)) == [
        "backups",
        "on-call",
        "restores",
        "scans",
        "tls",
        "waf",
    ]
    Section.objects.filter(version=version, title="Safety").delete()
    assert version.items.count() == 3
    version_delete_draft(version=version)
    assert (ChecklistVersion.objects.count(), Section.objects.count(), Item.objects.count()) == (
        0,
        0,
        0,
    )
    assert Checklist.objects.count() == 1


def test_publishing_records_who_and_when_and_recomputes_the_summary(reviewer):
    version = import_text(V1).version
    imported_hash = version.content_hash
    version.items.get(ref="runbook").delete()
    Item.objects.filter(version=version, ref="restores").update(must_have=True)
    Item.objects.create(
        version=version,
        section=version.sections.get(title="Security"),
        ref="waf",
        text="A web application firewall is on",
        must_have=True,
        order=9,
    )

    published = version_publish(version=version, by=reviewer)

    stored = fresh(published)
    assert stored.status == VersionStatus.PUBLISHED
    assert stored.published_by == reviewer
    assert stored.published_at is not None
    assert (stored.item_count, stored.must_have_count) == (6, 4)
    assert stored.content_hash != imported_hash
    assert stored.content_hash == version_content_hash(stored)


def test_publishing_an_unedited_import_keeps_its_content_hash():
    result = import_text(V1)

    published = version_publish(version=result.version, by=None)

    assert published.content_hash == result.version.content_hash
    assert published.content_hash == parse_file("a.yaml", V1.encode()).checklist.content_hash()
    assert (published.item_count, published.must_have_count) == (6, 2)


def test_publishing_twice_is_an_error(published):
    with pytest.raises(ChecklistError, match=r"^Launch readiness v1 is already published\.$"):
        version_publish(version=published, by=None)


def test_publishing_an_empty_draft_is_an_error(published):
    empty = ChecklistVersion.objects.create(
        checklist=published.checklist,
        number=2,
        required_signoff_roles=["security_reviewer"],
        content_hash="",
    )

    with pytest.raises(
        ChecklistError, match=r"^Launch readiness v2 has no items; add some before publishing\.$"
    ):
        version_publish(version=empty, by=None)

    assert fresh(empty).status == VersionStatus.DRAFT
    assert fresh(empty).published_at is None


def test_publishing_a_draft_without_signoff_roles_is_an_error(draft):
    draft.required_signoff_roles = []
    draft.save()

    with pytest.raises(ChecklistError, match="names no sign-off roles"):
        version_publish(version=draft, by=None)

    assert fresh(draft).status == VersionStatus.DRAFT


def test_a_new_draft_copies_sections_and_items_with_the_same_refs(published, draft):
    def content(version: ChecklistVersion) -> list[tuple]:
        return [
            (i.section.title, i.section.order, i.ref, i.text, i.guidance, i.must_have, i.checks)
            for i in version.items.select_related("section").order_by("section__order", "order")
        ]

    assert (draft.number, draft.status, draft.change_note) == (
        2,
        VersionStatus.DRAFT,
        "Draft from v1",
    )
    assert content(draft) == content(published)
    assert draft.content_hash == published.content_hash == version_content_hash(draft)
    assert draft.required_signoff_roles == published.required_signoff_roles
    assert (draft.item_count, draft.must_have_count) == (6, 2)
    assert not set(draft.sections.values_list("pk", flat=True)) & set(
        published.sections.values_list("pk", flat=True)
    )
    assert all(row.section.version_id == draft.pk for row in draft.items.select_related("section"))
    assert version_diff(published, draft).is_empty


# --- the "no change" rule compares with the latest version only -----------------------------


def test_reimporting_compares_with_the_latest_version_only(published):
    again = import_text(V1)
    assert (again.outcome, again.version.pk, again.changed) == ("no_change", published.pk, False)

    v2 = import_text(V2)
    assert (v2.outcome, v2.version.number) == ("new_version", 2)

    # V1's content equals the published v1, but the latest is v2: that is a change.
    back = import_text(V1)
    assert (back.outcome, back.version.number) == ("new_version", 3)
    assert back.diff is not None
    assert back.diff.old.number == 2
    assert import_text(V1).outcome == "no_change"
    assert ChecklistVersion.objects.count() == 3


def test_reimporting_the_published_content_over_its_draft_copy_is_no_change(published, draft):
    result = import_text(V1)

    assert (result.outcome, result.version.pk) == ("no_change", draft.pk)
    assert ChecklistVersion.objects.count() == 2


def test_reimporting_with_publish_publishes_an_identical_draft():
    draft = import_text(V1).version

    result = import_text(V1, publish=True)

    assert result.outcome == "no_change"
    assert fresh(draft).is_published
    assert ChecklistVersion.objects.count() == 1


def test_reimporting_the_original_over_an_edited_draft_is_a_change(published, draft):
    row = draft.items.get(ref="backups")
    row.text = "Backups run hourly"
    row.save()

    result = import_text(V1)

    assert result.outcome == "new_version"
    assert result.version.number == 3
    assert result.version.items.get(ref="backups").text == "Backups run nightly"


# --- the diff -------------------------------------------------------------------------------


def test_the_diff_between_two_versions_is_keyed_by_ref(published):
    result = import_text(V2)
    v2 = result.version

    diff = version_diff(published, v2)

    assert [i.ref for i in diff.added] == ["status-page"]
    assert [i.ref for i in diff.removed] == ["runbook"]
    assert {c.ref: c.fields for c in diff.changed} == {
        "backups": ("text",),
        "restores": ("must_have",),
        "tls": ("guidance",),
        "on-call": ("section",),
    }
    assert [c.ref for c in diff.must_have_changes] == ["restores"]
    assert (diff.must_have_changes[0].old.must_have, diff.must_have_changes[0].new.must_have) == (
        False,
        True,
    )
    moved = next(c for c in diff.changed if c.ref == "on-call")
    assert (moved.old.section.title, moved.new.section.title) == ("Operations", "Security")
    assert diff.signoff_roles_changed is False
    assert diff.summary() == "1 added, 1 removed, 4 changed, 1 must-have flag(s) flipped"
    # The import returns the same diff.
    assert result.outcome == "new_version"
    assert result.diff is not None
    assert result.diff.summary() == diff.summary()
    assert (v2.number, v2.status, v2.change_note) == (2, VersionStatus.DRAFT, "Imported over v1")
    assert (v2.item_count, v2.must_have_count) == (6, 3)


def test_the_diff_reports_check_and_signoff_role_changes(published):
    changed = V1.replace("max_ms: 500", "max_ms: 800").replace(
        "[security_reviewer]", "[security_reviewer, manager]"
    )
    v2 = import_text(changed).version

    diff = version_diff(published, v2)

    assert {c.ref: c.fields for c in diff.changed} == {"scans": ("checks",)}
    assert diff.signoff_roles_changed is True
    assert diff.summary() == "0 added, 0 removed, 1 changed, sign-off roles changed"


def test_the_diff_of_a_version_with_itself_is_empty(published):
    diff = version_diff(published, published)

    assert diff.is_empty
    assert diff.summary() == "no change"


# --- refs on re-import of Markdown without explicit refs -----------------------------------

MD_V1 = """\
# Go-live

## Operations

- Backups run every night
- Restores are tested every quarter
- A runbook exists for each service
- Docs exist
- Docs exist
"""

MD_V2 = """\
# Go-live

## Operations

- Backups run every night
- Restores are tested every month
- A runbook exists for each service
- Docs exist
- Docs exist
- The status page is hosted elsewhere
"""


def test_markdown_items_keep_their_refs_across_reimports():
    v1 = import_text(MD_V1, name="go-live.md").version
    assert list(v1.items.order_by("order").values_list("ref", flat=True)) == [
        "backups-run-every-night",
        "restores-are-tested-every-quarter",
        "a-runbook-exists-for-each-service",
        "docs-exist",
        "docs-exist-2",
    ]

    result = import_text(MD_V2, name="go-live.md")

    v2 = result.version
    assert list(v2.items.order_by("order").values_list("ref", "text")) == [
        ("backups-run-every-night", "Backups run every night"),
        # Edited slightly: the same requirement, so the same ref.
        ("restores-are-tested-every-quarter", "Restores are tested every month"),
        ("a-runbook-exists-for-each-service", "A runbook exists for each service"),
        ("docs-exist", "Docs exist"),
        ("docs-exist-2", "Docs exist"),
        # Unrelated: a new ref from its text.
        ("the-status-page-is-hosted-elsewhere", "The status page is hosted elsewhere"),
    ]
    assert result.diff is not None
    assert [i.ref for i in result.diff.added] == ["the-status-page-is-hosted-elsewhere"]
    assert result.diff.removed == []
    assert {c.ref: c.fields for c in result.diff.changed} == {
        "restores-are-tested-every-quarter": ("text",)
    }


def test_a_rewritten_markdown_item_is_removed_and_added_not_matched():
    import_text(MD_V1, name="go-live.md")

    result = import_text(
        MD_V1.replace("- A runbook exists for each service", "- Pager rotation is staffed"),
        name="go-live.md",
    )

    assert result.diff is not None
    assert [i.ref for i in result.diff.added] == ["pager-rotation-is-staffed"]
    assert [i.ref for i in result.diff.removed] == ["a-runbook-exists-for-each-service"]
    assert result.diff.changed == []


# --- history and numbering ------------------------------------------------------------------


def test_history_is_recorded_for_imports_and_publishing():
    result = import_text(V1)

    assert Checklist.history.count() == 1
    assert ChecklistVersion.history.count() == 1
    assert Section.history.count() == 2
    assert Item.history.count() == 6
    assert set(Item.history.values_list("history_change_reason", flat=True)) == {"Imported"}
    assert set(Item.history.values_list("history_type", flat=True)) == {"+"}

    version_publish(version=result.version, by=None)

    rows = list(result.version.history.order_by("history_id"))
    assert [(r.history_type, r.history_change_reason, r.status) for r in rows] == [
        ("+", "Imported", VersionStatus.DRAFT),
        ("~", "Published", VersionStatus.PUBLISHED),
    ]
    assert Item.history.count() == 6


def test_a_new_version_import_records_history_for_its_rows(published):
    import_text(V2)

    assert ChecklistVersion.history.filter(history_change_reason="Imported over v1").count() == 1
    assert Item.history.filter(history_change_reason="Imported over v1").count() == 6
    # The checklist's own title and description are the same in both: a history row
    # means something changed, so the checklist writes none.
    assert Checklist.history.filter(history_change_reason="Imported a new version").count() == 0


def test_imports_of_different_content_in_sequence_get_numbers_1_and_2():
    first = import_text(V1)
    second = import_text(V2)

    assert (first.version.number, second.version.number) == (1, 2)
    assert first.checklist.pk == second.checklist.pk
    assert list(ChecklistVersion.objects.order_by("number").values_list("number", flat=True)) == [
        1,
        2,
    ]


def test_version_numbers_and_item_refs_are_unique(published):
    with pytest.raises(IntegrityError), transaction.atomic():
        ChecklistVersion.objects.create(
            checklist=published.checklist, number=1, content_hash="", required_signoff_roles=[]
        )
    draft = version_new_draft(version=published, by=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(
            version=draft, section=draft.sections.first(), ref="backups", text="Twice"
        )
    assert ChecklistVersion.objects.count() == 2


@pytest.mark.django_db
def test_reordering_items_is_a_change_the_diff_names():
    from checklists.parsers import parse_file
    from checklists.services import checklist_import

    first = b"# Order\n## One\n- Alpha\n- Beta\n- Gamma\n"
    swapped = b"# Order\n## One\n- Gamma\n- Alpha\n- Beta\n"
    checklist_import(parsed=parse_file("order.md", first).checklist, by=None, publish=True)
    result = checklist_import(parsed=parse_file("order.md", swapped).checklist, by=None)
    assert result.outcome == "new_version"
    assert result.diff is not None
    assert not result.diff.added and not result.diff.removed and not result.diff.changed
    assert result.diff.reordered
    assert result.diff.summary() == "0 added, 0 removed, 0 changed, items reordered"
