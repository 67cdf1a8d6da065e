"""The AWS data-protection checks added beside the RDS/S3/SNS/DynamoDB ones: OpenSearch,
MSK and Redshift encryption at rest, AWS Backup plans and recent recovery points.

Everything runs against moto's standalone server through ``run_one``. moto 5.2.5 lacks
Backup's selections and recovery points, so those two calls (and only those) are answered
by a ``GapProxy`` on ``AWS_ENDPOINT_URL_BACKUP``; plans and rules still come from moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest

from reviews.checks.collectors.base import Result
from tests.aws import OTHER, PROJECT, TAG, bucket, client, db, replica, run_one, table
from tests.aws_gaps import GapProxy, ProxyRequest

pytestmark = pytest.mark.usefixtures("aws")

PROJECT_DICT = {"Project": TAG}
OTHER_DICT = {"Project": "someone-else"}


# --- OpenSearch ----------------------------------------------------------------------------


def domain(name: str, at_rest: bool, node_to_node: bool = True, tags: Any = PROJECT) -> None:
    client("opensearch").create_domain(
        DomainName=name,
        EncryptionAtRestOptions={"Enabled": at_rest},
        NodeToNodeEncryptionOptions={"Enabled": node_to_node},
        TagList=tags,
    )


def test_opensearch_encrypted_passes_and_reports_node_to_node_encryption():
    domain("search", at_rest=True, node_to_node=False)
    domain("theirs", at_rest=False, tags=OTHER)  # another project's: ignored

    outcome = run_one("aws.opensearch.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "unencrypted": {},
        "checked": ["search"],
        "node_to_node": {"search": False},
    }
    assert outcome.expected == "EncryptionAtRestOptions enabled on every tagged OpenSearch domain"


def test_opensearch_encrypted_fails_naming_the_domain_not_encrypted_at_rest():
    domain("search", at_rest=True)
    domain("logs", at_rest=False)

    outcome = run_one("aws.opensearch.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unencrypted"] == {"logs": ["at rest"]}
    assert outcome.explanation == "1 of 2 OpenSearch domains are not encrypted at rest: logs."


def test_opensearch_encrypted_with_require_node_to_node_fails_naming_the_domain_without_it():
    domain("search", at_rest=True, node_to_node=True)
    domain("logs", at_rest=True, node_to_node=False)

    outcome = run_one("aws.opensearch.encrypted", params={"require_node_to_node": True})

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unencrypted"] == {"logs": ["node to node"]}
    assert outcome.explanation == (
        "1 of 2 OpenSearch domains lack encryption at rest or node to node: logs."
    )


def test_opensearch_encrypted_reads_domains_past_the_five_describe_domains_takes_at_once():
    for n in range(5):
        domain(f"search-{n}", at_rest=True)
    domain("search-z", at_rest=False)  # the sixth: in the second describe_domains call

    outcome = run_one("aws.opensearch.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert len(outcome.observed["checked"]) == 6
    assert outcome.observed["unencrypted"] == {"search-z": ["at rest"]}


def test_opensearch_encrypted_is_not_applicable_with_only_untagged_domains():
    domain("untagged", at_rest=False, tags=[])

    outcome = run_one("aws.opensearch.encrypted")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No OpenSearch domains with the service's Project tag."


# --- MSK -----------------------------------------------------------------------------------

BROKERS = {"InstanceType": "kafka.m5.large", "ClientSubnets": ["subnet-1", "subnet-2"]}


def msk(name: str, tags: dict[str, str] = PROJECT_DICT, **encryption: Any) -> None:
    # create_cluster, not create_cluster_v2: moto's v2 drops the EncryptionInfo it is given.
    settings: dict[str, Any] = {"EncryptionInfo": encryption} if encryption else {}
    client("kafka").create_cluster(
        ClusterName=name,
        BrokerNodeGroupInfo=BROKERS,
        KafkaVersion="3.6.0",
        NumberOfBrokerNodes=2,
        Tags=tags,
        **settings,
    )


def test_msk_encrypted_passes_and_reports_the_key_and_the_traffic_settings():
    key = "arn:aws:kms:eu-west-2:123456789012:key/claims"
    msk("events")  # nothing given: AWS's defaults, AWS-managed key and TLS only
    msk(
        "audit",
        EncryptionAtRest={"DataVolumeKMSKeyId": key},
        EncryptionInTransit={"ClientBroker": "TLS_PLAINTEXT", "InCluster": True},
    )
    client("kafka").create_cluster_v2(
        ClusterName="stream", Serverless={"VpcConfigs": [{"SubnetIds": ["s"]}]}, Tags=PROJECT_DICT
    )
    msk("theirs", tags=OTHER_DICT)

    outcome = run_one("aws.msk.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["audit", "events", "stream"]
    assert outcome.observed["keys"] == {
        "events": "AWS_MANAGED",
        "audit": key,
        "stream": "AWS_MANAGED",
    }
    assert outcome.observed["in_transit"]["audit"] == {
        "client_broker": "TLS_PLAINTEXT",
        "in_cluster": True,
    }
    assert outcome.observed["in_transit"]["events"] == {"client_broker": "TLS", "in_cluster": True}


def test_msk_encrypted_with_require_tls_fails_naming_the_clusters_allowing_plaintext():
    msk("events", EncryptionInTransit={"ClientBroker": "TLS", "InCluster": True})
    msk("audit", EncryptionInTransit={"ClientBroker": "TLS_PLAINTEXT", "InCluster": True})
    msk("metrics", EncryptionInTransit={"ClientBroker": "TLS", "InCluster": False})

    outcome = run_one("aws.msk.encrypted", params={"require_tls": True})

    assert outcome.result == Result.FAIL, outcome
    assert sorted(outcome.observed["plaintext_allowed"]) == ["audit", "metrics"]
    assert outcome.explanation == ("2 of 3 MSK clusters allow unencrypted traffic: audit, metrics.")


def test_msk_encrypted_is_not_applicable_with_only_another_projects_clusters():
    msk("theirs", tags=OTHER_DICT)

    outcome = run_one("aws.msk.encrypted")

    assert outcome.result == Result.NOT_APPLICABLE, outcome


# --- Redshift ------------------------------------------------------------------------------


def warehouse(name: str, encrypted: bool, tags: Any = PROJECT) -> None:
    client("redshift").create_cluster(
        ClusterIdentifier=name,
        NodeType="dc2.large",
        MasterUsername="admin",
        MasterUserPassword="Not-a-real-passw0rd",
        Encrypted=encrypted,
        Tags=tags,
    )


def test_redshift_encrypted_passes_when_every_tagged_cluster_is_encrypted():
    warehouse("claims-dw", encrypted=True)
    warehouse("theirs-dw", encrypted=False, tags=OTHER)

    outcome = run_one("aws.redshift.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"unencrypted": [], "checked": ["claims-dw"]}


def test_redshift_encrypted_fails_naming_the_unencrypted_cluster():
    warehouse("claims-dw", encrypted=True)
    warehouse("claims-raw", encrypted=False)

    outcome = run_one("aws.redshift.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unencrypted"] == ["claims-raw"]
    assert outcome.explanation == "1 of 2 Redshift clusters are not encrypted: claims-raw."


# --- AWS Backup: the proxy for what moto lacks ------------------------------------------


class BackupGaps:
    """Backup selections and recovery points, served one item a page so that every listing
    with more than one item goes through pagination."""

    def __init__(self, proxy: GapProxy) -> None:
        self.proxy = proxy
        self.selections: dict[str, dict[str, dict[str, Any]]] = {}
        self.points: dict[str, list[dict[str, Any]]] = {}
        plan = r"/backup/plans/(?P<plan>[^/]+)/selections/"
        proxy.answer("GET", plan, self._list_selections)
        proxy.answer("GET", plan + r"(?P<selection>[^/]+)", self._get_selection)
        proxy.answer("GET", r"/resources/(?P<arn>[^/]+)/recovery-points/", self._list_points)

    def select(self, plan_id: str, **selection: Any) -> None:
        chosen = self.selections.setdefault(plan_id, {})
        selection_id = f"sel-{len(chosen)}"
        chosen[selection_id] = {"SelectionName": selection_id, "IamRoleArn": ROLE, **selection}

    def point(self, arn: str, hours_ago: float, status: str = "COMPLETED") -> None:
        created = datetime.now(UTC) - timedelta(hours=hours_ago)
        self.points.setdefault(arn, []).append(
            {
                "RecoveryPointArn": f"{VAULT}:recovery-point:{len(self.points)}",
                "CreationDate": created.timestamp(),
                "Status": status,
            }
        )

    @staticmethod
    def _page(items: list[Any], request: ProxyRequest, key: str) -> dict[str, Any]:
        start = int(request.query.get("nextToken", ["0"])[0])
        page: dict[str, Any] = {key: items[start : start + 1]}
        if start + 1 < len(items):
            page["NextToken"] = str(start + 1)
        return page

    def _list_selections(self, request: ProxyRequest) -> dict[str, Any]:
        plan_id = request.groups["plan"]
        items = [
            {"SelectionId": sid, "SelectionName": sid, "BackupPlanId": plan_id, "IamRoleArn": ROLE}
            for sid in self.selections.get(plan_id, {})
        ]
        return self._page(items, request, "BackupSelectionsList")

    def _get_selection(self, request: ProxyRequest) -> dict[str, Any]:
        plan_id, selection_id = request.groups["plan"], request.groups["selection"]
        return {
            "BackupPlanId": plan_id,
            "SelectionId": selection_id,
            "BackupSelection": self.selections[plan_id][selection_id],
        }

    def _list_points(self, request: ProxyRequest) -> dict[str, Any]:
        # botocore sends the ARN percent-encoded as one path segment (":" and "/" too).
        arn = unquote(request.groups["arn"])
        return self._page(self.points.get(arn, []), request, "RecoveryPoints")


ROLE = "arn:aws:iam::123456789012:role/backup"
VAULT = "arn:aws:backup:eu-west-2:123456789012"


@pytest.fixture
def gaps(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackupGaps]:
    with GapProxy.running(moto_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BACKUP", proxy.url)
        yield BackupGaps(proxy)
        assert not proxy.errors


def plan(name: str, delete_after_days: int = 35, schedule: str = "cron(0 5 ? * * *)") -> str:
    rule = {
        "RuleName": "daily",
        "TargetBackupVaultName": "vault",
        "ScheduleExpression": schedule,
        "Lifecycle": {"DeleteAfterDays": delete_after_days},
    }
    created = client("backup").create_backup_plan(
        BackupPlan={"BackupPlanName": name, "Rules": [rule]}
    )
    return str(created["BackupPlanId"])


def by_project(tag: str = TAG) -> list[dict[str, str]]:
    return [{"ConditionType": "STRINGEQUALS", "ConditionKey": "Project", "ConditionValue": tag}]


def arn_of_db(identifier: str) -> str:
    [instance] = client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    return str(instance["DBInstanceArn"])


def arn_of_table(name: str) -> str:
    return str(client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"])


# --- AWS Backup plans ----------------------------------------------------------------------


def test_backup_plans_pass_when_a_plan_selects_the_project_tag_and_report_its_rules(gaps):
    db("claims-db")
    table("claims")
    plan_id = plan("daily", delete_after_days=35)
    gaps.select(plan_id, ListOfTags=by_project())

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "unprotected": [],
        "checked": ["claims (DynamoDB table)", "claims-db (RDS instance)"],
        "plans": {
            "daily": {
                "rules": [
                    {"rule": "daily", "schedule": "cron(0 5 ? * * *)", "delete_after_days": 35}
                ],
                "selects": ["claims (DynamoDB table)", "claims-db (RDS instance)"],
            }
        },
    }


def test_backup_plans_fail_naming_every_resource_when_there_is_no_plan(gaps):
    db("claims-db")
    table("claims")

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unprotected"] == [
        "claims (DynamoDB table)",
        "claims-db (RDS instance)",
    ]
    assert outcome.observed["plans"] == {}
    assert outcome.explanation == (
        "2 of 2 RDS, DynamoDB and EFS resources are in no backup plan: "
        "claims (DynamoDB table), claims-db (RDS instance)."
    )


def test_backup_plans_fail_when_the_only_plan_selects_another_projects_tag(gaps):
    table("claims")
    table("theirs", tags=OTHER)
    gaps.select(plan("theirs"), ListOfTags=by_project("someone-else"))

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unprotected"] == ["claims (DynamoDB table)"]
    assert outcome.observed["plans"] == {}


def test_backup_plans_accept_a_selection_by_conditions_or_by_listing_the_arns(gaps):
    db("claims-db")
    table("claims")
    gaps.select(
        plan("by-conditions"),
        Conditions={
            "StringEquals": [{"ConditionKey": "aws:ResourceTag/Project", "ConditionValue": TAG}]
        },
        Resources=["arn:aws:rds:*"],
    )
    gaps.select(plan("by-arn"), Resources=[arn_of_table("claims")])

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["plans"]["by-conditions"]["selects"] == ["claims-db (RDS instance)"]
    assert outcome.observed["plans"]["by-arn"]["selects"] == ["claims (DynamoDB table)"]


def test_backup_plans_honour_not_resources_and_conditions_that_all_must_hold(gaps):
    table("claims", tags=[*PROJECT, {"Key": "backup", "Value": "daily"}])
    table("sessions", tags=[*PROJECT, {"Key": "backup", "Value": "daily"}])
    table("cache")  # no backup tag: the condition leaves it out
    gaps.select(
        plan("tables"),
        Resources=["arn:aws:dynamodb:*:*:table/*"],
        NotResources=[arn_of_table("sessions")],
        Conditions={
            "StringEquals": [{"ConditionKey": "aws:ResourceTag/Project", "ConditionValue": TAG}],
            "StringLike": [{"ConditionKey": "aws:ResourceTag/backup", "ConditionValue": "dai*"}],
        },
    )

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unprotected"] == [
        "cache (DynamoDB table)",
        "sessions (DynamoDB table)",
    ]
    assert outcome.observed["plans"]["tables"]["selects"] == ["claims (DynamoDB table)"]


def test_backup_plans_read_every_page_of_selections(gaps):
    table("claims")
    plan_id = plan("daily")
    gaps.select(plan_id, Resources=["arn:aws:s3:::nothing-here"])
    gaps.select(plan_id, ListOfTags=by_project())  # on the second page

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.PASS, outcome
    listed = [p for m, p in gaps.proxy.requests if p == f"/backup/plans/{plan_id}/selections/"]
    assert len(listed) == 2


def test_backup_plans_leave_out_read_replicas_and_other_kinds_of_resources(gaps):
    db("claims-db")
    replica("claims-db-replica", "claims-db")
    bucket("claims-uploads")  # S3 is not among the kinds this check covers
    gaps.select(plan("daily"), Resources=[arn_of_db("claims-db")])

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["claims-db (RDS instance)"]


def test_backup_plans_cover_efs_file_systems_and_rds_clusters(gaps):
    efs = client("efs").create_file_system(CreationToken="claims-files", Tags=PROJECT)
    client("rds").create_db_cluster(
        DBClusterIdentifier="claims-aurora",
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        Tags=PROJECT,
    )
    gaps.select(plan("daily"), Resources=[efs["FileSystemArn"]])

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["checked"] == [
        "claims-aurora (RDS cluster)",
        f"{efs['FileSystemId']} (EFS file system)",
    ]
    assert outcome.observed["unprotected"] == ["claims-aurora (RDS cluster)"]


def test_backup_plans_are_not_applicable_without_tagged_resources_and_ask_backup_nothing(gaps):
    bucket("claims-uploads")
    table("theirs", tags=OTHER)

    outcome = run_one("aws.backup.plans")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == (
        "No RDS, DynamoDB and EFS resources with the service's Project tag."
    )
    assert gaps.proxy.requests == []


# --- AWS Backup recovery points ------------------------------------------------------------


def test_recovery_points_pass_with_a_recent_completed_point_for_every_resource(gaps):
    db("claims-db")
    table("claims")
    gaps.point(arn_of_db("claims-db"), hours_ago=3)
    gaps.point(arn_of_table("claims"), hours_ago=25)

    outcome = run_one("aws.backup.recovery_points")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["stale"] == {}
    assert set(outcome.observed["newest"]) == {
        "claims (DynamoDB table)",
        "claims-db (RDS instance)",
    }
    # The ARN travels percent-encoded as one path segment and arrives intact.
    paths = [p for m, p in gaps.proxy.requests if p.startswith("/resources/")]
    assert f"/resources/{arn_of_table('claims').replace(':', '%3A').replace('/', '%2F')}" in [
        p.removesuffix("/recovery-points/") for p in paths
    ]


def test_recovery_points_fail_naming_old_missing_and_unfinished_backups(gaps):
    table("claims")
    table("sessions")
    table("audit")
    table("cache")
    gaps.point(arn_of_table("claims"), hours_ago=2)
    gaps.point(arn_of_table("sessions"), hours_ago=30)
    gaps.point(arn_of_table("audit"), hours_ago=1, status="PARTIAL")
    # cache: never backed up

    outcome = run_one("aws.backup.recovery_points")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["stale"] == {
        "audit (DynamoDB table)": "no completed recovery point",
        "cache (DynamoDB table)": "no completed recovery point",
        "sessions (DynamoDB table)": "newest is 30 hours old",
    }
    assert outcome.observed["newest"]["cache (DynamoDB table)"] is None
    assert outcome.explanation.startswith(
        "3 of 4 RDS, DynamoDB and EFS resources have no completed backup in the last 26 hours: "
    )


def test_recovery_points_read_every_page_for_the_newest(gaps):
    table("claims")
    gaps.point(arn_of_table("claims"), hours_ago=72)
    gaps.point(arn_of_table("claims"), hours_ago=48)
    gaps.point(arn_of_table("claims"), hours_ago=1)  # third page

    outcome = run_one("aws.backup.recovery_points")

    assert outcome.result == Result.PASS, outcome


def test_recovery_points_max_age_hours_tightens_the_window(gaps):
    table("claims")
    gaps.point(arn_of_table("claims"), hours_ago=10)

    outcome = run_one("aws.backup.recovery_points", params={"max_age_hours": 6})

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["stale"] == {"claims (DynamoDB table)": "newest is 10 hours old"}


def test_recovery_points_are_not_applicable_without_tagged_resources(gaps):
    db("theirs-db", tags=OTHER)

    outcome = run_one("aws.backup.recovery_points")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert gaps.proxy.requests == []


def test_recovery_points_are_an_error_where_backup_cannot_answer():
    # Without the proxy, moto's server does not know the call: evidence unavailable, not a pass.
    table("claims")

    outcome = run_one("aws.backup.recovery_points")

    assert outcome.result == Result.ERROR, outcome
    assert "ListRecoveryPointsByResource" in outcome.explanation
