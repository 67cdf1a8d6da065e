"""The audit pack (issue 12, item 7): a review as of a moment in one ZIP (the view as a
page and as data, the evidence files current then, the sign-off ledger, the exceptions,
the record's lines for the review, a manifest of SHA-256 hashes), who may download it,
hostile moments, and ``manage.py verify_pack``, which checks a pack offline: an exported
pack verifies; a modified, removed or added file, or a tampered manifest, does not.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from portal.audit.models import AuditEvent, AuditKind, ChainHead, Entry
from reviews import evidence as evidence_services
from reviews import services, signoffs, waivers
from reviews.models import AnswerStatus, EvidenceKind, SignOffDecision
from reviews.record.forms import moment_param
from tests.factories import ChecklistVersionFactory, ReviewFactory

pytestmark = pytest.mark.django_db

A = AnswerStatus
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MOMENT = START + timedelta(hours=2)  # between the "before" edits and the "after" ones

CHECKLIST = b"""---
title: Packed
slug: packed
---
## Ops
- **Backups run**
- Dashboards exist
"""


def pack_url(review, at=None):
    url = reverse("reviews:audit_pack", args=[review.pk])
    return url if at is None else f"{url}?at={at}"


def answer_for(review, text):
    return review.answers.select_related("item").get(item__text=text)


def answer(review, text, status, by, justification=""):
    current = answer_for(review, text)
    return services.answer_update(
        answer=current,
        change=services.AnswerChange(status, justification, "", None),
        based_on_revision=current.revision,
        by=by,
    )


def upload(review, text, by, name, content):
    return evidence_services.evidence_add(
        answer=answer_for(review, text),
        by=by,
        kind=EvidenceKind.FILE,
        upload=SimpleUploadedFile(name, content),
        effective_date=timezone.localdate(),
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def review(service, lead, reviewer, media):
    """Before the moment: answered, a file and a link attached, a withdrawn file, an
    exception requested and approved, submitted and signed off. After it: another file,
    the approved review reopened by an edit."""
    with time_machine.travel(START, tick=False):
        review = ReviewFactory(
            service=service, checklist_version=ChecklistVersionFactory(markdown=CHECKLIST), by=lead
        )
    with time_machine.travel(START + timedelta(hours=1), tick=False) as clock:
        answer(review, "Backups run", A.NOT_MET, lead, "Restores untested.")
        withdrawn = upload(review, "Backups run", lead, "old.txt", b"old restore log\n")
        clock.shift(1)
        evidence_services.evidence_withdraw(evidence=withdrawn, by=lead, reason="Wrong file.")
        upload(review, "Backups run", lead, "restore.txt", b"restore ok\n")
        evidence_services.evidence_add(
            answer=answer_for(review, "Backups run"),
            by=lead,
            kind=EvidenceKind.LINK,
            url="https://example.com/runbook",
            effective_date=timezone.localdate(),
        )
        clock.shift(1)
        exception = waivers.waiver_request(
            answer=answer_for(review, "Backups run"),
            by=lead,
            rationale="Low risk.",
            compensating_controls="Manual copies.",
            expires_on=timezone.localdate() + timedelta(days=30),
        )
        waivers.waiver_decide(waiver=exception, by=reviewer, approve=True, comment="Fine.")
        answer(review, "Dashboards exist", A.MET, lead)
        clock.shift(1)
        services.review_transition(review=review, action="submit", by=lead)
        signoffs.signoff_record(
            review=review,
            by=reviewer,
            role="security_reviewer",
            decision=SignOffDecision.APPROVE,
        )
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        upload(review, "Dashboards exist", lead, "later.txt", b"uploaded after the moment\n")
    return review


def download(client, review, at=MOMENT):
    response = client.get(pack_url(review, moment_param(at)))
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment")
    return b"".join(response.streaming_content)


def test_the_pack_holds_the_review_as_it_stood_with_its_evidence_then(review, auditor, client_for):
    data = download(client_for(auditor), review)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    evidence = sorted(n for n in names if n.startswith("evidence/"))
    # The file current then, not the one withdrawn before nor the one uploaded after.
    assert len(evidence) == 1 and evidence[0].endswith("-restore.txt")
    assert archive.read(evidence[0]) == b"restore ok\n"
    assert names == {
        "review.html",
        "review.json",
        "signoffs.json",
        "exceptions.json",
        "changes.csv",
        "manifest.json",
        *evidence,
    }

    as_of = json.loads(archive.read("review.json"))
    assert as_of["review"]["state"] == "approved"
    backups = as_of["sections"][0]["answers"][0]
    assert (backups["item"]["text"], backups["status"]) == ("Backups run", "not_met")
    assert {e["kind"] for e in backups["evidence"]} == {"file", "link"}
    assert "https://example.com/runbook" in {e["url"] for e in backups["evidence"]}
    assert as_of["as_of"] == MOMENT.isoformat()
    assert "changed_since" not in json.dumps(as_of)  # the state then, no highlights

    page = archive.read("review.html").decode()
    assert "<style>" in page and "stylesheet" not in page  # reads offline
    assert f'href="{evidence[0]}"' in page
    assert "Restores untested." in page and "as of 2025-03-03 11:00:00 UTC" in page

    ledger = json.loads(archive.read("signoffs.json"))
    assert [(r["change"], r["decision"], r["role"]) for r in ledger["rows"]] == [
        ("created", "approve", "security_reviewer")
    ]
    exceptions = json.loads(archive.read("exceptions.json"))
    assert [(x["item"], x["state"], x["counts"]) for x in exceptions["exceptions"]] == [
        ("Backups run", "approved", True)
    ]
    assert [r["state"] for r in exceptions["history"]] == ["requested", "approved"]


def test_the_change_log_is_the_records_lines_for_the_review_up_to_the_moment(
    review, auditor, client_for
):
    archive = zipfile.ZipFile(io.BytesIO(download(client_for(auditor), review)))
    rows = list(csv.DictReader(io.StringIO(archive.read("changes.csv").decode())))
    branch = f"reviews.review:{review.pk}"
    expected = Entry.objects.filter(branch=branch, at__lte=MOMENT).order_by("at", "id")
    assert [int(r["Line"]) for r in rows] == [e.pk for e in expected]
    assert [r["Line hash"] for r in rows] == [e.chain_hash for e in expected]
    kinds = {r["Kind of record"] for r in rows}
    assert {"review", "answer", "evidence", "exception", "sign off"} <= kinds
    # Nothing after the moment: the later upload is not in it.
    assert all(r["When (UTC)"] <= "2025-03-03 11:00:00" for r in rows)
    assert Entry.objects.filter(branch=branch, at__gt=MOMENT).exists()


def test_the_manifest_lists_every_file_and_ties_the_pack_to_the_record(review, auditor, client_for):
    archive = zipfile.ZipFile(io.BytesIO(download(client_for(auditor), review)))
    manifest = json.loads(archive.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for path, entry in listed.items():
        content = archive.read(path)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["size"] == len(content)
    assert manifest["moment"] == MOMENT.isoformat()
    assert manifest["review"]["id"] == review.pk
    assert manifest["exported_by"]["email"] == auditor.email
    line = Entry.objects.filter(at__lte=MOMENT).order_by("-at", "-id").first()
    assert manifest["record"]["line_at_moment"]["chain_hash"] == line.chain_hash
    # The download itself is the next line of the record, chained to that head.
    export_line = Entry.objects.get(change=AuditKind.EXPORTED)
    assert ChainHead.objects.get().last_hash == export_line.chain_hash
    assert manifest["record"]["head_at_export"]["last_hash"] == export_line.prev_hash
    (evidence,) = manifest["evidence_files"]
    assert evidence["matches_recorded_sha256"] is True


def test_a_file_missing_from_storage_is_said_not_hidden(review, auditor, client_for, media):
    for path in Path(media).rglob("*.txt"):
        path.unlink()
    archive = zipfile.ZipFile(io.BytesIO(download(client_for(auditor), review)))
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["missing"] for e in manifest["evidence_files"]] == [True]
    assert not [n for n in archive.namelist() if n.startswith("evidence/")]


# --- who may download it, and hostile moments ------------------------------------------

READERS = {"lead", "reviewer", "manager", "auditor", "admin"}


@pytest.mark.parametrize(
    "who", ["lead", "other_lead", "reviewer", "manager", "auditor", "admin", "nobody"]
)
def test_whoever_reads_the_review_downloads_its_pack_and_nobody_else(cast, client_for, review, who):
    response = client_for(cast[who]).get(pack_url(review, moment_param(MOMENT)))
    assert response.status_code == (200 if who in READERS else 404), who


def test_signed_out_visitors_are_sent_to_sign_in(client, review):
    response = client.get(pack_url(review))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_as_of_page_offers_the_pack_for_the_moment_it_shows(review, auditor, client_for):
    page = client_for(auditor).get(
        reverse("reviews:review_as_of", args=[review.pk]) + f"?at={moment_param(MOMENT)}"
    )
    link = pack_url(review) + "?" + urlencode({"at": moment_param(MOMENT)})
    assert f'href="{link}"' in page.content.decode()
    assert "Download audit pack" in page.content.decode()


@pytest.mark.parametrize(
    ("at", "status", "message"),
    [
        ("not-a-date", 400, "That is not a moment"),
        ("9999-12-31T23:59:59", 400, "in the future"),
        ("%00", 400, "That is not a moment"),
        ("9" * 5000, 400, "That is not a moment"),
        ("1900-01-01T00:00", 404, "did not exist yet"),
    ],
)
def test_a_bad_moment_gets_the_page_with_the_reason_never_a_500(
    review, auditor, client_for, at, status, message
):
    response = client_for(auditor).get(pack_url(review, at))
    assert response.status_code == status
    assert message in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


def test_no_moment_means_now(review, auditor, client_for):
    data = client_for(auditor).get(pack_url(review))
    assert data.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(data.streaming_content)))
    names = [n for n in archive.namelist() if n.startswith("evidence/")]
    assert len(names) == 2  # now the later upload is current too


# --- verify_pack ---------------------------------------------------------------------


@pytest.fixture
def pack(review, auditor, client_for, tmp_path) -> Path:
    path = tmp_path / "pack.zip"
    path.write_bytes(download(client_for(auditor), review))
    return path


def rewritten(path: Path, change) -> Path:
    """A copy of the pack with ``change(members)`` applied (a dict of name -> bytes)."""
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    change(members)
    out = path.with_name("changed.zip")
    with zipfile.ZipFile(out, "w") as target:
        for name, content in members.items():
            target.writestr(name, content)
    return out


def verify(path: Path, django_db_blocker) -> str:
    """Run the command with the database out of reach: it must not need it."""
    out = io.StringIO()
    with django_db_blocker.block():
        call_command("verify_pack", str(path), stdout=out)
    return out.getvalue()


def test_an_exported_pack_verifies_without_the_database(pack, django_db_blocker):
    assert verify(pack, django_db_blocker).strip() == "Pack verified: 6 files"


def _edit_json(members, name, edit):
    data = json.loads(members[name])
    edit(data)
    members[name] = json.dumps(data).encode()


def _tamper_hash(manifest):
    manifest["files"][0]["sha256"] = "0" * 64


def _forge_entry(manifest):
    manifest["files"].append({"path": "ghost.txt", "sha256": "0" * 64, "size": 1})


TAMPERING = {
    "a modified file": (
        lambda m: m.__setitem__("review.json", m["review.json"].replace(b"not_met", b"met")),
        "review.json was altered",
    ),
    "a modified evidence file": (
        lambda m: m.__setitem__(
            next(n for n in m if n.startswith("evidence/")), b"restore FAILED\n"
        ),
        "was altered",
    ),
    "a removed file": (lambda m: m.pop("signoffs.json"), "Missing from the pack: signoffs.json"),
    "an added file": (
        lambda m: m.__setitem__("evidence/99-extra.txt", b"slipped in\n"),
        "Not in the manifest: evidence/99-extra.txt",
    ),
    "a tampered manifest hash": (
        lambda m: _edit_json(m, "manifest.json", _tamper_hash),
        "review.html was altered",
    ),
    "a manifest listing a file that is not there": (
        lambda m: _edit_json(m, "manifest.json", _forge_entry),
        "Missing from the pack: ghost.txt",
    ),
    "a manifest that is not JSON": (
        lambda m: m.__setitem__("manifest.json", b"{not json"),
        "manifest.json is not readable JSON",
    ),
    "no manifest": (lambda m: m.pop("manifest.json"), "The pack has no manifest.json"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_a_tampered_pack_fails_naming_the_first_problem(pack, django_db_blocker, how):
    change, message = TAMPERING[how]
    with pytest.raises(CommandError) as failure:
        verify(rewritten(pack, change), django_db_blocker)
    assert message in str(failure.value), str(failure.value)


def test_a_file_that_is_not_a_zip_fails(tmp_path, django_db_blocker):
    path = tmp_path / "pack.zip"
    path.write_bytes(b"PK\x03\x04 but not really")
    with pytest.raises(CommandError, match="Not a readable ZIP file"):
        verify(path, django_db_blocker)


def test_the_command_runs_offline_as_a_process_and_exits_non_zero_on_a_problem(pack):
    """The real command line, with a database address nothing listens on."""
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nothing"}
    manage = str(Path(django_settings.BASE_DIR) / "manage.py")
    ok = subprocess.run(
        [sys.executable, manage, "verify_pack", str(pack)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "Pack verified: 6 files"
    broken = rewritten(pack, lambda m: m.pop("changes.csv"))
    failed = subprocess.run(
        [sys.executable, manage, "verify_pack", str(broken)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode != 0
    assert "Missing from the pack: changes.csv" in failed.stderr


def test_downloading_a_pack_is_in_the_record(review, auditor, client_for):
    download(client_for(auditor), review)
    event = AuditEvent.objects.get(kind=AuditKind.EXPORTED)
    assert event.actor == auditor
    assert event.details["review"] == review.pk
    assert event.details["what"] == f"Audit pack of {review}"
