"""What the AWS checks share: one account and region's clients, the tagged resources and
the verdict over them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from reviews.checks.collectors.base import (
    CheckContext,
    CheckError,
    CheckType,
    Outcome,
    Target,
)

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_apigateway.type_defs import RestApiTypeDef
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_backup import BackupClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_kafka import KafkaClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.type_defs import FunctionConfigurationTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_opensearch import OpenSearchServiceClient
    from mypy_boto3_opensearch.type_defs import DomainStatusTypeDef
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import DBClusterTypeDef, DBInstanceTypeDef
    from mypy_boto3_redshift import RedshiftClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_synthetics import SyntheticsClient
    from mypy_boto3_xray import XRayClient

FAMILY = "AWS"
DESCRIBE_DOMAINS_AT_ONCE = 5  # OpenSearch's describe_domains takes at most five names
SESSION_NAME = "preflight-check"


def aws_error(exc: Exception) -> CheckError:
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
        self._all_db_instances: list[DBInstanceTypeDef] | None = None
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

    @property
    def apigateway(self) -> APIGatewayClient:
        client: APIGatewayClient = self._client("apigateway")
        return client

    @property
    def autoscaling(self) -> AutoScalingClient:
        client: AutoScalingClient = self._client("autoscaling")
        return client

    @property
    def backup(self) -> BackupClient:
        client: BackupClient = self._client("backup")
        return client

    @property
    def cloudwatch(self) -> CloudWatchClient:
        client: CloudWatchClient = self._client("cloudwatch")
        return client

    @property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        client: ElasticLoadBalancingv2Client = self._client("elbv2")
        return client

    @property
    def kafka(self) -> KafkaClient:
        client: KafkaClient = self._client("kafka")
        return client

    @property
    def awslambda(self) -> LambdaClient:
        client: LambdaClient = self._client("lambda")
        return client

    @property
    def opensearch(self) -> OpenSearchServiceClient:
        client: OpenSearchServiceClient = self._client("opensearch")
        return client

    @property
    def redshift(self) -> RedshiftClient:
        client: RedshiftClient = self._client("redshift")
        return client

    @property
    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs")
        return client

    @property
    def synthetics(self) -> SyntheticsClient:
        client: SyntheticsClient = self._client("synthetics")
        return client

    @property
    def xray(self) -> XRayClient:
        client: XRayClient = self._client("xray")
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
        return sorted(arn for arn in self._tagged if arn_kind(arn) == (service, resource_type))

    def db_instances(self) -> list[DBInstanceTypeDef]:
        """The tagged RDS instances, Aurora cluster members among them. A member names its
        cluster in ``DBClusterIdentifier`` and reports what the cluster owns (encryption,
        zones, failover) poorly, e.g. ``MultiAZ: false`` in a cluster that spans zones:
        judge those settings with ``databases()``, which reads them on the cluster."""
        arns = set(self.tagged("rds", "db"))
        if not arns:
            return []
        found = [d for d in self._db_instances() if d.get("DBInstanceArn") in arns]
        return sorted(found, key=lambda d: d.get("DBInstanceIdentifier", ""))

    def _db_instances(self) -> list[DBInstanceTypeDef]:
        """Every RDS instance in the account and region, listed once per check."""
        if self._all_db_instances is None:
            pages = self.rds.get_paginator("describe_db_instances").paginate()
            self._all_db_instances = [d for page in pages for d in page["DBInstances"]]
        return self._all_db_instances

    def db_clusters(self, also: Collection[str] = ()) -> list[DBClusterTypeDef]:
        """The tagged RDS clusters (Aurora, and Multi-AZ DB clusters), plus the clusters
        whose identifiers are in ``also`` whatever their tags."""
        arns = set(self.tagged("rds", "cluster"))
        if not arns and not also:
            return []
        pages = self.rds.get_paginator("describe_db_clusters").paginate()
        found = [
            c
            for page in pages
            for c in page["DBClusters"]
            if c.get("DBClusterArn") in arns or c.get("DBClusterIdentifier") in also
        ]
        return sorted(found, key=lambda c: c.get("DBClusterIdentifier", ""))

    def databases(self) -> Databases:
        """The service's RDS databases, as the RDS checks judge them.

        A cluster is the service's when it or any of its instances carries the Project tag
        (AWS copies tags neither from a cluster to the instances added to it nor back), and
        then all its instances are too.
        """
        tagged = self.db_instances()
        clusters = self.db_clusters(
            also={d["DBClusterIdentifier"] for d in tagged if d.get("DBClusterIdentifier")}
        )
        ids = {c["DBClusterIdentifier"] for c in clusters}
        members: dict[str, list[DBInstanceTypeDef]] = {cluster: [] for cluster in ids}
        if ids:
            for instance in self._db_instances():
                if instance.get("DBClusterIdentifier") in ids:
                    members[instance["DBClusterIdentifier"]].append(instance)
        for found in members.values():
            found.sort(key=lambda d: d.get("DBInstanceIdentifier", ""))
        standalone = [d for d in tagged if not d.get("DBClusterIdentifier")]
        return Databases(standalone=standalone, clusters=clusters, members=members)

    def tables(self) -> list[TableDescriptionTypeDef]:
        return [
            self.dynamodb.describe_table(TableName=name_of(arn))["Table"]
            for arn in self.tagged("dynamodb", "table")
        ]

    def functions(self) -> list[FunctionConfigurationTypeDef]:
        """The tagged Lambda functions, from one listing (no call per function)."""
        arns = set(self.tagged("lambda", "function"))
        if not arns:
            return []
        pages = self.awslambda.get_paginator("list_functions").paginate()
        found = [f for page in pages for f in page["Functions"] if f.get("FunctionArn") in arns]
        return sorted(found, key=lambda f: f.get("FunctionName", ""))

    def rest_apis(self) -> list[RestApiTypeDef]:
        """The REST APIs whose own tags carry the Project (the tagging API misses them in
        moto)."""
        pages = self.apigateway.get_paginator("get_rest_apis").paginate()
        tag = self.target.project_tag
        found = [
            api
            for page in pages
            for api in page.get("items", [])
            if api.get("tags", {}).get("Project") == tag
        ]
        return sorted(found, key=lambda api: (api.get("name", ""), api.get("id", "")))

    def opensearch_domains(self) -> list[DomainStatusTypeDef]:
        """The tagged OpenSearch (and Elasticsearch) domains, not being deleted. The tagging
        API misses them in moto, so they are listed and their own tags read one by one."""
        listed = self.opensearch.list_domain_names()["DomainNames"]
        names = sorted(d["DomainName"] for d in listed)
        found: list[DomainStatusTypeDef] = []
        for start in range(0, len(names), DESCRIBE_DOMAINS_AT_ONCE):
            batch = names[start : start + DESCRIBE_DOMAINS_AT_ONCE]
            for domain in self.opensearch.describe_domains(DomainNames=batch)["DomainStatusList"]:
                if domain.get("Deleted"):
                    continue
                tags = self.opensearch.list_tags(ARN=domain["ARN"])["TagList"]
                if {t["Key"]: t["Value"] for t in tags}.get("Project") == self.target.project_tag:
                    found.append(domain)
        return sorted(found, key=lambda d: d["DomainName"])


@dataclass(frozen=True)
class Databases:
    """The service's RDS databases: standalone instances are judged one by one, clusters as
    a whole, since encryption, zones and failover belong to an Aurora cluster rather than
    to its instances. Only PubliclyAccessible stays per instance."""

    standalone: list[DBInstanceTypeDef]  # tagged instances in no cluster, read replicas too
    clusters: list[DBClusterTypeDef]  # tagged clusters and the clusters of tagged instances
    members: dict[str, list[DBInstanceTypeDef]]  # cluster id → its instances, tagged or not

    @property
    def instances(self) -> list[DBInstanceTypeDef]:
        """Every instance: the standalone ones and all the clusters' members."""
        found = self.standalone + [d for ds in self.members.values() for d in ds]
        return sorted(found, key=lambda d: d.get("DBInstanceIdentifier", ""))


def cluster_label(cluster: DBClusterTypeDef) -> str:
    """How the RDS checks name a cluster among instances: “cluster <id>”."""
    return f"cluster {cluster['DBClusterIdentifier']}"


def rds_noun(instances: str, n_instances: int, n_clusters: int) -> str:
    """“RDS instances”, “RDS clusters” or “RDS instances and clusters”, after what was
    judged; “RDS instances or clusters” when nothing was."""
    if n_instances and n_clusters:
        return f"RDS {instances} and clusters"
    if n_clusters:
        return "RDS clusters"
    if n_instances:
        return f"RDS {instances}"
    return f"RDS {instances} or clusters"


def arn_kind(arn: str) -> tuple[str, str]:
    """(service, resource type) of an ARN: ("rds", "db"), ("s3", ""), ("sns", "") …"""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ("", "")
    service, resource = parts[2], parts[5]
    cut = min((i for i in (resource.find("/"), resource.find(":")) if i >= 0), default=-1)
    return (service, resource[:cut] if cut >= 0 else "")


def name_of(arn: str) -> str:
    """The resource's name in its ARN (bucket, topic, table, log group, subnet id, db id)."""
    resource = arn.split(":", 5)[5]
    service, kind = arn_kind(arn)
    if not kind:
        return resource
    name = resource[len(kind) + 1 :]
    if service == "logs":
        name = name.removesuffix(":*")
    return name


def verdict(
    noun: str,
    checked: Iterable[str],
    offenders: dict[str, Any] | list[str],
    key: str,
    what: str,
    *,
    reasons: bool = False,
    also: dict[str, Any] | None = None,
) -> Outcome:
    """Pass when nothing offends; fail naming the offenders; N/A when nothing was checked.

    With ``reasons``, ``offenders`` maps each name to a list of what is wrong with it, and
    the explanation says so: "a (no alarm; stale), b (…)". ``also`` adds observed values
    to a pass or a fail.
    """
    names = sorted(checked)
    if not names:
        return Outcome.not_applicable(f"No {noun} with the service's Project tag.")
    observed = {key: offenders, "checked": names, **(also or {})}
    if offenders:
        if reasons and isinstance(offenders, dict):
            listed = ", ".join(
                f"{name} ({'; '.join(why)})" for name, why in sorted(offenders.items())
            )
        else:
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
            raise aws_error(exc) from None


def each(names: Iterable[str], offends: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    checked = sorted(names)
    return checked, [name for name in checked if offends(name)]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
