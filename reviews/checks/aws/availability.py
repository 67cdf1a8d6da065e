"""AWS checks: zones, replicas, instance counts and tags."""

from __future__ import annotations

from typing import Any

from reviews.checks.aws.client import Aws, AwsCheck, name_of, verdict
from reviews.checks.base import Outcome, register


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
        return verdict("RDS primary instances", checked, bad, "single_az", "are single-AZ")


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
        return verdict("RDS primary instances", checked, bad, "without_replica", "have no replica")


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
