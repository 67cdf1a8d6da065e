"""Evidence files on S3-compatible object storage (issue 14, item 5), against moto's S3
server on a real socket: uploads land in a private, encrypted bucket under their SHA-256
name; the download view streams them back to those who may read the review and refuses
the rest as before; another host (another process) sees the same files; and a storage
that is misconfigured stops start-up with a message that names the variable.

The storage is configured the way a deployment is, through the EVIDENCE_* environment
variables read by ``portal.storage.evidence_storage``; only the moto endpoint differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.audit.models import AuditEvent, AuditKind
from portal.storage import evidence_storage
from reviews.evidence import evidence_add
from reviews.models import Evidence, EvidenceKind
from reviews.record.pack import audit_pack
from tests.factories import UserFactory

BASE_DIR = Path(__file__).resolve().parent.parent
BUCKET = "preflight-evidence"
REGION = "eu-west-2"
PREFIX = "preflight/test"
PDF = b"%PDF-1.4\n% restore drill report\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()
KEY = f"{PREFIX}/evidence/{SHA[:2]}/{SHA}.pdf"


def _s3(moto_url: str) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=moto_url)


def _s3_environment(moto_url: str, **extra: str) -> dict[str, str]:
    """What an operator sets to keep evidence in the bucket (moto standing in for S3)."""
    return {
        "EVIDENCE_STORAGE": "s3",
        "EVIDENCE_S3_BUCKET": BUCKET,
        "EVIDENCE_S3_REGION": REGION,
        "EVIDENCE_S3_ENDPOINT_URL": moto_url,
        "EVIDENCE_S3_PREFIX": PREFIX,
        **extra,
    }


@pytest.fixture
def bucket(aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty bucket; the storage reaches it only through EVIDENCE_S3_ENDPOINT_URL."""
    s3 = _s3(aws)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    # boto3 would otherwise find moto through the AWS fixture's variable.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    return s3


def _use_s3(settings: Any, monkeypatch: pytest.MonkeyPatch, moto_url: str, **extra: str) -> None:
    for name, value in _s3_environment(moto_url, **extra).items():
        monkeypatch.setenv(name, value)
    # Assigning STORAGES makes Django drop the storages it built (a fresh default_storage).
    settings.STORAGES = {**settings.STORAGES, "default": evidence_storage(production=False)}


@pytest.fixture
def on_s3(bucket: Any, aws: str, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Any:
    """Evidence files go to the bucket; MEDIA_ROOT is an empty directory that must stay so."""
    settings.MEDIA_ROOT = tmp_path / "media"
    _use_s3(settings, monkeypatch, aws)
    return bucket


def _upload(client: Client, review: Any, answer: Any, content: bytes = PDF) -> Evidence:
    response = client.post(
        reverse("reviews:evidence_add", args=[review.pk, answer.pk]),
        {
            "kind": "file",
            "file": SimpleUploadedFile("Restore drill.pdf", content),
            "effective_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302, response.content
    return Evidence.objects.filter(answer=answer, kind=EvidenceKind.FILE).latest("id")


def _download(client: Client, evidence: Evidence) -> Any:
    return client.get(reverse("reviews:evidence_file", args=[evidence.pk]))


# --- uploads -------------------------------------------------------------------------------


def test_an_upload_lands_in_the_bucket_under_its_sha256_name_unchanged(
    on_s3, review, answer, lead, client_for, aws, settings
):
    evidence = _upload(client_for(lead), review, answer)

    assert evidence.sha256 == SHA
    assert evidence.file.name == f"evidence/{SHA[:2]}/{SHA}.pdf"
    keys = [o["Key"] for o in on_s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [KEY]
    stored = on_s3.get_object(Bucket=BUCKET, Key=KEY)
    assert stored["Body"].read() == PDF
    assert stored["ContentLength"] == evidence.size == len(PDF)
    # Nothing was written to this host's disk.
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*"))


def test_stored_objects_are_encrypted_and_private(on_s3, review, answer, lead, client_for, aws):
    _upload(client_for(lead), review, answer)

    assert on_s3.head_object(Bucket=BUCKET, Key=KEY)["ServerSideEncryption"] == "AES256"
    grants = on_s3.get_object_acl(Bucket=BUCKET, Key=KEY)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    assert all(g["Grantee"]["Type"] == "CanonicalUser" for g in grants)
    # The object's own address, unsigned, is refused.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{aws}/{BUCKET}/{KEY}")
    assert refused.value.code == 403


def test_the_storage_never_hands_out_the_objects_address(
    on_s3, review, answer, lead, client_for, aws
):
    evidence = _upload(client_for(lead), review, answer)

    # The same unserved path as on local disk: no bucket host, no signature.
    assert evidence.file.url == f"/media/evidence/{SHA[:2]}/{SHA}.pdf"
    # The admin's read-only evidence page (a superuser's: it shows the file field).
    root = UserFactory(email="root@example.gov", is_staff=True, is_superuser=True)
    page = client_for(root).get(reverse("admin:reviews_evidence_change", args=[evidence.pk]))
    assert page.status_code == 200
    assert aws.encode() not in page.content
    assert b"X-Amz-" not in page.content


def test_the_same_content_uploaded_twice_keeps_both_objects(
    on_s3, review, answer, lead, client_for
):
    client = client_for(lead)
    first = _upload(client, review, answer)
    second = _upload(client, review, answer)

    assert first.sha256 == second.sha256
    assert first.file.name != second.file.name
    assert second.file.name.startswith(f"evidence/{SHA[:2]}/{SHA}_")
    keys = sorted(o["Key"] for o in on_s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == sorted(f"{PREFIX}/{e.file.name}" for e in (first, second))


@pytest.mark.parametrize(
    ("encryption", "expected"),
    [
        ({}, {"ServerSideEncryption": "AES256"}),
        (
            {"EVIDENCE_S3_ENCRYPTION": "sse-kms", "EVIDENCE_S3_KMS_KEY_ID": "alias/preflight"},
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/preflight"},
        ),
        ({"EVIDENCE_S3_ENCRYPTION": "bucket-default"}, {}),
    ],
)
def test_each_encryption_setting_is_asked_of_every_upload(
    bucket, aws, settings, monkeypatch, encryption, expected
):
    _use_s3(settings, monkeypatch, aws, **encryption)
    assert default_storage.get_object_parameters("x") == expected

    name = default_storage.save("evidence/ab/abc.txt", ContentFile(b"restored fine\n"))
    head = bucket.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}")
    assert head.get("ServerSideEncryption") == expected.get("ServerSideEncryption")


def test_the_service_stores_through_the_configured_storage(on_s3, answer, lead):
    evidence = evidence_add(
        answer=answer,
        by=lead,
        kind=EvidenceKind.FILE,
        upload=SimpleUploadedFile("drill.log", b"Restore drill: 41 tables, chain intact.\n"),
        effective_date=timezone.localdate(),
    )
    key = f"{PREFIX}/{evidence.file.name}"
    assert key.endswith(f"{evidence.sha256}.log")
    assert on_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == (
        b"Restore drill: 41 tables, chain intact.\n"
    )


# --- downloads -------------------------------------------------------------------------------


def test_the_download_view_streams_the_file_to_those_who_may_read_the_review(
    on_s3, review, answer, lead, reviewer, auditor, client_for
):
    evidence = _upload(client_for(lead), review, answer)

    for person in (lead, reviewer, auditor):
        response = _download(client_for(person), evidence)
        assert response.status_code == 200, person
        assert response.streaming
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Length"] == str(len(PDF))
        assert response["Content-Disposition"] == 'attachment; filename="Restore drill.pdf"'
        assert response["X-Content-Type-Options"] == "nosniff"
    downloads = AuditEvent.objects.filter(kind=AuditKind.FILE_DOWNLOADED)
    assert sorted(e.actor.email for e in downloads) == sorted(
        p.email for p in (lead, reviewer, auditor)
    )


def test_the_download_view_refuses_others_as_before(
    on_s3, review, answer, lead, other_lead, nobody, client_for
):
    evidence = _upload(client_for(lead), review, answer)
    url = reverse("reviews:evidence_file", args=[evidence.pk])

    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("account_login"))
    # Another team's product lead, and someone with no role: as if it did not exist.
    assert _download(client_for(other_lead), evidence).status_code == 404
    assert _download(client_for(nobody), evidence).status_code == 404
    assert not AuditEvent.objects.filter(kind=AuditKind.FILE_DOWNLOADED).exists()


def test_object_storage_adds_no_database_queries_to_a_download(
    bucket, aws, review, answer, lead, client_for, settings, monkeypatch, tmp_path
):
    client = client_for(lead)
    settings.MEDIA_ROOT = tmp_path
    on_disk = _upload(client, review, answer)
    _download(client, on_disk)  # warm the session and the permission caches
    with CaptureQueriesContext(connection) as local:
        assert b"".join(_download(client, on_disk).streaming_content) == PDF

    _use_s3(settings, monkeypatch, aws)
    in_bucket = _upload(client, review, answer, content=PDF + b"\n")
    with CaptureQueriesContext(connection) as s3:
        assert b"".join(_download(client, in_bucket).streaming_content) == PDF + b"\n"
    # The same queries either way (the evidence with its review, the session, the user,
    # the permission checks, the download event): the bucket is no database.
    assert len(s3) == len(local)


def test_the_audit_pack_carries_the_files_from_the_bucket(
    on_s3, review, answer, lead, auditor, client_for
):
    _upload(client_for(lead), review, answer)

    def pack() -> tuple[zipfile.ZipFile, list[dict[str, Any]]]:
        archive = zipfile.ZipFile(audit_pack(review, timezone.now(), by=auditor))
        return archive, json.loads(archive.read("manifest.json"))["evidence_files"]

    archive, [fact] = pack()
    assert fact["missing"] is False and fact["matches_recorded_sha256"] is True
    assert archive.read(fact["path"]) == PDF
    # Removed from the bucket behind Preflight's back: said in the pack, not hidden.
    on_s3.delete_object(Bucket=BUCKET, Key=KEY)
    _, [fact] = pack()
    assert fact["missing"] is True


# --- several hosts ---------------------------------------------------------------------------

_OTHER_HOST = """
import hashlib, sys
import django
django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import storages

storage = storages["default"]
with storage.open(sys.argv[1], "rb") as stored:
    print(type(storage).__name__, hashlib.sha256(stored.read()).hexdigest())
print(storage.save("evidence/0b/from-the-other-host.txt", ContentFile(b"written on B")))
"""


def _other_host(tmp_path: Path, moto_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A second Preflight process, configured only by its environment, as another host is."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PREFLIGHT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # Its own disk: a file found there would not have come from the bucket.
        "MEDIA_ROOT": str(tmp_path / "other-host-media"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        **_s3_environment(moto_url),
    }
    return subprocess.run(
        [sys.executable, "-c", _OTHER_HOST, *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_another_host_sees_the_same_files(
    on_s3, review, answer, lead, reviewer, client_for, aws, settings, tmp_path
):
    evidence = _upload(client_for(lead), review, answer)

    other = _other_host(tmp_path, aws, evidence.file.name)
    assert other.returncode == 0, other.stderr
    read, written = other.stdout.splitlines()
    assert read == f"PrivateS3Storage {SHA}"
    assert written == "evidence/0b/from-the-other-host.txt"
    assert not (tmp_path / "other-host-media").exists()

    # What the other host wrote, this one reads through a storage object of its own.
    fresh = storages.create_storage(storages.backends["default"])
    with fresh.open(written, "rb") as stored:
        assert stored.read() == b"written on B"
    # And a download served after this host's storage is rebuilt still streams the file.
    settings.STORAGES = dict(settings.STORAGES)
    response = _download(client_for(reviewer), evidence)
    assert b"".join(response.streaming_content) == PDF


# --- configuration ----------------------------------------------------------------------------


def test_local_disk_stays_the_default(monkeypatch, settings):
    for name in [n for n in os.environ if n.startswith("EVIDENCE_")]:
        monkeypatch.delenv(name)
    assert evidence_storage(production=True) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }
    # And what the test settings loaded: the disk for uploads, WhiteNoise's for static files.
    assert settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")
    assert settings.STORAGES["staticfiles"]["BACKEND"] != "portal.storage.s3.PrivateS3Storage"


def test_the_s3_settings_keep_the_policy_on_the_class(monkeypatch, aws):
    for name, value in _s3_environment(aws).items():
        monkeypatch.setenv(name, value)
    entry = evidence_storage(production=False)
    assert entry["BACKEND"] == "portal.storage.s3.PrivateS3Storage"
    storage = storages.create_storage(entry)
    assert storage.bucket_name == BUCKET and storage.region_name == REGION
    assert storage.location == PREFIX
    assert storage.default_acl is None and storage.custom_domain is None
    assert storage.file_overwrite is False
    # No credentials in the settings: boto3 finds them in its own chain.
    assert "access_key" not in entry["OPTIONS"] and "secret_key" not in entry["OPTIONS"]


@pytest.mark.parametrize(
    ("environment", "production", "message"),
    [
        ({"EVIDENCE_STORAGE": "gcs"}, False, "EVIDENCE_STORAGE='gcs' must be one of local, s3"),
        (
            {"EVIDENCE_S3_BUCKET": BUCKET},
            False,
            "EVIDENCE_S3_BUCKET set but EVIDENCE_STORAGE is local",
        ),
        ({"EVIDENCE_STORAGE": "s3"}, False, "EVIDENCE_S3_BUCKET must be set when"),
        (
            {"EVIDENCE_STORAGE": "s3", "EVIDENCE_S3_BUCKET": "Evidence_Files"},
            False,
            "EVIDENCE_S3_BUCKET='Evidence_Files' is not a bucket name",
        ),
        (
            {"EVIDENCE_STORAGE": "s3", "EVIDENCE_S3_BUCKET": BUCKET, "EVIDENCE_S3_REGION": "EU 2"},
            False,
            "EVIDENCE_S3_REGION='EU 2' is not a region name",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_ENDPOINT_URL": "minio:9000",
            },
            False,
            "EVIDENCE_S3_ENDPOINT_URL='minio:9000' is not a scheme and host",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_ENDPOINT_URL": "https://minio.example.gov/evidence",
            },
            False,
            "is not a scheme and host such as https://minio.example.gov:9000",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_ENDPOINT_URL": "http://minio.internal:9000",
            },
            True,
            "EVIDENCE_S3_ENDPOINT_URL must be an https:// address in production",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_PREFIX": "../b",
            },
            False,
            "EVIDENCE_S3_PREFIX='../b' is not a key prefix",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_ENCRYPTION": "off",
            },
            False,
            "EVIDENCE_S3_ENCRYPTION='off' must be one of sse-s3, sse-kms, bucket-default",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_KMS_KEY_ID": "alias/preflight",
            },
            False,
            "EVIDENCE_S3_KMS_KEY_ID is set but EVIDENCE_S3_ENCRYPTION is sse-s3",
        ),
        (
            {
                "EVIDENCE_STORAGE": "s3",
                "EVIDENCE_S3_BUCKET": BUCKET,
                "EVIDENCE_S3_ADDRESSING_STYLE": "dns",
            },
            False,
            "EVIDENCE_S3_ADDRESSING_STYLE='dns' must be one of auto, path, virtual",
        ),
    ],
)
def test_a_misconfigured_storage_is_refused_with_the_variables_name(
    monkeypatch, environment, production, message
):
    for name in [n for n in os.environ if n.startswith("EVIDENCE_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as refused:
        evidence_storage(production=production)
    assert message in str(refused.value)


def test_credentials_in_the_endpoint_are_refused_without_echoing_them(monkeypatch):
    monkeypatch.setenv("EVIDENCE_STORAGE", "s3")
    monkeypatch.setenv("EVIDENCE_S3_BUCKET", BUCKET)
    monkeypatch.setenv("EVIDENCE_S3_ENDPOINT_URL", "https://AKIAEXAMPLE:s3cr3t@minio.example.gov")
    with pytest.raises(ImproperlyConfigured) as refused:
        evidence_storage(production=False)
    assert "must not carry credentials" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


def _manage(tmp_path: Path, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PREFLIGHT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_start_up_stops_when_the_bucket_is_missing(tmp_path):
    result = _manage(tmp_path, "check", EVIDENCE_STORAGE="s3")
    assert result.returncode != 0
    assert "ImproperlyConfigured: EVIDENCE_S3_BUCKET must be set when EVIDENCE_STORAGE=s3" in (
        result.stderr
    )


def test_check_deploy_stays_clean_with_evidence_in_a_bucket(tmp_path):
    import secrets

    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PREFLIGHT_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="preflight.example.gov",
        SITE_URL="https://preflight.example.gov",
        EVIDENCE_STORAGE="s3",
        EVIDENCE_S3_BUCKET=BUCKET,
        EVIDENCE_S3_REGION=REGION,
        EVIDENCE_S3_ENCRYPTION="sse-kms",
        EVIDENCE_S3_KMS_KEY_ID="alias/preflight",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
