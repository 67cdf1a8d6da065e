"""Evidence files in a private S3-compatible bucket (django-storages' S3Storage, locked down)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from botocore.config import Config
from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage  # type: ignore[import-untyped]
from storages.utils import clean_name  # type: ignore[import-untyped]


class PrivateS3Storage(S3Storage):
    """S3Storage that keeps every object private and never hands out its address.

    The policy sits on the class, so no ``AWS_*`` Django setting can loosen it; the
    bucket, region, endpoint, prefix and encryption come from ``portal.storage``.
    """

    # No ACL on uploads: objects stay private to the bucket owner, and buckets with ACLs
    # disabled (AWS's default since 2023) refuse any ACL but the owner's anyway.
    default_acl = None
    custom_domain = None
    querystring_auth = True
    # Evidence is append-only: a second upload of the same content (same SHA-256 name)
    # gets a name of its own rather than replacing the object an earlier row points at.
    file_overwrite = False
    # A download is fetched whole before it streams: past this, spill to a temporary file.
    max_memory_size = 2 * 1024 * 1024
    gzip = False
    client_config: Config  # built by S3Storage from the settings (annotation only)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Fail within a gunicorn worker's time limit rather than botocore's minute.
        self.client_config = self.client_config.merge(
            Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard"})
        )

    def url(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        # Never the object's own address, not even a signed one: every download goes
        # through Preflight's permission-checked, audited view (reviews:evidence_file).
        # Like the local disk's, this path is not served.
        return urljoin(str(settings.MEDIA_URL), str(filepath_to_uri(clean_name(name))))
