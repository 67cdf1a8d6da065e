"""AWS checks: encryption at rest, backups and recovery.

moto 5.2.5's server lacks AWS Backup's selections (``list_backup_selections``,
``get_backup_selection``) and recovery points (``list_recovery_points_by_resource``); the
tests answer those calls from a ``GapProxy`` on ``AWS_ENDPOINT_URL_BACKUP`` and leave the
rest of Backup (plans, rules) to moto. The tagging API does not index OpenSearch domains
or backup plans, so those are found through their own service's list calls.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from reviews.checks.collectors.aws.client import (
    Aws,
    AwsCheck,
    cluster_label,
    each,
    error_code,
    name_of,
    rds_noun,
    verdict,
)
from reviews.checks.collectors.base import Outcome, register

if TYPE_CHECKING:
    from mypy_boto3_backup.type_defs import BackupSelectionOutputTypeDef

SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


@register
class RdsEncryptedCheck(AwsCheck):
    """Standalone instances are judged on their own StorageEncrypted, Aurora clusters on the
    cluster's (their instances share it); clusters are named “cluster <id>”."""

    key = "aws.rds.encrypted"
    title = "RDS instances and clusters are encrypted at rest"
    expected = "StorageEncrypted on every tagged RDS instance and cluster"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        databases = aws.databases()
        encrypted = {
            d["DBInstanceIdentifier"]: d.get("StorageEncrypted") for d in databases.standalone
        }
        encrypted |= {cluster_label(c): c.get("StorageEncrypted") for c in databases.clusters}
        bad = [name for name, is_on in encrypted.items() if not is_on]
        noun = rds_noun("instances", len(databases.standalone), len(databases.clusters))
        return verdict(noun, encrypted, bad, "unencrypted", "are not encrypted")


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
        return verdict("DynamoDB tables", keys, bad, "without_kms", what, also={"keys": keys})


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


def _project_tag(tags: dict[str, str], aws: Aws) -> bool:
    return tags.get("Project") == aws.target.project_tag


# --- OpenSearch, MSK, Redshift -----------------------------------------------------------


@register
class OpenSearchEncryptedCheck(AwsCheck):
    """Encryption at rest is the checklist item and decides the result; node-to-node
    (in-transit inside the domain) is reported, and required only with
    ``require_node_to_node``."""

    key = "aws.opensearch.encrypted"
    title = "OpenSearch domains are encrypted at rest"
    expected = "EncryptionAtRestOptions enabled on every tagged OpenSearch domain"
    defaults = {"require_node_to_node": False}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        at_rest: dict[str, bool] = {}
        node_to_node: dict[str, bool] = {}
        for domain in aws.opensearch_domains():
            name = domain["DomainName"]
            at_rest[name] = bool(domain.get("EncryptionAtRestOptions", {}).get("Enabled"))
            node_to_node[name] = bool(domain.get("NodeToNodeEncryptionOptions", {}).get("Enabled"))
        bad: dict[str, list[str]] = {}
        for name in at_rest:
            off = [] if at_rest[name] else ["at rest"]
            if params["require_node_to_node"] and not node_to_node[name]:
                off.append("node to node")
            if off:
                bad[name] = off
        what = "are not encrypted at rest"
        if params["require_node_to_node"]:
            what = "lack encryption at rest or node to node"
        return verdict(
            "OpenSearch domains",
            at_rest,
            bad,
            "unencrypted",
            what,
            also={"node_to_node": node_to_node},
        )


@register
class MskEncryptedCheck(AwsCheck):
    """MSK always encrypts its data at rest, with the AWS-managed key unless
    ``DataVolumeKMSKeyId`` names another, so every cluster passes on that score and the
    key is reported. What can differ is traffic in transit (``ClientBroker`` TLS,
    TLS_PLAINTEXT or PLAINTEXT; ``InCluster``): reported, and required (TLS only, in-cluster
    on) with ``require_tls``. Serverless clusters are always TLS.

    AWS always returns the encryption settings; moto leaves out what was not given at
    creation, which is read as AWS's defaults (TLS, in-cluster on, AWS-managed key).
    """

    key = "aws.msk.encrypted"
    title = "MSK clusters are encrypted at rest"
    expected = "encryption at rest on every tagged MSK cluster (always on in MSK)"
    defaults = {"require_tls": False}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        pages = aws.kafka.get_paginator("list_clusters_v2").paginate()
        clusters = [
            c
            for page in pages
            for c in page["ClusterInfoList"]
            if _project_tag(c.get("Tags", {}), aws)
        ]
        keys: dict[str, str] = {}
        in_transit: dict[str, dict[str, Any]] = {}
        for cluster in clusters:
            name = cluster["ClusterName"]
            if "Provisioned" in cluster:
                encryption = cluster["Provisioned"].get("EncryptionInfo", {})
                transit = encryption.get("EncryptionInTransit", {})
                kms = encryption.get("EncryptionAtRest", {}).get("DataVolumeKMSKeyId")
                keys[name] = kms or "AWS_MANAGED"
                in_transit[name] = {
                    "client_broker": transit.get("ClientBroker", "TLS"),
                    "in_cluster": transit.get("InCluster", True),
                }
            else:  # serverless: AWS-managed key, TLS only
                keys[name] = "AWS_MANAGED"
                in_transit[name] = {"client_broker": "TLS", "in_cluster": True}
        bad: dict[str, dict[str, Any]] = {}
        if params["require_tls"]:
            bad = {
                name: transit
                for name, transit in in_transit.items()
                if transit["client_broker"] != "TLS" or not transit["in_cluster"]
            }
        return verdict(
            "MSK clusters",
            keys,
            bad,
            "plaintext_allowed",
            "allow unencrypted traffic",
            also={"keys": keys, "in_transit": in_transit},
        )


@register
class RedshiftEncryptedCheck(AwsCheck):
    key = "aws.redshift.encrypted"
    title = "Redshift clusters are encrypted at rest"
    expected = "Encrypted on every tagged Redshift cluster"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        pages = aws.redshift.get_paginator("describe_clusters").paginate()
        clusters = [
            c
            for page in pages
            for c in page["Clusters"]
            if _project_tag({t.get("Key", ""): t.get("Value", "") for t in c.get("Tags", [])}, aws)
        ]
        checked = [c["ClusterIdentifier"] for c in clusters]
        bad = [c["ClusterIdentifier"] for c in clusters if not c.get("Encrypted")]
        return verdict("Redshift clusters", checked, bad, "unencrypted", "are not encrypted")


# --- AWS Backup ----------------------------------------------------------------------------

# What AWS Backup is expected to protect, by (service, resource type) of the ARN.
BACKED_UP_KINDS = {
    ("rds", "cluster"): "RDS cluster",
    ("dynamodb", "table"): "DynamoDB table",
    ("elasticfilesystem", "file-system"): "EFS file system",
}
BACKED_UP_NOUN = "RDS, DynamoDB and EFS resources"
TAG_KEY_PREFIX = "aws:ResourceTag/"


def _backed_up(aws: Aws) -> dict[str, str]:
    """The tagged resources AWS Backup should protect, ARN → "name (kind)".

    RDS instances that belong to a cluster (Aurora) are left out, since Backup protects
    the cluster, and so are read replicas, whose primary's backups hold the same data.
    """
    found: dict[str, str] = {}
    for instance in aws.db_instances():
        if instance.get("DBClusterIdentifier") or instance.get(
            "ReadReplicaSourceDBInstanceIdentifier"
        ):
            continue
        found[instance["DBInstanceArn"]] = f"{instance['DBInstanceIdentifier']} (RDS instance)"
    for (service, kind), label in BACKED_UP_KINDS.items():
        for arn in aws.tagged(service, kind):
            found[arn] = f"{name_of(arn)} ({label})"
    return found


def _like(pattern: str, value: str) -> bool:
    """AWS Backup's wildcard match: ``*`` is any run of characters, nothing else is special."""
    return (
        re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None
    )


def _selects(selection: BackupSelectionOutputTypeDef, arn: str, tags: dict[str, str]) -> bool:
    """Whether a backup selection picks the resource, following AWS's rules: ``Resources``
    patterns and ``ListOfTags`` are alternatives (either is enough; neither given means every
    resource), every ``Conditions`` entry must hold, and ``NotResources`` wins."""
    if any(_like(pattern, arn) for pattern in selection.get("NotResources", [])):
        return False

    def holds(operator: str, value: str | None, wanted: str) -> bool:
        if operator == "StringEquals":
            return value == wanted
        if operator == "StringNotEquals":
            return value != wanted
        like = value is not None and _like(wanted, value)
        if operator == "StringLike":
            return like
        if operator == "StringNotLike":
            return not like
        return False  # an operator this check does not know: not evidence of a match

    def tag(key: str) -> str | None:
        return tags.get(key.removeprefix(TAG_KEY_PREFIX))

    conditions: dict[str, Any] = dict(selection.get("Conditions", {}))
    if not all(
        holds(operator, tag(c["ConditionKey"]), c["ConditionValue"])
        for operator, entries in conditions.items()
        for c in entries
    ):
        return False
    patterns = selection.get("Resources", [])
    list_of_tags = selection.get("ListOfTags", [])
    if not patterns and not list_of_tags:
        return True
    return any(_like(pattern, arn) for pattern in patterns) or any(
        c["ConditionType"] == "STRINGEQUALS" and tag(c["ConditionKey"]) == c["ConditionValue"]
        for c in list_of_tags
    )


def _tags(aws: Aws, arns: set[str]) -> dict[str, dict[str, str]]:
    """All the tags of these tagged resources (selections may match on other tags)."""
    pages = aws.tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "Project", "Values": [aws.target.project_tag]}]
    )
    return {
        m["ResourceARN"]: {t["Key"]: t["Value"] for t in m.get("Tags", [])}
        for page in pages
        for m in page["ResourceTagMappingList"]
        if m["ResourceARN"] in arns
    }


@register
class BackupPlansCheck(AwsCheck):
    """Every plan in the account is considered, not only plans tagged with the service's
    Project tag: what protects a resource is a plan's selection, and a shared plan that
    selects ``Project = <tag>`` (or lists the ARNs) protects it whatever the plan's own tags.
    A plan counts when it has at least one rule; each covering plan's rules are reported
    with their schedule and ``DeleteAfterDays``. For selections by tag only, AWS also needs
    the service type opted in to AWS Backup, which this check does not read.
    """

    key = "aws.backup.plans"
    title = "AWS Backup plans cover the service's resources"
    expected = "every tagged RDS, DynamoDB and EFS resource selected by a backup plan with a rule"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        resources = _backed_up(aws)
        if not resources:
            return verdict(BACKED_UP_NOUN, [], [], "unprotected", "")
        tags = _tags(aws, set(resources))
        covered: set[str] = set()
        plans: dict[str, dict[str, Any]] = {}
        for page in aws.backup.get_paginator("list_backup_plans").paginate():
            for summary in page["BackupPlansList"]:
                plan_id = summary["BackupPlanId"]
                selected = self._selected(aws, plan_id, resources, tags)
                if not selected:
                    continue
                plan = aws.backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]
                rules = [
                    {
                        "rule": rule["RuleName"],
                        "schedule": rule.get("ScheduleExpression", ""),
                        "delete_after_days": rule.get("Lifecycle", {}).get("DeleteAfterDays"),
                    }
                    for rule in plan.get("Rules", [])
                ]
                if rules:
                    covered |= selected
                plans[plan["BackupPlanName"]] = {
                    "rules": rules,
                    "selects": sorted(resources[arn] for arn in selected),
                }
        bad = sorted(label for arn, label in resources.items() if arn not in covered)
        return verdict(
            BACKED_UP_NOUN,
            resources.values(),
            bad,
            "unprotected",
            "are in no backup plan",
            also={"plans": plans},
        )

    @staticmethod
    def _selected(
        aws: Aws, plan_id: str, resources: dict[str, str], tags: dict[str, dict[str, str]]
    ) -> set[str]:
        selected: set[str] = set()
        pages = aws.backup.get_paginator("list_backup_selections").paginate(BackupPlanId=plan_id)
        for page in pages:
            for item in page["BackupSelectionsList"]:
                selection = aws.backup.get_backup_selection(
                    BackupPlanId=plan_id, SelectionId=item["SelectionId"]
                )["BackupSelection"]
                selected |= {
                    arn for arn in resources if _selects(selection, arn, tags.get(arn, {}))
                }
        return selected


RECOVERY_POINT_DONE = ("COMPLETED", "AVAILABLE")


@register
class BackupRecoveryPointsCheck(AwsCheck):
    """A completed recovery point (status COMPLETED, or AVAILABLE for continuous backups)
    newer than ``max_age_hours`` for every resource AWS Backup should protect. 26 hours
    is a daily schedule plus the slack of its start window: a backup that starts a little
    later than the day before still passes, a missed day does not."""

    key = "aws.backup.recovery_points"
    title = "The service's resources have a recent backup"
    expected = "a completed recovery point newer than max_age_hours for every tagged resource"
    defaults = {"max_age_hours": 26}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        resources = _backed_up(aws)
        now = datetime.now(UTC)
        newest: dict[str, str | None] = {}
        bad: dict[str, str] = {}
        for arn, label in sorted(resources.items(), key=lambda item: item[1]):
            pages = aws.backup.get_paginator("list_recovery_points_by_resource").paginate(
                ResourceArn=arn
            )
            dates = [
                point["CreationDate"]
                for page in pages
                for point in page.get("RecoveryPoints", [])
                if point.get("Status") in RECOVERY_POINT_DONE and "CreationDate" in point
            ]
            latest = max(dates, default=None)
            newest[label] = latest.isoformat() if latest else None
            if latest is None:
                bad[label] = "no completed recovery point"
            else:
                hours = (now - latest).total_seconds() / 3600
                if hours > params["max_age_hours"]:
                    bad[label] = f"newest is {hours:.0f} hours old"
        return verdict(
            BACKED_UP_NOUN,
            resources.values(),
            bad,
            "stale",
            f"have no completed backup in the last {params['max_age_hours']} hours",
            also={"newest": newest},
        )
