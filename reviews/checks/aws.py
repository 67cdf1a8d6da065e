"""AWS checks: what the resources carrying the service's Project tag are configured to do.

Each check finds the service's resources with the Resource Groups Tagging API
(``Project = <project_tag>`` in the service's region), reads their configuration with
the service's own describe/get calls and names the offenders in ``observed``.

boto3 is synchronous, so a check's AWS work runs in a thread (``asyncio.to_thread``) and
the event loop keeps running the other checks. Each check makes its own session and
clients (a session is not thread-safe) and caches nothing beyond itself. The endpoint
comes from boto3's own configuration (``AWS_ENDPOINT_URL`` and friends), credentials
from the usual chain; when the service names a role, the check assumes it first. When
the service names an account, the credentials must be for that account.

Not covered yet (moto's server lacks the calls, so they could not be tested): canary
runs (``synthetics.get_canary_runs``), Backup selections and recovery points, SNS
delivery-status attributes (moto accepts but never returns them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from reviews.checks.base import (
    CheckContext,
    CheckError,
    CheckType,
    Outcome,
    Result,
    Target,
    register,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import DBInstanceTypeDef
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

FAMILY = "AWS"
SESSION_NAME = "preflight-check"


def _aws_error(exc: Exception) -> CheckError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = exc.operation_name
        code = error.get("Code", "?")
        return CheckError(f"AWS refused {operation}: {code}: {error.get('Message', '')}".strip())
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return CheckError(f"Could not reach AWS: {exc}")
    return CheckError(f"AWS call failed: {exc}")


class Aws:
    """One check's view of one account and region: credentials, clients, tagged resources."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.region = target.cloud_region
        self.config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "max_attempts": 3},
        )
        self.session = boto3.Session(region_name=self.region)
        self._clients: dict[str, Any] = {}
        self._tagged: list[str] | None = None
        if target.cloud_role_arn:
            self.session = self._assumed(target.cloud_role_arn)
        if target.cloud_account_id:
            sts = self.session.client("sts", region_name=self.region, config=self.config)
            account = sts.get_caller_identity()["Account"]
            if account != target.cloud_account_id:
                raise CheckError(
                    f"The credentials are for account {account}, "
                    f"not the service's account {target.cloud_account_id}."
                )

    def _assumed(self, role_arn: str) -> boto3.Session:
        sts = self.session.client("sts", region_name=self.region, config=self.config)
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.region,
        )

    def _client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self.session.client(
                name,  # type: ignore[call-overload]
                region_name=self.region,
                config=self.config,
            )
        return self._clients[name]

    @property
    def tagging(self) -> ResourceGroupsTaggingAPIClient:
        client: ResourceGroupsTaggingAPIClient = self._client("resourcegroupstaggingapi")
        return client

    @property
    def rds(self) -> RDSClient:
        client: RDSClient = self._client("rds")
        return client

    @property
    def s3(self) -> S3Client:
        client: S3Client = self._client("s3")
        return client

    @property
    def sns(self) -> SNSClient:
        client: SNSClient = self._client("sns")
        return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    @property
    def logs(self) -> CloudWatchLogsClient:
        client: CloudWatchLogsClient = self._client("logs")
        return client

    @property
    def ec2(self) -> EC2Client:
        client: EC2Client = self._client("ec2")
        return client

    def tagged(self, service: str, resource_type: str = "") -> list[str]:
        """ARNs carrying ``Project = <project_tag>`` of one service (and resource type).

        The type is matched on the ARN rather than with ``ResourceTypeFilters``: moto
        5.2.5 returns nothing for ``logs:log-group``.
        """
        if self._tagged is None:
            paginator = self.tagging.get_paginator("get_resources")
            pages = paginator.paginate(
                TagFilters=[{"Key": "Project", "Values": [self.target.project_tag]}]
            )
            self._tagged = [
                m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]
            ]
        return sorted(arn for arn in self._tagged if _arn_kind(arn) == (service, resource_type))

    def db_instances(self) -> list[DBInstanceTypeDef]:
        """The tagged RDS instances (Aurora clusters are not covered yet)."""
        arns = set(self.tagged("rds", "db"))
        if not arns:
            return []
        pages = self.rds.get_paginator("describe_db_instances").paginate()
        found = [d for page in pages for d in page["DBInstances"] if d.get("DBInstanceArn") in arns]
        return sorted(found, key=lambda d: d.get("DBInstanceIdentifier", ""))

    def tables(self) -> list[TableDescriptionTypeDef]:
        return [
            self.dynamodb.describe_table(TableName=_name(arn))["Table"]
            for arn in self.tagged("dynamodb", "table")
        ]


def _arn_kind(arn: str) -> tuple[str, str]:
    """(service, resource type) of an ARN: ("rds", "db"), ("s3", ""), ("sns", "") …"""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ("", "")
    service, resource = parts[2], parts[5]
    cut = min((i for i in (resource.find("/"), resource.find(":")) if i >= 0), default=-1)
    return (service, resource[:cut] if cut >= 0 else "")


def _name(arn: str) -> str:
    """The resource's name in its ARN (bucket, topic, table, log group, subnet id, db id)."""
    resource = arn.split(":", 5)[5]
    service, kind = _arn_kind(arn)
    if not kind:
        return resource
    name = resource[len(kind) + 1 :]
    if service == "logs":
        name = name.removesuffix(":*")
    return name


def _verdict(
    noun: str, checked: Iterable[str], offenders: dict[str, Any] | list[str], key: str, what: str
) -> Outcome:
    """Pass when nothing offends; fail naming the offenders; N/A when nothing was checked."""
    names = sorted(checked)
    if not names:
        return Outcome.not_applicable(f"No {noun} with the service's Project tag.")
    observed = {key: offenders, "checked": names}
    if offenders:
        listed = ", ".join(sorted(offenders))
        return Outcome.failed(
            f"{len(offenders)} of {len(names)} {noun} {what}: {listed}.", **observed
        )
    return Outcome.passed(f"All {len(names)} {noun} checked.", **observed)


class AwsCheck(CheckType):
    """The shared part: applicability, the thread and turning AWS errors into outcomes."""

    family = FAMILY
    reads = ("cloud_region", "project_tag", "cloud_role_arn", "cloud_account_id")
    fresh_for_seconds = 6 * 3600

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    async def check(self, target: Target, params: dict[str, Any], ctx: CheckContext) -> Outcome:
        if not target.cloud_region or not target.project_tag:
            return Outcome.not_applicable("The service has no AWS region or Project tag.")
        return await asyncio.to_thread(self._collect, target, params, ctx.timeout)

    def _collect(self, target: Target, params: dict[str, Any], timeout: float) -> Outcome:
        try:
            return self.collect(Aws(target, timeout), params)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(exc) from None


def _each(names: Iterable[str], offends: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    checked = sorted(names)
    return checked, [name for name in checked if offends(name)]


# --- RDS ---------------------------------------------------------------------------------


@register
class RdsEncryptedCheck(AwsCheck):
    key = "aws.rds.encrypted"
    title = "RDS instances are encrypted at rest"
    expected = "StorageEncrypted on every tagged RDS instance"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        instances = aws.db_instances()
        bad = [d["DBInstanceIdentifier"] for d in instances if not d.get("StorageEncrypted")]
        checked = [d["DBInstanceIdentifier"] for d in instances]
        return _verdict("RDS instances", checked, bad, "unencrypted", "are not encrypted")


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
        return _verdict("RDS instances", checked, bad, "public", "are publicly accessible")


@register
class RdsMultiAzCheck(AwsCheck):
    key = "aws.rds.multi_az"
    title = "RDS primary instances are Multi-AZ"
    expected = "MultiAZ on every tagged RDS instance that is not a read replica"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        primaries = [
            d for d in aws.db_instances() if not d.get("ReadReplicaSourceDBInstanceIdentifier")
        ]
        bad = [d["DBInstanceIdentifier"] for d in primaries if not d.get("MultiAZ")]
        checked = [d["DBInstanceIdentifier"] for d in primaries]
        return _verdict("RDS primary instances", checked, bad, "single_az", "are single-AZ")


@register
class RdsReadReplicaCheck(AwsCheck):
    key = "aws.rds.read_replica"
    title = "RDS primary instances have a read replica"
    expected = "at least one read replica for every tagged RDS primary instance"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        primaries = [
            d for d in aws.db_instances() if not d.get("ReadReplicaSourceDBInstanceIdentifier")
        ]
        bad = [
            d["DBInstanceIdentifier"]
            for d in primaries
            if not d.get("ReadReplicaDBInstanceIdentifiers")
        ]
        checked = [d["DBInstanceIdentifier"] for d in primaries]
        return _verdict("RDS primary instances", checked, bad, "without_replica", "have no replica")


# --- S3 ----------------------------------------------------------------------------------

SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
                if _error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
                    return True
                raise
            algorithms = {
                r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
            }
            return not algorithms & set(SSE_ALGORITHMS)

        buckets = [_name(arn) for arn in aws.tagged("s3")]
        checked, bad = _each(buckets, unencrypted)
        return _verdict("S3 buckets", checked, bad, "unencrypted", "have no default encryption")


@register
class S3PublicAccessBlockedCheck(AwsCheck):
    key = "aws.s3.public_access_blocked"
    title = "S3 buckets block public access"
    expected = "all four Block Public Access settings on every tagged bucket"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        open_flags: dict[str, list[str]] = {}
        buckets = [_name(arn) for arn in aws.tagged("s3")]
        for bucket in buckets:
            try:
                config: Any = aws.s3.get_public_access_block(Bucket=bucket)[
                    "PublicAccessBlockConfiguration"
                ]
            except ClientError as exc:
                if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                    raise
                config = {}
            off = [flag for flag in BLOCK_FLAGS if not config.get(flag)]
            if off:
                open_flags[bucket] = off
        return _verdict(
            "S3 buckets", buckets, open_flags, "not_blocked", "do not block public access"
        )


# --- SNS ---------------------------------------------------------------------------------


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

        _, bad_arns = _each(topics, unencrypted)
        checked = [_name(arn) for arn in topics]
        return _verdict(
            "SNS topics", checked, [_name(a) for a in bad_arns], "unencrypted", "have no KMS key"
        )


# --- DynamoDB ----------------------------------------------------------------------------


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

        tables = [_name(arn) for arn in aws.tagged("dynamodb", "table")]
        checked, bad = _each(tables, disabled)
        return _verdict("DynamoDB tables", checked, bad, "without_pitr", "have PITR off")


@register
class DynamoDbGsiLimitCheck(AwsCheck):
    key = "aws.dynamodb.gsi_limit"
    title = "DynamoDB tables have at most two global secondary indexes"
    expected = "no more than max_gsis GSIs on any tagged table"
    defaults = {"max_gsis": 2}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        counts = {t["TableName"]: len(t.get("GlobalSecondaryIndexes", [])) for t in aws.tables()}
        over = {name: n for name, n in counts.items() if n > params["max_gsis"]}
        return _verdict(
            "DynamoDB tables",
            counts,
            over,
            "over_limit",
            f"have more than {params['max_gsis']} GSIs",
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
        outcome = _verdict("DynamoDB tables", keys, bad, "without_kms", what)
        if outcome.result == Result.NOT_APPLICABLE:
            return outcome
        return Outcome(outcome.result, outcome.explanation, {**outcome.observed, "keys": keys})


# --- CloudWatch Logs ---------------------------------------------------------------------


@register
class LogRetentionCheck(AwsCheck):
    key = "aws.logs.retention"
    title = "Log groups keep logs 6 to 8 months"
    expected = "retentionInDays between min_days and max_days on every tagged log group"
    # AWS accepts 180 but not 240 (the allowed values jump from 180 to 365), so in
    # practice only 180 passes; the bounds follow the policy's wording.
    defaults = {"min_days": 180, "max_days": 240}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        names = {_name(arn) for arn in aws.tagged("logs", "log-group")}
        retention: dict[str, int | None] = {}
        if names:
            pages = aws.logs.get_paginator("describe_log_groups").paginate()
            for page in pages:
                for group in page["logGroups"]:
                    if group.get("logGroupName") in names:
                        retention[group["logGroupName"]] = group.get("retentionInDays")
        low, high = params["min_days"], params["max_days"]
        bad = {
            name: "never expires" if days is None else days
            for name, days in retention.items()
            if days is None or not low <= days <= high
        }
        return _verdict(
            "log groups", retention, bad, "out_of_range", f"keep logs outside {low} to {high} days"
        )


# --- EC2 ---------------------------------------------------------------------------------


@register
class SubnetsThreeAzsCheck(AwsCheck):
    key = "aws.subnets.three_azs"
    title = "The service's subnets span three availability zones"
    expected = "tagged subnets in at least min_azs availability zones"
    defaults = {"min_azs": 3}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        ids = [_name(arn) for arn in aws.tagged("ec2", "subnet")]
        if not ids:
            return Outcome.not_applicable("No subnets with the service's Project tag.")
        pages = aws.ec2.get_paginator("describe_subnets").paginate(SubnetIds=ids)
        subnets = [s for page in pages for s in page["Subnets"]]
        zones = sorted({s["AvailabilityZone"] for s in subnets if "AvailabilityZone" in s})
        observed = {"zones": zones, "subnets": sorted(ids)}
        if len(zones) < params["min_azs"]:
            return Outcome.failed(
                f"The {len(ids)} subnets span {len(zones)} zones; "
                f"at least {params['min_azs']} are expected.",
                **observed,
            )
        return Outcome.passed(f"The {len(ids)} subnets span {len(zones)} zones.", **observed)
