"""AWS checks: zones, replicas, instance counts and tags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reviews.checks.collectors.aws.client import (
    Aws,
    AwsCheck,
    cluster_label,
    name_of,
    rds_noun,
    verdict,
)
from reviews.checks.collectors.base import Outcome, register

# An Aurora cluster's instances report MultiAZ false whatever the cluster spans, and the
# cluster's AvailabilityZones are where its storage is copied (always three), not where
# an instance could take over: the zones of its instances are the evidence.
CLUSTER_MIN_AZS = 2


@register
class RdsMultiAzCheck(AwsCheck):
    key = "aws.rds.multi_az"
    title = "RDS primary instances and clusters are Multi-AZ"
    expected = (
        "MultiAZ on every tagged RDS instance that is not a read replica, and every tagged "
        "cluster with instances in at least two availability zones (or MultiAZ)"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        databases = aws.databases()
        primaries = [
            d for d in databases.standalone if not d.get("ReadReplicaSourceDBInstanceIdentifier")
        ]
        spread = {d["DBInstanceIdentifier"]: bool(d.get("MultiAZ")) for d in primaries}
        for cluster in databases.clusters:
            members = databases.members[cluster["DBClusterIdentifier"]]
            zones = {d["AvailabilityZone"] for d in members if d.get("AvailabilityZone")}
            spread[cluster_label(cluster)] = (
                bool(cluster.get("MultiAZ")) or len(zones) >= CLUSTER_MIN_AZS
            )
        bad = [name for name, multi_az in spread.items() if not multi_az]
        noun = rds_noun("primary instances", len(primaries), len(databases.clusters))
        return verdict(noun, spread, bad, "single_az", "are single-AZ")


@register
class RdsReadReplicaCheck(AwsCheck):
    """An Aurora cluster has no read replicas of its writer: its reader instances
    (``IsClusterWriter`` false) serve reads and are what it fails over to."""

    key = "aws.rds.read_replica"
    title = "RDS primary instances have a read replica, clusters a reader"
    expected = (
        "at least one read replica for every tagged RDS primary instance, and at least one "
        "reader instance in every tagged cluster"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        databases = aws.databases()
        primaries = [
            d for d in databases.standalone if not d.get("ReadReplicaSourceDBInstanceIdentifier")
        ]
        replicated = {
            d["DBInstanceIdentifier"]: bool(d.get("ReadReplicaDBInstanceIdentifiers"))
            for d in primaries
        }
        replicated |= {
            cluster_label(c): any(
                m.get("IsClusterWriter") is False for m in c.get("DBClusterMembers", [])
            )
            for c in databases.clusters
        }
        bad = [name for name, has_one in replicated.items() if not has_one]
        noun = rds_noun("primary instances", len(primaries), len(databases.clusters))
        return verdict(noun, replicated, bad, "without_replica", "have no replica")


@register
class SubnetsThreeAzsCheck(AwsCheck):
    key = "aws.subnets.three_azs"
    title = "The service's subnets span three availability zones"
    expected = "tagged subnets in at least min_azs availability zones"
    defaults = {"min_azs": 3}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        ids = [name_of(arn) for arn in aws.tagged("ec2", "subnet")]
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


@register
class AutoScalingThreeAzsCheck(AwsCheck):
    """Groups are found with describe_auto_scaling_groups' own tag filter: the Resource
    Groups Tagging API does not return Auto Scaling groups (in AWS as in moto).

    A group passes when it may place instances in ``min_azs`` zones, has ``min_instances``
    instances InService now, and its MinSize is at least ``min_instances``: a group allowed
    to scale in to one instance is one failure away from an outage, however many run today.
    """

    key = "aws.autoscaling.three_azs"
    title = "Auto Scaling groups span three zones with at least two instances"
    expected = (
        "every tagged Auto Scaling group in at least min_azs zones, with MinSize and "
        "InService instances of at least min_instances"
    )
    defaults = {"min_azs": 3, "min_instances": 2}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        pages = aws.autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": "tag:Project", "Values": [aws.target.project_tag]}]
        )
        groups = [g for page in pages for g in page["AutoScalingGroups"]]
        min_azs, min_instances = params["min_azs"], params["min_instances"]
        problems: dict[str, list[str]] = {}
        for group in groups:
            found = []
            zones = sorted(group.get("AvailabilityZones", []))
            if len(zones) < min_azs:
                found.append(f"{_count(len(zones), 'zone')} ({', '.join(zones) or 'none'})")
            in_service = sum(
                1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"
            )
            if in_service < min_instances:
                found.append(f"{_count(in_service, 'instance')} in service")
            if group["MinSize"] < min_instances:
                found.append(f"minimum size {group['MinSize']}")
            if found:
                problems[group["AutoScalingGroupName"]] = found
        checked = [g["AutoScalingGroupName"] for g in groups]
        if not problems:  # passed, or not applicable
            return verdict("Auto Scaling groups", checked, problems, "short", "")
        listed = "; ".join(f"{name}: {', '.join(p)}" for name, p in sorted(problems.items()))
        return Outcome.failed(
            f"{len(problems)} of {len(checked)} Auto Scaling groups fall short of "
            f"{min_azs} zones and {min_instances} instances: {listed}.",
            short=problems,
            checked=sorted(checked),
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- tagging ---------------------------------------------------------------------------------

LIVE_STATES = ["pending", "running", "stopping", "stopped"]  # not terminated
SHOWN = 20  # offenders named in the explanation; observed lists them all


@dataclass(frozen=True)
class _Account:
    """What inventories need to build ARNs and read tags for one account and region."""

    aws: Aws
    partition: str
    account: str
    region: str
    tags: dict[str, str]  # ARN → Project value, from the Resource Groups Tagging API

    def tag_of(self, arn: str) -> str | None:
        return self.tags.get(arn.removesuffix(":*"))


Found = list[tuple[str, str | None]]  # (name, Project value or None)


def _inline(tags: Any) -> str | None:
    """The Project value in a describe call's own tag list ([{"Key", "Value"}] or a dict)."""
    if isinstance(tags, dict):
        value = tags.get("Project")
        return None if value is None else str(value)
    for tag in tags or []:
        if tag.get("Key") == "Project":
            return str(tag.get("Value", ""))
    return None


def _buckets(a: _Account) -> Found:
    pages = a.aws.s3.get_paginator("list_buckets").paginate(BucketRegion=a.region)
    return [
        (b["Name"], a.tag_of(f"arn:{a.partition}:s3:::{b['Name']}"))
        for page in pages
        for b in page.get("Buckets", [])
    ]


def _db_instances(a: _Account) -> Found:
    pages = a.aws.rds.get_paginator("describe_db_instances").paginate()
    return [
        (d["DBInstanceIdentifier"], _inline(d.get("TagList")))
        for page in pages
        for d in page["DBInstances"]
    ]


def _tables(a: _Account) -> Found:
    pages = a.aws.dynamodb.get_paginator("list_tables").paginate()
    prefix = f"arn:{a.partition}:dynamodb:{a.region}:{a.account}:table/"
    return [(name, a.tag_of(prefix + name)) for page in pages for name in page["TableNames"]]


def _functions(a: _Account) -> Found:
    pages = a.aws.awslambda.get_paginator("list_functions").paginate()
    return [
        (f["FunctionName"], a.tag_of(f["FunctionArn"])) for page in pages for f in page["Functions"]
    ]


def _topics(a: _Account) -> Found:
    pages = a.aws.sns.get_paginator("list_topics").paginate()
    return [
        (t["TopicArn"].rsplit(":", 1)[-1], a.tag_of(t["TopicArn"]))
        for page in pages
        for t in page.get("Topics", [])
    ]


def _queues(a: _Account) -> Found:
    pages = a.aws.sqs.get_paginator("list_queues").paginate()
    prefix = f"arn:{a.partition}:sqs:{a.region}:{a.account}:"
    urls = [url for page in pages for url in page.get("QueueUrls", [])]
    names = [url.rstrip("/").rsplit("/", 1)[-1] for url in urls]
    return [(name, a.tag_of(prefix + name)) for name in names]


def _log_groups(a: _Account) -> Found:
    pages = a.aws.logs.get_paginator("describe_log_groups").paginate()
    return [(g["logGroupName"], a.tag_of(g["arn"])) for page in pages for g in page["logGroups"]]


def _instances(a: _Account) -> Found:
    pages = a.aws.ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}]
    )
    return [
        (i["InstanceId"], _inline(i.get("Tags")))
        for page in pages
        for r in page["Reservations"]
        for i in r.get("Instances", [])
    ]


def _vpcs(a: _Account) -> Found:
    pages = a.aws.ec2.get_paginator("describe_vpcs").paginate()
    return [
        (v["VpcId"], _inline(v.get("Tags")))
        for page in pages
        for v in page["Vpcs"]
        if not v.get("IsDefault")
    ]


def _subnets(a: _Account) -> Found:
    pages = a.aws.ec2.get_paginator("describe_subnets").paginate()
    return [
        (s["SubnetId"], _inline(s.get("Tags")))
        for page in pages
        for s in page["Subnets"]
        if not s.get("DefaultForAz")
    ]


def _groups(a: _Account) -> Found:
    pages = a.aws.autoscaling.get_paginator("describe_auto_scaling_groups").paginate()
    return [
        (g["AutoScalingGroupName"], _inline(g.get("Tags")))
        for page in pages
        for g in page["AutoScalingGroups"]
    ]


def _rest_apis(a: _Account) -> Found:
    pages = a.aws.apigateway.get_paginator("get_rest_apis").paginate()
    return [
        (api.get("name", api["id"]), _inline(api.get("tags", {})))
        for page in pages
        for api in page.get("items", [])
    ]


# What the check inventories, and how. Where a describe call returns the tags (EC2, RDS,
# Auto Scaling, API Gateway) they are read there; elsewhere they come from one paginated
# Resource Groups Tagging API query, so no kind costs a call per resource. Left out for
# now: OpenSearch domains (moto's tagging API does not index them, and their own tags cost
# a call per domain), load balancers, KMS keys, secrets, alarms, security groups, and the
# default VPC with its subnets (AWS creates them).
INVENTORY: tuple[tuple[str, Callable[[_Account], Found]], ...] = (
    ("S3 bucket", _buckets),
    ("RDS instance", _db_instances),
    ("DynamoDB table", _tables),
    ("Lambda function", _functions),
    ("SNS topic", _topics),
    ("SQS queue", _queues),
    ("log group", _log_groups),
    ("EC2 instance", _instances),
    ("VPC", _vpcs),
    ("subnet", _subnets),
    ("Auto Scaling group", _groups),
    ("REST API", _rest_apis),
)


@register
class ProjectTagCheck(AwsCheck):
    """Only meaningful in an account that belongs to the service, so it needs the service's
    cloud account id. There, a resource tagged for another project fails too: either the
    tag is wrong or the resource is in the wrong account."""

    key = "aws.tagging.project"
    title = "Every resource in the service's account carries its Project tag"
    expected = (
        "the service's Project tag on every bucket, database, table, function, topic, queue, "
        "log group, instance, VPC, subnet, Auto Scaling group and REST API in the account "
        "and region"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        target = aws.target
        if not target.cloud_account_id:
            return Outcome.not_applicable(
                "The service names no AWS account of its own. In a shared account only "
                "resources with the service's Project tag are known to be the service's, "
                "so untagged ones cannot be held against it."
            )
        pages = aws.tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": "Project"}])
        tags = {
            m["ResourceARN"].removesuffix(":*"): next(
                (t["Value"] for t in m.get("Tags", []) if t["Key"] == "Project"), ""
            )
            for page in pages
            for m in page["ResourceTagMappingList"]
        }
        account = _Account(
            aws=aws,
            partition=aws.session.get_partition_for_region(aws.region),
            account=target.cloud_account_id,
            region=aws.region,
            tags=tags,
        )
        checked: dict[str, int] = {}
        untagged: list[str] = []
        other: dict[str, str] = {}
        for kind, inventory in INVENTORY:
            found = inventory(account)
            if found:
                checked[kind] = len(found)
            for name, value in sorted(found, key=lambda f: f[0]):
                label = f"{kind} {name}"
                if not value:
                    untagged.append(label)
                elif value != target.project_tag:
                    other[label] = value
        where = f"account {target.cloud_account_id} ({aws.region})"
        total = sum(checked.values())
        if not total:
            return Outcome.not_applicable(f"No resources of the kinds checked in {where}.")
        observed = {"untagged": untagged, "other_project": other, "checked": checked}
        if not untagged and not other:
            return Outcome.passed(
                f"All {total} resources in {where} carry the Project tag “{target.project_tag}”.",
                **observed,
            )
        foreign = [f"{label} (Project={value})" for label, value in other.items()]
        parts = []
        if untagged:
            verb = "has" if len(untagged) == 1 else "have"
            parts.append(f"{len(untagged)} {verb} no Project tag: {_listed(untagged)}")
        if other:
            verb = "carries" if len(other) == 1 else "carry"
            parts.append(f"{len(other)} {verb} another project's tag: {_listed(foreign)}")
        return Outcome.failed(f"Of {total} resources in {where}, {'; '.join(parts)}.", **observed)


def _listed(labels: list[str]) -> str:
    shown = ", ".join(labels[:SHOWN])
    return shown if len(labels) <= SHOWN else f"{shown} and {len(labels) - SHOWN} more"
