"""The RDS checks on Aurora clusters, alone and beside standalone instances, against moto.

An Aurora cluster is judged as a whole (“cluster <id>”) for encryption, zones and readers,
since its instances report ``MultiAZ: false`` and no read replicas whatever the cluster
spans; only ``aws.rds.not_public`` still judges its instances one by one.

moto 5.2.5 quirks met here: a cluster's ``MultiAZ`` is derived (true when its instances
sit in two zones, or when it has or is a replica cluster), so a cluster whose instances
share one zone reports ``MultiAZ: true`` only when it has a replica cluster; the first
instance added to a cluster becomes its writer; identifiers come back lower-cased; and an
instance's ``PubliclyAccessible`` is left out unless it is given at creation.
"""

from __future__ import annotations

import pytest

from reviews.checks.collectors.base import Result
from tests.aws import OTHER, PROJECT, client, db, replica, run_one

pytestmark = pytest.mark.usefixtures("aws")

NOTHING_TAGGED = "No RDS instances or clusters with the service's Project tag."


def aurora(
    identifier: str,
    *zones: str,
    tags: list[dict[str, str]] = PROJECT,
    instance_tags: list[dict[str, str]] = PROJECT,
    encrypted: bool = True,
    public: tuple[bool, ...] = (),
) -> str:
    """An Aurora PostgreSQL cluster with one instance per zone letter (the first is the
    writer), named ``<identifier>-1``, ``-2`` …; returns the cluster's ARN."""
    rds = client("rds")
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        StorageEncrypted=encrypted,
        Tags=tags,
    )["DBCluster"]
    for n, zone in enumerate(zones, start=1):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{n}",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier=identifier,
            AvailabilityZone=f"eu-west-2{zone}",
            PubliclyAccessible=public[n - 1] if n <= len(public) else False,
            Tags=instance_tags,
        )
    return str(cluster["DBClusterArn"])


# --- what moto reports, which is why the checks judge clusters as a whole -------------------


def test_moto_reports_aurora_instances_as_single_az_without_replicas_like_aws():
    aurora("claims-aurora", "a", "b")

    instances = client("rds").describe_db_instances()["DBInstances"]
    [cluster] = client("rds").describe_db_clusters()["DBClusters"]

    assert {(d["DBClusterIdentifier"], d["MultiAZ"]) for d in instances} == {
        ("claims-aurora", False)
    }
    assert [d["ReadReplicaDBInstanceIdentifiers"] for d in instances] == [[], []]
    assert [m["IsClusterWriter"] for m in cluster["DBClusterMembers"]] == [True, False]


# --- aws.rds.encrypted ---------------------------------------------------------------------


def test_rds_encrypted_passes_an_encrypted_cluster_without_judging_its_instances():
    aurora("claims-aurora", "a", "b")

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"unencrypted": [], "checked": ["cluster claims-aurora"]}
    assert outcome.explanation == "All 1 RDS clusters checked."


def test_rds_encrypted_fails_naming_the_unencrypted_cluster():
    aurora("claims-aurora", "a", "b", encrypted=False)
    aurora("reports-aurora", "a")

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "unencrypted": ["cluster claims-aurora"],
        "checked": ["cluster claims-aurora", "cluster reports-aurora"],
    }
    assert outcome.explanation == ("1 of 2 RDS clusters are not encrypted: cluster claims-aurora.")


def test_rds_encrypted_judges_standalone_instances_and_clusters_together():
    db("claims-db", StorageEncrypted=False)
    db("audit-db", StorageEncrypted=True)
    aurora("claims-aurora", "a", encrypted=False)
    aurora("reports-aurora", "a", "b")
    aurora("theirs-aurora", "a", tags=OTHER, instance_tags=OTHER, encrypted=False)

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "unencrypted": ["claims-db", "cluster claims-aurora"],
        "checked": ["audit-db", "claims-db", "cluster claims-aurora", "cluster reports-aurora"],
    }
    assert outcome.explanation == (
        "2 of 4 RDS instances and clusters are not encrypted: claims-db, cluster claims-aurora."
    )


def test_rds_encrypted_judges_the_cluster_of_a_tagged_instance_when_the_cluster_is_untagged():
    aurora("claims-aurora", "a", tags=[], encrypted=False)

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unencrypted"] == ["cluster claims-aurora"]


def test_rds_encrypted_judges_a_tagged_cluster_whose_instances_are_untagged():
    aurora("claims-aurora", "a", "b", instance_tags=[], encrypted=False)

    outcome = run_one("aws.rds.encrypted")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "unencrypted": ["cluster claims-aurora"],
        "checked": ["cluster claims-aurora"],
    }


def test_rds_encrypted_leaves_standalone_instances_as_they_were():
    db("db-1", StorageEncrypted=True)
    db("db-2", StorageEncrypted=False)

    outcome = run_one("aws.rds.encrypted")

    assert outcome.observed == {"unencrypted": ["db-2"], "checked": ["db-1", "db-2"]}
    assert outcome.explanation == "1 of 2 RDS instances are not encrypted: db-2."


@pytest.mark.parametrize(
    "key", ["aws.rds.encrypted", "aws.rds.multi_az", "aws.rds.read_replica", "aws.rds.not_public"]
)
def test_the_rds_checks_ignore_another_projects_cluster(key):
    aurora("theirs-aurora", "a", tags=OTHER, instance_tags=OTHER, encrypted=False)

    outcome = run_one(key)

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert "with the service's Project tag" in outcome.explanation


def test_the_rds_checks_say_instances_or_clusters_when_nothing_is_tagged():
    assert run_one("aws.rds.encrypted").explanation == NOTHING_TAGGED
    assert run_one("aws.rds.not_public").explanation == (
        "No RDS instances with the service's Project tag."
    )
    assert run_one("aws.rds.multi_az").explanation == (
        "No RDS primary instances or clusters with the service's Project tag."
    )


# --- aws.rds.multi_az ----------------------------------------------------------------------


def test_rds_multi_az_passes_a_cluster_whose_instances_span_two_zones():
    aurora("claims-aurora", "a", "b")

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"single_az": [], "checked": ["cluster claims-aurora"]}


def test_rds_multi_az_fails_naming_a_cluster_whose_instances_share_one_zone():
    aurora("claims-aurora", "a", "a")
    aurora("empty-aurora")  # no instances yet: nothing to fail over to
    aurora("reports-aurora", "b", "c")

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "single_az": ["cluster claims-aurora", "cluster empty-aurora"],
        "checked": ["cluster claims-aurora", "cluster empty-aurora", "cluster reports-aurora"],
    }
    assert outcome.explanation == (
        "2 of 3 RDS clusters are single-AZ: cluster claims-aurora, cluster empty-aurora."
    )


def test_rds_multi_az_counts_the_zones_of_a_tagged_clusters_untagged_instances():
    aurora("claims-aurora", "a", "b", instance_tags=[])

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["checked"] == ["cluster claims-aurora"]


def test_rds_multi_az_passes_a_cluster_that_reports_multi_az_itself():
    source = aurora("claims-aurora", "a", "a")
    # moto derives a cluster's MultiAZ; a replica cluster is what turns it on here.
    client("rds").create_db_cluster(
        DBClusterIdentifier="claims-aurora-copy",
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        ReplicationSourceIdentifier=source,
        Tags=OTHER,
    )
    [cluster] = client("rds").describe_db_clusters(DBClusterIdentifier="claims-aurora")[
        "DBClusters"
    ]
    assert cluster["MultiAZ"] is True

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"single_az": [], "checked": ["cluster claims-aurora"]}


def test_rds_multi_az_judges_standalone_primaries_and_clusters_together():
    db("claims-db", MultiAZ=True)
    replica("claims-db-replica", "claims-db")  # a replica: not judged
    db("audit-db", MultiAZ=False)
    aurora("claims-aurora", "a", "b")
    aurora("reports-aurora", "c")

    outcome = run_one("aws.rds.multi_az")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "single_az": ["audit-db", "cluster reports-aurora"],
        "checked": ["audit-db", "claims-db", "cluster claims-aurora", "cluster reports-aurora"],
    }
    assert outcome.explanation == (
        "2 of 4 RDS primary instances and clusters are single-AZ: audit-db, cluster reports-aurora."
    )


def test_rds_multi_az_leaves_standalone_instances_as_they_were():
    db("db-1", MultiAZ=True)
    db("db-2", MultiAZ=False)

    outcome = run_one("aws.rds.multi_az")

    assert outcome.observed == {"single_az": ["db-2"], "checked": ["db-1", "db-2"]}
    assert outcome.explanation == "1 of 2 RDS primary instances are single-AZ: db-2."


# --- aws.rds.read_replica ------------------------------------------------------------------


def test_rds_read_replica_passes_a_cluster_with_a_reader():
    aurora("claims-aurora", "a", "b")

    outcome = run_one("aws.rds.read_replica")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"without_replica": [], "checked": ["cluster claims-aurora"]}


def test_rds_read_replica_fails_naming_a_cluster_with_only_a_writer():
    aurora("claims-aurora", "a")
    aurora("empty-aurora")
    aurora("reports-aurora", "a", "a")  # a reader in the same zone still counts here

    outcome = run_one("aws.rds.read_replica")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "without_replica": ["cluster claims-aurora", "cluster empty-aurora"],
        "checked": ["cluster claims-aurora", "cluster empty-aurora", "cluster reports-aurora"],
    }
    assert outcome.explanation == (
        "2 of 3 RDS clusters have no replica: cluster claims-aurora, cluster empty-aurora."
    )


def test_rds_read_replica_judges_standalone_primaries_and_clusters_together():
    db("claims-db")
    replica("claims-db-replica", "claims-db")
    db("audit-db")
    aurora("claims-aurora", "a", "b")
    aurora("reports-aurora", "a")

    outcome = run_one("aws.rds.read_replica")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "without_replica": ["audit-db", "cluster reports-aurora"],
        "checked": ["audit-db", "claims-db", "cluster claims-aurora", "cluster reports-aurora"],
    }


def test_rds_read_replica_leaves_standalone_instances_as_they_were():
    db("db-1")
    replica("db-1-replica", "db-1")
    db("db-2")

    outcome = run_one("aws.rds.read_replica")

    assert outcome.observed == {"without_replica": ["db-2"], "checked": ["db-1", "db-2"]}
    assert outcome.explanation == "1 of 2 RDS primary instances have no replica: db-2."


# --- aws.rds.not_public --------------------------------------------------------------------


def test_rds_not_public_passes_when_no_cluster_instance_is_public():
    aurora("claims-aurora", "a", "b")

    outcome = run_one("aws.rds.not_public")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"public": [], "checked": ["claims-aurora-1", "claims-aurora-2"]}


def test_rds_not_public_fails_naming_the_public_cluster_instance_beside_standalone_ones():
    db("claims-db", PubliclyAccessible=True)
    db("audit-db")
    aurora("claims-aurora", "a", "b", public=(False, True))

    outcome = run_one("aws.rds.not_public")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "public": ["claims-aurora-2", "claims-db"],
        "checked": ["audit-db", "claims-aurora-1", "claims-aurora-2", "claims-db"],
    }
    assert outcome.explanation == (
        "2 of 4 RDS instances are publicly accessible: claims-aurora-2, claims-db."
    )


def test_rds_not_public_judges_the_untagged_instances_of_a_tagged_cluster():
    aurora("claims-aurora", "a", "b", instance_tags=[], public=(True, False))

    outcome = run_one("aws.rds.not_public")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "public": ["claims-aurora-1"],
        "checked": ["claims-aurora-1", "claims-aurora-2"],
    }


def test_rds_not_public_judges_every_instance_of_the_cluster_of_a_tagged_instance():
    aurora("claims-aurora", "a", tags=[], public=(False,))
    client("rds").create_db_instance(
        DBInstanceIdentifier="claims-aurora-untagged",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        DBClusterIdentifier="claims-aurora",
        AvailabilityZone="eu-west-2b",
        PubliclyAccessible=True,
    )

    outcome = run_one("aws.rds.not_public")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "public": ["claims-aurora-untagged"],
        "checked": ["claims-aurora-1", "claims-aurora-untagged"],
    }
