"""AWS checks: what is reachable from the internet, and who may call it."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from reviews.checks.aws.client import Aws, AwsCheck, error_code, name_of, verdict
from reviews.checks.base import Outcome, register

BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@register
class RdsNotPublicCheck(AwsCheck):
    key = "aws.rds.not_public"
    title = "RDS instances are not publicly accessible"
    expected = "PubliclyAccessible is false on every tagged RDS instance"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        # AWS always answers true or false; anything but false (moto leaves it out when it
        # was not given at creation) is not evidence of a private instance.
        instances = aws.db_instances()
        bad = [
            d["DBInstanceIdentifier"] for d in instances if d.get("PubliclyAccessible") is not False
        ]
        checked = [d["DBInstanceIdentifier"] for d in instances]
        return verdict("RDS instances", checked, bad, "public", "are publicly accessible")


@register
class S3PublicAccessBlockedCheck(AwsCheck):
    key = "aws.s3.public_access_blocked"
    title = "S3 buckets block public access"
    expected = "all four Block Public Access settings on every tagged bucket"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        open_flags: dict[str, list[str]] = {}
        buckets = [name_of(arn) for arn in aws.tagged("s3")]
        for bucket in buckets:
            try:
                config: Any = aws.s3.get_public_access_block(Bucket=bucket)[
                    "PublicAccessBlockConfiguration"
                ]
            except ClientError as exc:
                if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                    raise
                config = {}
            off = [flag for flag in BLOCK_FLAGS if not config.get(flag)]
            if off:
                open_flags[bucket] = off
        return verdict(
            "S3 buckets", buckets, open_flags, "not_blocked", "do not block public access"
        )
