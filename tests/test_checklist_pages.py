"""The checklist library's pages: who may read and manage, the import flow, the diff."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from checklists.builtin import load_builtin_checklists
from checklists.models import Checklist, ChecklistVersion, Item, Section, VersionStatus
from checklists.parsers import parse_file
from checklists.services import checklist_import, version_new_draft

pytestmark = pytest.mark.django_db

READERS = ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]

V1 = b"""---
title: Demo checklist
slug: demo
---
## Backups
- **Data is backed up**
- Restores are tested
## Logs
- Logs are kept
"""


def import_bytes(data: bytes, name: str = "demo.md", publish: bool = True) -> ChecklistVersion:
    parsed = parse_file(name, data)
    return checklist_import(parsed=parsed.checklist, by=None, publish=publish).version


@pytest.fixture
def builtins(db):
    load_builtin_checklists()


@pytest.fixture
def admin_client(admin_user, client_for):
    return client_for(admin_user)


# --- reading -------------------------------------------------------------------------


@pytest.mark.parametrize("who", READERS)
def test_everyone_signed_in_reads_the_library_and_versions(builtins, cast, client_for, who):
    client = client_for(cast[who])
    library = client.get(reverse("checklists:library"))
    assert library.status_code == 200
    assert "18F Good Production Practices" in library.content.decode()
    version = ChecklistVersion.objects.get(checklist__slug="hackney-production-deployment")
    page = client.get(version.get_absolute_url())
    assert page.status_code == 200
    assert "Data is encrypted at rest" in page.content.decode()
    assert (
        client.get(
            reverse("checklists:checklist", args=["hackney-production-deployment"])
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "url",
    [
        "/checklists/",
        "/checklists/hackney-production-deployment/",
        "/checklists/hackney-production-deployment/v1/",
        "/checklists/hackney-production-deployment/compare/?old=1&new=1",
        "/checklists/import/",
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(builtins, url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_version_page_marks_must_haves_and_folds_guidance(builtins, client_for, lead):
    html = client_for(lead).get("/checklists/hackney-production-deployment/v1/").content.decode()
    assert html.count("usa-tag bg-secondary-dark") == 11  # the must-have tags
    assert "<details" in html and "<summary>Guidance</summary>" in html
    assert "<li>AWS MSK (Amazon Managed Streaming for Apache Kafka)</li>" in html
    must_only = client_for(lead).get(
        "/checklists/hackney-production-deployment/v1/?show=must-haves"
    )
    assert must_only.content.decode().count('<li id="item-') == 11


def test_the_version_page_costs_the_same_whatever_its_size(
    client_for, lead, django_assert_num_queries
):
    small = import_bytes(V1)
    many = "\n".join(f"- Item number {n}\n    - guidance {n}" for n in range(150))
    big = import_bytes(f"# Big\n## One\n{many}\n## Two\n- **Last**\n".encode(), name="big.md")
    client = client_for(lead)
    client.get(small.get_absolute_url())  # warm the session
    for version, count in ((small, 3), (big, 151)):
        # session, user, roles (groups), version + checklist + users, sections, items
        with django_assert_num_queries(6):
            response = client.get(version.get_absolute_url())
        assert response.status_code == 200
        # Every item is on the page, not just within budget.
        html = response.content.decode()
        items = list(version.items.all())
        assert len(items) == count
        assert re.findall(r'<li id="item-([^"]+)">', html) == [item.ref for item in items]
        assert all(item.text in html for item in items)


def library_rows(html: str) -> list[str]:
    """The checklists the library lists, by link, in order."""
    return re.findall(r'<th scope="row"><a href="([^"]+)">', html)


def test_the_library_costs_the_same_whatever_its_size(
    builtins, client_for, lead, django_assert_num_queries
):
    client = client_for(lead)
    client.get("/checklists/")
    for added in (0, 5):
        for n in range(added):
            import_bytes(V1.replace(b"slug: demo", f"slug: demo-{n}".encode()))
        # session, user, roles, checklists, versions
        with django_assert_num_queries(5):
            response = client.get("/checklists/")
        # Every checklist is listed with its latest published version, not just within budget.
        html = response.content.decode()
        checklists = list(Checklist.objects.all())
        assert len(checklists) == 4 + added
        assert sorted(library_rows(html)) == sorted(c.get_absolute_url() for c in checklists)
        for version in ChecklistVersion.objects.filter(status=VersionStatus.PUBLISHED):
            assert f'<a href="{version.get_absolute_url()}">v{version.number}</a>' in html


def test_guidance_is_rendered_safely(client_for, lead):
    hostile = b"""# Hostile
## Section
- An item <script>alert(1)</script>
    - [click me](javascript:alert(1)) and <img src=x onerror=alert(2)>
"""
    version = import_bytes(hostile, name="hostile.md")
    html = client_for(lead).get(version.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
    assert "<img src=x" not in html


def test_unknown_checklists_and_versions_are_404(builtins, client_for, lead):
    client = client_for(lead)
    assert client.get("/checklists/nope/").status_code == 404
    assert client.get("/checklists/hackney-production-deployment/v99/").status_code == 404


# --- the diff page -----------------------------------------------------------------------


def test_the_compare_page_shows_added_removed_changed_and_flipped_must_haves(client_for, lead):
    import_bytes(V1)
    import_bytes(
        V1.replace(b"- Restores are tested\n", b"- Restores are tested every quarter\n")
        .replace(b"- Logs are kept\n", b"- **Logs are kept**\n- Logs are searchable\n")
        .replace(b"- **Data is backed up**\n", b"")
    )
    html = client_for(lead).get("/checklists/demo/compare/?old=1&new=2").content.decode()
    assert "From v1 to v2: 1 added, 1 removed, 2 changed, 1 must-have flag(s) flipped" in html
    assert "<ins>Logs are searchable</ins>" in html
    assert "<del>Data is backed up</del>" in html
    assert "Logs are kept: now a must-have" in html
    assert "Restores are tested every quarter" in html


@pytest.mark.parametrize(
    ("query", "status"),
    [("?old=1", 400), ("?old=x&new=1", 400), ("?old=-1&new=1", 400), ("?old=1&new=7", 404)],
)
def test_the_compare_page_answers_bad_input_with_a_clear_error(client_for, lead, query, status):
    import_bytes(V1)
    response = client_for(lead).get(f"/checklists/demo/compare/{query}")
    assert response.status_code == status
    assert b"usa-error-message" in response.content or b"has no version 7" in response.content


# --- managing: only admins ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["lead", "reviewer", "manager", "auditor", "nobody"])
def test_only_admins_import_publish_and_start_drafts(cast, client_for, who):
    draft = import_bytes(V1, publish=False)
    client = client_for(cast[who])
    assert client.get("/checklists/import/").status_code == 403
    upload = SimpleUploadedFile("x.md", V1)
    assert client.post("/checklists/import/", {"file": upload}).status_code == 403
    assert client.post(f"/checklists/demo/v{draft.number}/publish/").status_code == 403
    assert client.post(f"/checklists/demo/v{draft.number}/new-draft/").status_code == 403
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT
    assert ChecklistVersion.objects.count() == 1


def test_a_superuser_without_the_admin_role_cannot_manage_checklists(lead, client_for):
    lead.is_superuser = True
    lead.save()
    assert client_for(lead).get("/checklists/import/").status_code == 403


def test_an_admin_publishes_a_draft_and_it_can_no_longer_be_changed(admin_client):
    draft = import_bytes(V1, publish=False)
    page = admin_client.get(draft.get_absolute_url()).content.decode()
    assert "Publish this version" in page
    response = admin_client.post(f"/checklists/demo/v{draft.number}/publish/", follow=True)
    assert b"is published" in response.content
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    again = admin_client.post(f"/checklists/demo/v{draft.number}/publish/", follow=True)
    assert b"already published" in again.content
    assert admin_client.get(f"/checklists/demo/v{draft.number}/publish/").status_code == 405


def test_an_admin_starts_a_new_draft_from_a_published_version(admin_client):
    published = import_bytes(V1)
    response = admin_client.post(f"/checklists/demo/v{published.number}/new-draft/")
    draft = ChecklistVersion.objects.get(checklist__slug="demo", number=2)
    assert response["Location"] == draft.get_absolute_url()
    assert draft.status == VersionStatus.DRAFT
    assert sorted(draft.items.values_list("ref", flat=True)) == sorted(
        published.items.values_list("ref", flat=True)
    )


# --- the import flow --------------------------------------------------------------------------


def payload_from(html: str) -> str:
    match = re.search(r'name="payload" value="([^"]+)"', html)
    assert match, html[:3000]
    return match.group(1)


def test_an_admin_previews_then_confirms_an_import(admin_client):
    preview = admin_client.post("/checklists/import/", {"file": SimpleUploadedFile("demo.md", V1)})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Nothing has been saved yet" in html
    assert "creates a new checklist, version 1, as a draft" in html
    assert "2 sections, 3 items, 1 must-haves" in html
    assert Checklist.objects.count() == 0  # the preview kept nothing
    confirmed = admin_client.post("/checklists/import/", {"payload": payload_from(html)})
    version = ChecklistVersion.objects.get(checklist__slug="demo")
    assert confirmed["Location"] == version.get_absolute_url()
    assert version.status == VersionStatus.DRAFT
    assert version.created_by is not None


def test_the_preview_shows_what_a_new_version_would_change(admin_client):
    import_bytes(V1)
    changed = V1.replace(b"- Logs are kept\n", b"- Logs are kept\n- Logs are searchable\n")
    html = admin_client.post(
        "/checklists/import/", {"file": SimpleUploadedFile("demo.md", changed), "publish": "on"}
    ).content.decode()
    assert "This creates version 2, published: 1 added, 0 removed, 0 changed" in html
    assert "Logs are searchable" in html
    assert ChecklistVersion.objects.count() == 1
    admin_client.post("/checklists/import/", {"payload": payload_from(html)})
    assert ChecklistVersion.objects.get(number=2).status == VersionStatus.PUBLISHED


def test_importing_unchanged_content_says_no_change(admin_client):
    import_bytes(V1)
    html = admin_client.post(
        "/checklists/import/", {"file": SimpleUploadedFile("demo.md", V1)}
    ).content.decode()
    assert "importing it changes nothing" in html
    response = admin_client.post(
        "/checklists/import/", {"payload": payload_from(html)}, follow=True
    )
    assert b"No change" in response.content
    assert ChecklistVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.md", b"", "The submitted file is empty"),
        ("blank.md", b"   \n\n", "The file is empty."),
        ("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("notes.md", b"# Title\n\nJust prose, no list.\n", "No checklist items found"),
        ("broken.yaml", b"title: [unclosed\nsections: x\n", "The YAML is broken at line"),
        ("report.docx", b"- item\n", "Unknown file type"),
        ("huge.md", b"- item\n" * 200_000, "the limit is 1 MB"),
    ],
)
def test_bad_files_get_a_clear_error_and_nothing_is_saved(admin_client, name, data, message):
    response = admin_client.post("/checklists/import/", {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Checklist.objects.count() == 0


def test_a_tampered_confirmation_is_refused_and_saves_nothing(admin_client):
    html = admin_client.post(
        "/checklists/import/", {"file": SimpleUploadedFile("demo.md", V1)}
    ).content.decode()
    payload = payload_from(html)
    forged = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    response = admin_client.post("/checklists/import/", {"payload": forged})
    assert response.status_code == 400
    assert b"altered or is not from this site" in response.content
    assert Checklist.objects.count() == 0


# --- the admin: drafts are editable, published versions are not -------------------------------


@pytest.fixture
def superadmin(admin_user, client_for):
    admin_user.is_superuser = True
    admin_user.save()
    return client_for(admin_user)


def test_the_admin_shows_a_published_version_read_only_and_refuses_changes(superadmin):
    version = import_bytes(V1)
    section = version.sections.first()
    item = version.items.first()
    change_url = f"/admin/checklists/checklistversion/{version.pk}/change/"
    page = superadmin.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    forged = superadmin.post(
        change_url, {"required_signoff_roles": '["manager"]', "change_note": "x"}
    )
    assert forged.status_code == 403
    assert (
        superadmin.post(
            f"/admin/checklists/section/{section.pk}/change/", {"title": "X"}
        ).status_code
        == 403
    )
    assert (
        superadmin.post(
            f"/admin/checklists/checklistversion/{version.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    version.refresh_from_db()
    assert version.required_signoff_roles == ["security_reviewer"]
    item.refresh_from_db()
    assert Section.objects.get(pk=section.pk).title == "Backups"


def test_the_admin_edits_a_draft_and_refuses_a_duplicate_ref(superadmin):
    draft = version_new_draft(version=import_bytes(V1), by=None)
    section = draft.sections.get(title="Backups")
    items = list(section.items.order_by("order"))
    prefix = "items"
    data = {
        "title": "Backups and restores",
        "order": 0,
        f"{prefix}-TOTAL_FORMS": len(items) + 1,
        f"{prefix}-INITIAL_FORMS": len(items),
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for n, item in enumerate(items):
        data |= {
            f"{prefix}-{n}-id": item.pk,
            f"{prefix}-{n}-section": section.pk,
            f"{prefix}-{n}-ref": item.ref,
            f"{prefix}-{n}-text": item.text,
            f"{prefix}-{n}-guidance": "",
            f"{prefix}-{n}-order": item.order,
            f"{prefix}-{n}-checks": "[]",
        }
        if item.must_have:
            data[f"{prefix}-{n}-must_have"] = "on"
    new = len(items)
    data |= {
        f"{prefix}-{new}-section": section.pk,
        f"{prefix}-{new}-ref": items[0].ref,  # taken
        f"{prefix}-{new}-text": "A new item",
        f"{prefix}-{new}-order": 9,
        f"{prefix}-{new}-checks": "[]",
    }
    url = f"/admin/checklists/section/{section.pk}/change/"
    refused = superadmin.post(url, data)
    assert refused.status_code == 200
    assert "already uses" in refused.content.decode()
    data[f"{prefix}-{new}-ref"] = "a-new-item"
    accepted = superadmin.post(url, data)
    assert accepted.status_code == 302, accepted.content.decode()[:3000]
    added = Item.objects.get(ref="a-new-item")
    assert added.version == draft
    assert Section.objects.get(pk=section.pk).title == "Backups and restores"
