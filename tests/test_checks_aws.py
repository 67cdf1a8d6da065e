"""The AWS checks, run through ``run_jobs`` against moto's standalone server on 127.0.0.1.

Nothing is patched in-process: one ``ThreadedMotoServer`` serves the whole session, every
test resets it (``POST /moto-api/reset``) and points boto3 at it with ``AWS_ENDPOINT_URL``,
which the checks honour like any boto3 code. Resources are set up through boto3 too.

This module covers what all AWS checks share (applicability, errors, credentials, roles,
one batch) and the first checks; each family module has its own test file
(``test_checks_aws_<module>.py``), where ``tests/aws_gaps.py`` fills the calls moto lacks.

No database except the one ``target_for`` test.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from reviews.checks.collectors.base import Result, Target
from reviews.checks.collectors.runner import Job, run_jobs
from tests.aws import (
    AWS_KEYS,
    MOTO_ACCOUNT,
    OTHER,
    PROJECT,
    REGION,
    ROLE_ACCOUNT,
    ROLE_ARN,
    TAG,
    bucket,
    client,
    db,
    log_group,
    replica,
    run_one,
    subnets,
    table,
)
from tests.http_servers import closed_port

pytestmark = pytest.mark.usefixtures("aws")


# --- applicability and errors -------------------------------------------------------------


def test_the_aws_family_registers_the_expected_check_types():
    assert AWS_KEYS == [
        "aws.apigateway.authorizers",
        "aws.autoscaling.three_azs",
        "aws.backup.plans",
        "aws.backup.recovery_points",
        "aws.cloudwatch.alarm_5xx",
        "aws.cloudwatch.canary_alarms",
        "aws.cloudwatch.dashboards",
        "aws.dynamodb.encrypted",
        "aws.dynamodb.gsi_limit",
        "aws.dynamodb.pitr",
        "aws.lambda.in_vpc",
        "aws.lambda.not_public",
        "aws.logs.retention",
        "aws.msk.encrypted",
        "aws.opensearch.encrypted",
        "aws.opensearch.in_vpc",
        "aws.rds.encrypted",
        "aws.rds.multi_az",
        "aws.rds.not_public",
        "aws.rds.read_replica",
        "aws.redshift.encrypted",
        "aws.s3.encrypted",
        "aws.s3.public_access_blocked",
        "aws.sns.delivery_logging",
        "aws.sns.encrypted",
        "aws.sqs.dlq_alarm",
        "aws.subnets.three_azs",
        "aws.synthetics.canaries",
        "aws.tagging.project",
        "aws.xray.api_stages",
        "aws.xray.lambdas",
    ]


@pytest.mark.parametrize("key", AWS_KEYS)
def test_every_aws_check_is_not_applicable_without_a_region(key):
    outcome = run_one(key, region="")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "The service has no AWS region or Project tag."


@pytest.mark.parametrize("key", AWS_KEYS)
def test_every_aws_check_is_not_applicable_without_a_project_tag(key):
    assert run_one(key, tag="").result == Result.NOT_APPLICABLE


# Checks whose item asks for something to exist: with nothing tagged they fail, not N/A.
EXISTENCE_CHECKS = {
    "aws.cloudwatch.alarm_5xx",
    "aws.cloudwatch.dashboards",
    "aws.synthetics.canaries",
}


def test_every_aws_check_is_not_applicable_when_only_another_projects_resources_exist():
    db("theirs-db", tags=OTHER, StorageEncrypted=False)
    bucket("theirs-bucket", tags=OTHER)
    client("sns").create_topic(Name="theirs", Tags=OTHER)
    table("theirs", gsis=3, tags=OTHER)
    log_group("/theirs", None, tag="someone-else")
    subnets("a", tags=OTHER)
    target = Target(1, cloud_region=REGION, project_tag=TAG)

    outcomes = run_jobs([Job(key, target, {}) for key in AWS_KEYS], timeout=5)

    for key, outcome in zip(AWS_KEYS, outcomes, strict=True):
        if key in EXISTENCE_CHECKS:  # the item asks for the thing to exist
            assert outcome.result == Result.FAIL, (key, outcome)
        else:
            assert outcome.result == Result.NOT_APPLICABLE, (key, outcome)
            assert "the service's Project tag" in outcome.explanation, (key, outcome)


def test_an_unreachable_endpoint_is_an_error_with_the_reason_returned_quickly(monkeypatch):
    with closed_port() as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        started = time.monotonic()
        outcome = run_one("aws.rds.encrypted", timeout=0.5)
        wall = time.monotonic() - started

    assert outcome.result == Result.ERROR, outcome
    assert outcome.explanation.startswith("Could not reach AWS: Could not connect"), outcome
    assert f"127.0.0.1:{port}" in outcome.explanation
    assert wall < 3, f"the run took {wall:.2f} s with a 0.5 s timeout"


def test_missing_credentials_are_an_error_saying_so(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    outcome = run_one("aws.sns.encrypted")

    assert outcome.result == Result.ERROR, outcome
    assert outcome.explanation == "AWS call failed: Unable to locate credentials"


def test_credentials_for_another_account_than_the_services_are_an_error():
    db("db-1", StorageEncrypted=True)

    outcome = run_one("aws.rds.encrypted", cloud_account_id="999999999999")

    assert outcome.result == Result.ERROR, outcome
    assert outcome.explanation == (
        f"The credentials are for account {MOTO_ACCOUNT}, not the service's account 999999999999."
    )


def test_the_check_passes_when_the_account_matches_the_credentials():
    db("db-1", StorageEncrypted=True)

    outcome = run_one("aws.rds.encrypted", cloud_account_id=MOTO_ACCOUNT)

    assert outcome.result == Result.PASS, outcome


def role_credentials() -> dict[str, str]:
    """Credentials of the role in ROLE_ACCOUNT; moto keeps that account's resources apart."""
    client("iam").create_role(RoleName="preflight-reader", AssumeRolePolicyDocument="{}")
    granted = client("sts").assume_role(RoleArn=ROLE_ARN, RoleSessionName="setup")["Credentials"]
    return {
        "aws_access_key_id": granted["AccessKeyId"],
        "aws_secret_access_key": granted["SecretAccessKey"],
        "aws_session_token": granted["SessionToken"],
    }


def test_a_role_arn_makes_the_check_assume_the_role_and_read_its_account():
    # The database lives in the role's account only: the check can see it only by
    # assuming the role.
    credentials = role_credentials()
    client("rds", **credentials).create_db_instance(
        DBInstanceIdentifier="in-role-account",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        StorageEncrypted=True,
        Tags=PROJECT,
    )

    with_role = run_one("aws.rds.encrypted", cloud_role_arn=ROLE_ARN, cloud_account_id=ROLE_ACCOUNT)
    without_role = run_one("aws.rds.encrypted")

    assert with_role.result == Result.PASS, with_role
    assert with_role.observed["checked"] == ["in-role-account"]
    assert without_role.result == Result.NOT_APPLICABLE, without_role


SATISFIED = [
    "aws.dynamodb.encrypted",
    "aws.dynamodb.gsi_limit",
    "aws.dynamodb.pitr",
    "aws.logs.retention",
    "aws.rds.encrypted",
    "aws.rds.multi_az",
    "aws.rds.not_public",
    "aws.rds.read_replica",
    "aws.s3.encrypted",
    "aws.s3.public_access_blocked",
    "aws.sns.encrypted",
    "aws.subnets.three_azs",
]


def test_all_the_aws_checks_run_together_in_one_batch():
    db("db-1", StorageEncrypted=True, MultiAZ=True)
    replica("db-1-replica", "db-1")
    s3 = bucket("assets-bucket")
    encrypt(s3, "assets-bucket")
    block(s3, "assets-bucket")
    table("claims").update_continuous_backups(
        TableName="claims",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    log_group("/aws/lambda/claims", 180)
    subnets("a", "b", "c")
    client("sns").create_topic(Name="events", Attributes={"KmsMasterKeyId": "k"}, Tags=PROJECT)
    target = Target(1, cloud_region=REGION, project_tag=TAG)

    outcomes = run_jobs([Job(key, target, {}) for key in AWS_KEYS], timeout=5)

    # The resources above satisfy the first checks; the others (each tested in its own
    # module) must still run alongside without erroring, except the one that needs a
    # call moto lacks (recovery points, answered by GapProxy in its own tests).
    results = {key: o.result for key, o in zip(AWS_KEYS, outcomes, strict=True)}
    assert {key: results[key] for key in SATISFIED} == dict.fromkeys(SATISFIED, Result.PASS)
    errors = {
        k: o.explanation
        for k, o in zip(AWS_KEYS, outcomes, strict=True)
        if o.result == Result.ERROR
    }
    assert set(errors) == {"aws.backup.recovery_points"}, errors


@pytest.mark.django_db
def test_a_services_cloud_settings_reach_the_checks_target(benefits_team):
    from reviews.checks.selectors import target_for
    from reviews.models import Service

    service = Service.objects.create(
        name="Claims",
        slug="claims",
        team=benefits_team,
        cloud_account_id=ROLE_ACCOUNT,
        cloud_region=REGION,
        cloud_role_arn=ROLE_ARN,
        project_tag=TAG,
    )

    target = target_for(service)

    assert (target.cloud_account_id, target.cloud_region) == (ROLE_ACCOUNT, REGION)
    assert (target.cloud_role_arn, target.project_tag) == (ROLE_ARN, TAG)


# --- RDS -----------------------------------------------------------------------------------


def test_rds_encrypted_passes_when_every_tagged_instance_is_encrypted():
    db("db-1", StorageEncrypted=True)
    db("theirs-db", tags=OTHER, StorageEncrypted=False)  # another project's: ignored

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"unencrypted": [], "checked": ["db-1"]}
    assert outcome.expected == "StorageEncrypted on every tagged RDS instance and cluster"


def test_rds_encrypted_fails_naming_the_unencrypted_instance():
    db("db-1", StorageEncrypted=True)
    db("db-2", StorageEncrypted=False)

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {"unencrypted": ["db-2"], "checked": ["db-1", "db-2"]}
    assert outcome.explanation == "1 of 2 RDS instances are not encrypted: db-2."


def test_rds_not_public_passes_when_no_instance_is_publicly_accessible():
    db("db-1", PubliclyAccessible=False)

    assert run_one("aws.rds.not_public").result == Result.PASS


def test_rds_not_public_fails_naming_the_public_instance():
    db("db-1", PubliclyAccessible=False)
    db("db-2", PubliclyAccessible=True)

    outcome = run_one("aws.rds.not_public")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["public"] == ["db-2"]


def test_rds_multi_az_passes_when_every_primary_is_multi_az():
    db("db-1", MultiAZ=True)

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["db-1"]


def test_rds_multi_az_fails_naming_the_single_az_primary():
    db("db-1", MultiAZ=True)
    db("db-2", MultiAZ=False)

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["single_az"] == ["db-2"]


def test_rds_read_replica_passes_when_every_primary_has_one_and_ignores_the_replicas():
    db("db-1")
    replica("db-1-replica", "db-1")

    outcome = run_one("aws.rds.read_replica")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"without_replica": [], "checked": ["db-1"]}


def test_rds_read_replica_fails_naming_the_primary_without_one():
    db("db-1")
    replica("db-1-replica", "db-1")
    db("db-2")

    outcome = run_one("aws.rds.read_replica")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_replica"] == ["db-2"]


# --- S3 ------------------------------------------------------------------------------------


def encrypt(s3: Any, name: str, algorithm: str = "AES256") -> None:
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]
        },
    )


def test_s3_encrypted_passes_when_every_tagged_bucket_has_default_encryption():
    encrypt(bucket("claims-uploads"), "claims-uploads", "aws:kms")
    encrypt(bucket("claims-exports"), "claims-exports")

    outcome = run_one("aws.s3.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["claims-exports", "claims-uploads"]


def test_s3_encrypted_fails_naming_the_bucket_without_default_encryption():
    encrypt(bucket("claims-uploads"), "claims-uploads")
    bucket("claims-plain")

    outcome = run_one("aws.s3.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unencrypted"] == ["claims-plain"]


def block(s3: Any, name: str, **flags: bool) -> None:
    config = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={**config, **flags})


def test_s3_public_access_blocked_passes_when_all_four_settings_are_on():
    block(bucket("claims-uploads"), "claims-uploads")

    outcome = run_one("aws.s3.public_access_blocked")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"not_blocked": {}, "checked": ["claims-uploads"]}


def test_s3_public_access_blocked_fails_naming_the_bucket_and_the_settings_left_off():
    block(bucket("claims-uploads"), "claims-uploads")
    block(bucket("claims-site"), "claims-site", BlockPublicPolicy=False)
    bucket("claims-open")  # no configuration at all

    outcome = run_one("aws.s3.public_access_blocked")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["not_blocked"] == {
        "claims-open": [
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        ],
        "claims-site": ["BlockPublicPolicy"],
    }


# --- SNS -----------------------------------------------------------------------------------


def test_sns_encrypted_passes_when_every_tagged_topic_has_a_kms_key():
    client("sns").create_topic(
        Name="claims-events", Attributes={"KmsMasterKeyId": "alias/aws/sns"}, Tags=PROJECT
    )

    outcome = run_one("aws.sns.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["claims-events"]


def test_sns_encrypted_fails_naming_the_topic_without_a_kms_key():
    sns = client("sns")
    sns.create_topic(Name="claims-events", Attributes={"KmsMasterKeyId": "k"}, Tags=PROJECT)
    sns.create_topic(Name="claims-plain", Tags=PROJECT)

    outcome = run_one("aws.sns.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unencrypted"] == ["claims-plain"]


# --- DynamoDB ------------------------------------------------------------------------------


def test_dynamodb_pitr_passes_when_every_tagged_table_has_it_on():
    table("claims").update_continuous_backups(
        TableName="claims",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )

    assert run_one("aws.dynamodb.pitr").result == Result.PASS


def test_dynamodb_pitr_fails_naming_the_table_without_it():
    table("claims").update_continuous_backups(
        TableName="claims",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    table("sessions")

    outcome = run_one("aws.dynamodb.pitr")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_pitr"] == ["sessions"]


def test_dynamodb_gsi_limit_passes_with_two_indexes():
    table("claims", gsis=2)

    outcome = run_one("aws.dynamodb.gsi_limit")

    assert outcome.result == Result.PASS, outcome


def test_dynamodb_gsi_limit_fails_naming_the_table_with_three_indexes():
    table("claims", gsis=2)
    table("search", gsis=3)

    outcome = run_one("aws.dynamodb.gsi_limit")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["over_limit"] == {"search": 3}
    assert "more than 2 GSIs" in outcome.explanation


def test_dynamodb_encrypted_passes_with_the_default_aws_owned_key():
    table("claims")  # no SSESpecification: DynamoDB still encrypts, with an AWS-owned key

    outcome = run_one("aws.dynamodb.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["keys"] == {"claims": "AWS_OWNED"}


def test_dynamodb_encrypted_with_require_kms_fails_naming_the_table_on_an_aws_owned_key():
    table("claims", SSESpecification={"Enabled": True, "SSEType": "KMS"})
    table("sessions")

    outcome = run_one("aws.dynamodb.encrypted", params={"require_kms": True})

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_kms"] == ["sessions"]
    assert outcome.observed["keys"] == {"claims": "KMS", "sessions": "AWS_OWNED"}


# --- CloudWatch Logs -----------------------------------------------------------------------


def test_log_retention_passes_at_180_days():
    log_group("/aws/lambda/claims", 180)

    outcome = run_one("aws.logs.retention")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["/aws/lambda/claims"]


def test_log_retention_fails_naming_short_and_never_expiring_groups():
    log_group("/aws/lambda/claims", 180)
    log_group("/aws/lambda/short", 30)
    log_group("/aws/lambda/forever", None)

    outcome = run_one("aws.logs.retention")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["out_of_range"] == {
        "/aws/lambda/short": 30,
        "/aws/lambda/forever": "never expires",
    }


# --- subnets -------------------------------------------------------------------------------


def test_subnets_pass_when_they_span_three_zones():
    subnets("a", "b", "c")

    outcome = run_one("aws.subnets.three_azs")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["zones"] == [f"{REGION}a", f"{REGION}b", f"{REGION}c"]


def test_subnets_fail_when_they_span_two_zones():
    subnets("a", "b", "b")

    outcome = run_one("aws.subnets.three_azs")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["zones"] == [f"{REGION}a", f"{REGION}b"]
    assert len(outcome.observed["subnets"]) == 3
