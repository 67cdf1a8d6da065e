"""AWS checks: encryption at rest, backups and recovery."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from reviews.checks.aws.client import Aws, AwsCheck, each, error_code, name_of, verdict
from reviews.checks.base import Outcome, Result, register

SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


@register
class RdsEncryptedCheck(AwsCheck):
    key = "aws.rds.encrypted"
    title = "RDS instances are encrypted at rest"
    expected = "StorageEncrypted on every tagged RDS instance"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        instances = aws.db_instances()
        bad = [d["DBInstanceIdentifier"] for d in instances if not d.get("StorageEncrypted")]
        checked = [d["DBInstanceIdentifier"] for d in instances]
        return verdict("RDS instances", checked, bad, "unencrypted", "are not encrypted")


@register
class S3EncryptedCheck(AwsCheck):
    key = "aws.s3.encrypted"
    title = "S3 buckets are encrypted at rest"
    expected = "default encryption (SSE-S3 or SSE-KMS) on every tagged bucket"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        def unencrypted(bucket: str) -> bool:
            try:
                rules = aws.s3.get_bucket_encryption(Bucket=bucket)[
                    "ServerSideEncryptionConfiguration"
                ]["Rules"]
            except ClientError as exc:
                if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
                    return True
                raise
            algorithms = {
                r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
            }
            return not algorithms & set(SSE_ALGORITHMS)

        buckets = [name_of(arn) for arn in aws.tagged("s3")]
        checked, bad = each(buckets, unencrypted)
        return verdict("S3 buckets", checked, bad, "unencrypted", "have no default encryption")


@register
class SnsEncryptedCheck(AwsCheck):
    key = "aws.sns.encrypted"
    title = "SNS topics are encrypted at rest"
    expected = "a KMS key (KmsMasterKeyId) on every tagged topic"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        topics = aws.tagged("sns")

        def unencrypted(arn: str) -> bool:
            attributes = aws.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            return not attributes.get("KmsMasterKeyId")

        _, bad_arns = each(topics, unencrypted)
        checked = [name_of(arn) for arn in topics]
        return verdict(
            "SNS topics", checked, [name_of(a) for a in bad_arns], "unencrypted", "have no KMS key"
        )


@register
class DynamoDbEncryptedCheck(AwsCheck):
    """DynamoDB always encrypts at rest: no SSEDescription means an AWS-owned key, which
    passes unless ``require_kms`` asks for a KMS key (AWS-managed or customer-managed)."""

    key = "aws.dynamodb.encrypted"
    title = "DynamoDB tables are encrypted at rest"
    expected = "encryption at rest on every tagged table (always on in DynamoDB)"
    defaults = {"require_kms": False}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        keys: dict[str, str] = {}
        for table in aws.tables():
            sse = table.get("SSEDescription", {})
            kms = sse.get("SSEType") == "KMS" and sse.get("Status") in ("ENABLED", "UPDATING")
            keys[table["TableName"]] = "KMS" if kms else "AWS_OWNED"
        if params["require_kms"]:
            bad = [name for name, key in keys.items() if key != "KMS"]
            what = "use an AWS-owned key, not KMS"
        else:
            bad = []
            what = ""
        outcome = verdict("DynamoDB tables", keys, bad, "without_kms", what)
        if outcome.result == Result.NOT_APPLICABLE:
            return outcome
        return Outcome(outcome.result, outcome.explanation, {**outcome.observed, "keys": keys})


@register
class DynamoDbPitrCheck(AwsCheck):
    key = "aws.dynamodb.pitr"
    title = "DynamoDB tables have point-in-time recovery"
    expected = "PointInTimeRecoveryStatus ENABLED on every tagged table"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        def disabled(table: str) -> bool:
            description = aws.dynamodb.describe_continuous_backups(TableName=table)[
                "ContinuousBackupsDescription"
            ]
            pitr = description.get("PointInTimeRecoveryDescription", {})
            return pitr.get("PointInTimeRecoveryStatus") != "ENABLED"

        tables = [name_of(arn) for arn in aws.tagged("dynamodb", "table")]
        checked, bad = each(tables, disabled)
        return verdict("DynamoDB tables", checked, bad, "without_pitr", "have PITR off")


@register
class DynamoDbGsiLimitCheck(AwsCheck):
    key = "aws.dynamodb.gsi_limit"
    title = "DynamoDB tables have at most two global secondary indexes"
    expected = "no more than max_gsis GSIs on any tagged table"
    defaults = {"max_gsis": 2}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        counts = {t["TableName"]: len(t.get("GlobalSecondaryIndexes", [])) for t in aws.tables()}
        over = {name: n for name, n in counts.items() if n > params["max_gsis"]}
        return verdict(
            "DynamoDB tables",
            counts,
            over,
            "over_limit",
            f"have more than {params['max_gsis']} GSIs",
        )
