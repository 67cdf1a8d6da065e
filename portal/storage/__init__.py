"""Where uploaded files (evidence) are kept: local disk, or S3-compatible object storage.

Local disk under ``MEDIA_ROOT`` is the default and suits one host. ``EVIDENCE_STORAGE=s3``
keeps the files in a private bucket instead, so that several hosts (or containers
without a persistent disk) share them; see docs/evidence-storage.md.

This module is read by the settings at start-up, so it imports neither boto3 nor
django-storages: the S3 storage class lives in ``portal.storage.s3`` and is loaded only
when a file is first stored or read.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from portal.env import env_choice, env_str, scheme_and_host

# Amazon's rules for a bucket name (other services accept a subset of them).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# eu-west-2 on AWS; other services name theirs freely (us-east-1, nyc3, garage, auto).
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Key prefixes: path segments of letters, digits, dots, underscores and hyphens.
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_KMS_KEY = re.compile(r"[A-Za-z0-9:/_.-]{1,2048}")
_ENCRYPTION = ("sse-s3", "sse-kms", "bucket-default")


def evidence_storage(*, production: bool) -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry for evidence files, from the environment.

    Raises ImproperlyConfigured, naming the variable, for a missing or malformed value,
    so a half-configured deployment stops at start-up instead of writing files to one
    host's disk. Credentials never pass through here: boto3 finds them in its usual
    chain (environment, shared configuration, container or instance role).
    """
    kind = env_choice("EVIDENCE_STORAGE", ("local", "s3"), "local")
    if kind == "local":
        stray = sorted(
            name for name, value in os.environ.items() if name.startswith("EVIDENCE_S3_") and value
        )
        if stray:
            raise ImproperlyConfigured(
                f"{', '.join(stray)} set but EVIDENCE_STORAGE is local: set EVIDENCE_STORAGE=s3 "
                "to keep evidence files in the bucket, or unset them"
            )
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}

    bucket = env_str("EVIDENCE_S3_BUCKET").strip()
    if not bucket:
        raise ImproperlyConfigured(
            "EVIDENCE_S3_BUCKET must be set when EVIDENCE_STORAGE=s3: the name of the bucket "
            "that keeps the evidence files"
        )
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ImproperlyConfigured(
            f"EVIDENCE_S3_BUCKET={bucket!r} is not a bucket name: 3 to 63 lower-case letters, "
            "digits, dots and hyphens, beginning and ending with a letter or digit"
        )
    region = env_str("EVIDENCE_S3_REGION").strip()
    if region and not _REGION.fullmatch(region):
        raise ImproperlyConfigured(
            f"EVIDENCE_S3_REGION={region!r} is not a region name such as eu-west-2 "
            "(lower-case letters, digits and hyphens)"
        )
    encryption = env_choice("EVIDENCE_S3_ENCRYPTION", _ENCRYPTION, "sse-s3")
    kms_key = env_str("EVIDENCE_S3_KMS_KEY_ID").strip()
    if kms_key and encryption != "sse-kms":
        raise ImproperlyConfigured(
            "EVIDENCE_S3_KMS_KEY_ID is set but EVIDENCE_S3_ENCRYPTION is "
            f"{encryption}: set EVIDENCE_S3_ENCRYPTION=sse-kms to encrypt with that key"
        )
    if kms_key and not _KMS_KEY.fullmatch(kms_key):
        raise ImproperlyConfigured(
            f"EVIDENCE_S3_KMS_KEY_ID={kms_key!r} is not a KMS key id, alias or ARN"
        )
    # Uploads name their encryption, so an object is never stored unencrypted whatever the
    # bucket's own default; "bucket-default" is for services (MinIO without a KMS) that
    # refuse the header and encrypt by their own configuration.
    parameters: dict[str, str] = {}
    if encryption == "sse-s3":
        parameters["ServerSideEncryption"] = "AES256"
    elif encryption == "sse-kms":
        parameters["ServerSideEncryption"] = "aws:kms"
        if kms_key:
            parameters["SSEKMSKeyId"] = kms_key
    addressing = env_choice("EVIDENCE_S3_ADDRESSING_STYLE", ("auto", "path", "virtual"), "auto")
    return {
        "BACKEND": "portal.storage.s3.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "region_name": region or None,
            "endpoint_url": _endpoint_url(production=production),
            "location": _prefix(),
            "addressing_style": None if addressing == "auto" else addressing,
            "object_parameters": parameters,
        },
    }


def _endpoint_url(*, production: bool) -> str | None:
    raw = env_str("EVIDENCE_S3_ENDPOINT_URL").strip()
    if not raw:
        return None  # AWS itself (or AWS_ENDPOINT_URL, which boto3 reads on its own)
    parts = scheme_and_host(raw)
    if parts is None:
        raise ImproperlyConfigured(
            f"EVIDENCE_S3_ENDPOINT_URL={raw!r} is not a scheme and host such as "
            "https://minio.example.gov:9000"
        )
    if parts.username or parts.password:
        # Not echoed: the value holds a secret.
        raise ImproperlyConfigured(
            "EVIDENCE_S3_ENDPOINT_URL must not carry credentials: give them to the AWS "
            "credential chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a role)"
        )
    if production and parts.scheme != "https":
        raise ImproperlyConfigured(
            "EVIDENCE_S3_ENDPOINT_URL must be an https:// address in production: evidence "
            "files and the credentials that sign each request travel over it"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _prefix() -> str:
    raw = env_str("EVIDENCE_S3_PREFIX")
    prefix = raw.strip().strip("/")
    segments = prefix.split("/") if prefix else []
    if len(prefix) > 200 or any(
        segment in (".", "..") or not _PREFIX_SEGMENT.fullmatch(segment) for segment in segments
    ):
        raise ImproperlyConfigured(
            f"EVIDENCE_S3_PREFIX={raw!r} is not a key prefix such as preflight/production: "
            "segments of letters, digits, dots, underscores and hyphens separated by /"
        )
    return prefix
