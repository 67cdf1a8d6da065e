"""AWS test helpers: resources created through boto3 against moto's standalone server.

The server itself is the session fixture ``moto_url`` and the per-test reset is the
``aws`` fixture (both in ``tests/conftest.py``); a test module that uses these helpers
marks itself with ``pytestmark = pytest.mark.usefixtures("aws")``.
"""

from __future__ import annotations

from typing import Any

import boto3

from reviews.checks.collectors.base import Outcome, Target, all_check_types
from reviews.checks.collectors.runner import Job, run_jobs

REGION = "eu-west-2"
TAG = "benefits"
PROJECT = [{"Key": "Project", "Value": TAG}]
OTHER = [{"Key": "Project", "Value": "someone-else"}]
MOTO_ACCOUNT = "123456789012"  # moto's default account
ROLE_ACCOUNT = "111111111111"
ROLE_ARN = f"arn:aws:iam::{ROLE_ACCOUNT}:role/preflight-reader"
AWS_KEYS = sorted(c.key for c in all_check_types() if c.key.startswith("aws."))


def client(name: str, **credentials: str) -> Any:
    return boto3.client(name, region_name=REGION, **credentials)  # type: ignore[call-overload]


def run_one(
    key: str,
    *,
    params: dict[str, Any] | None = None,
    timeout: float = 5.0,
    region: str = REGION,
    tag: str = TAG,
    **target: str,
) -> Outcome:
    job = Job(key, Target(1, cloud_region=region, project_tag=tag, **target), params or {})
    [outcome] = run_jobs([job], timeout=timeout)
    return outcome


def db(identifier: str, tags: list[dict[str, str]] = PROJECT, **settings: Any) -> None:
    settings.setdefault("PubliclyAccessible", False)
    client("rds").create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        Tags=tags,
        **settings,
    )


def replica(identifier: str, source: str) -> None:
    client("rds").create_db_instance_read_replica(
        DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=source, Tags=PROJECT
    )


def bucket(name: str, tags: list[dict[str, str]] = PROJECT) -> Any:
    s3 = client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
    return s3


def table(name: str, gsis: int = 0, tags: list[dict[str, str]] = PROJECT, **settings: Any) -> Any:
    dynamodb = client("dynamodb")
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    indexes = []
    for n in range(gsis):
        attributes.append({"AttributeName": f"g{n}", "AttributeType": "S"})
        indexes.append(
            {
                "IndexName": f"by-g{n}",
                "KeySchema": [{"AttributeName": f"g{n}", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    if indexes:
        settings["GlobalSecondaryIndexes"] = indexes
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        Tags=tags,
        **settings,
    )
    return dynamodb


def log_group(name: str, days: int | None, tag: str = TAG) -> None:
    logs = client("logs")
    logs.create_log_group(logGroupName=name, tags={"Project": tag})
    if days is not None:
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)


def subnets(*zones: str, tags: list[dict[str, str]] = PROJECT) -> None:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    for n, zone in enumerate(zones):
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.0.{n}.0/24",
            AvailabilityZone=f"{REGION}{zone}",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}],
        )
