"""The AWS exposure, availability and tagging checks, against moto's standalone server.

API Gateway authorizers, public and VPC-less Lambda functions, OpenSearch outside a VPC,
Auto Scaling zones and instances, and the Project tag on every resource of an account.

moto 5.2.5 lacks Lambda's ListFunctionUrlConfigs (404): the ``lambda_urls`` fixture puts a
``GapProxy`` in front of moto for Lambda that answers it from moto's own
GetFunctionUrlConfig (one URL per function, which is all moto keeps) and forwards every
other Lambda call to moto.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from reviews.checks.collectors.aws.exposure import _anyone, _restricting
from reviews.checks.collectors.base import Result, Target
from reviews.checks.collectors.runner import Job, run_jobs
from tests.aws import (
    MOTO_ACCOUNT,
    OTHER,
    PROJECT,
    REGION,
    TAG,
    bucket,
    client,
    db,
    log_group,
    run_one,
    subnets,
    table,
)
from tests.aws_gaps import GapProxy, ProxyRequest

pytestmark = pytest.mark.usefixtures("aws")


# --- API Gateway -----------------------------------------------------------------------------


def rest_api(name: str, methods: dict[str, dict[str, str]], tags: dict[str, str] | None = None):
    """A REST API with ``{path: {verb: authorizationType}}``; paths one level deep."""
    apigateway = client("apigateway")
    api = apigateway.create_rest_api(name=name, tags={"Project": TAG} if tags is None else tags)
    root = api["rootResourceId"]
    for path, verbs in methods.items():
        resource = root
        if path != "/":
            resource = apigateway.create_resource(
                restApiId=api["id"], parentId=root, pathPart=path.strip("/")
            )["id"]
        for verb, authorization in verbs.items():
            apigateway.put_method(
                restApiId=api["id"],
                resourceId=resource,
                httpMethod=verb,
                authorizationType=authorization,
            )
    return api["id"]


def test_apigateway_authorizers_pass_when_every_method_needs_authorization():
    rest_api(
        "claims-api",
        {
            "/claims": {"GET": "AWS_IAM", "POST": "COGNITO_USER_POOLS", "OPTIONS": "NONE"},
            "/health": {"GET": "NONE"},  # public by default
            "/healthCheck": {"GET": "NONE"},
        },
    )
    rest_api("theirs-api", {"/open": {"GET": "NONE"}}, tags={"Project": "someone-else"})
    rest_api("untagged-api", {"/open": {"GET": "NONE"}}, tags={})

    outcome = run_one("aws.apigateway.authorizers")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"unauthorized": {}, "checked": ["claims-api"]}
    assert outcome.explanation == "All 1 REST APIs require authorization."


def test_apigateway_authorizers_fail_naming_each_open_method_and_its_api():
    rest_api("claims-api", {"/claims": {"GET": "NONE", "POST": "AWS_IAM"}, "/": {"ANY": "NONE"}})
    rest_api("admin-api", {"/users": {"DELETE": "NONE", "OPTIONS": "NONE"}})
    rest_api("safe-api", {"/x": {"GET": "CUSTOM"}})

    outcome = run_one("aws.apigateway.authorizers")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unauthorized"] == {
        "admin-api": ["DELETE /users"],
        "claims-api": ["ANY /", "GET /claims"],
    }
    assert outcome.observed["checked"] == ["admin-api", "claims-api", "safe-api"]
    assert outcome.explanation == (
        "2 of 3 REST APIs have methods anyone can call without authorization: "
        "DELETE /users on admin-api; ANY /, GET /claims on claims-api."
    )


def test_apigateway_public_paths_replace_the_default_allow_list():
    rest_api("claims-api", {"/status": {"GET": "NONE"}, "/health": {"GET": "NONE"}})

    outcome = run_one("aws.apigateway.authorizers", params={"public_paths": ["/status"]})

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["unauthorized"] == {"claims-api": ["GET /health"]}


def test_apigateway_apis_sharing_a_name_are_told_apart_by_their_id():
    first = rest_api("claims-api", {"/a": {"GET": "NONE"}})
    second = rest_api("claims-api", {"/b": {"GET": "NONE"}})

    outcome = run_one("aws.apigateway.authorizers")

    assert outcome.observed["unauthorized"] == {
        f"claims-api ({first})": ["GET /a"],
        f"claims-api ({second})": ["GET /b"],
    }


@pytest.mark.parametrize(
    ("public_paths", "message"),
    [
        ("/health", "aws.apigateway.authorizers: “public_paths” must be list."),
        (
            ["/health", 7],
            "aws.apigateway.authorizers: “public_paths” must be a list of paths like “/health”.",
        ),
        (
            ["health"],
            "aws.apigateway.authorizers: “public_paths” must be a list of paths like “/health”.",
        ),
    ],
)
def test_apigateway_public_paths_must_be_a_list_of_paths(public_paths, message):
    rest_api("claims-api", {"/claims": {"GET": "NONE"}})

    outcome = run_one("aws.apigateway.authorizers", params={"public_paths": public_paths})

    assert outcome.result == Result.ERROR, outcome
    assert outcome.explanation == message


def test_apigateway_authorizers_are_not_applicable_without_a_tagged_api():
    rest_api("untagged-api", {"/open": {"GET": "NONE"}}, tags={})

    outcome = run_one("aws.apigateway.authorizers")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No REST APIs with the service's Project tag."


# --- Lambda ----------------------------------------------------------------------------------


def function(name: str, tags: dict[str, str] | None = None, **settings: Any) -> str:
    iam = client("iam")
    try:
        role = iam.get_role(RoleName="lambda-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return 1\n")
    created = client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
        Tags={"Project": TAG} if tags is None else tags,
        **settings,
    )
    return str(created["FunctionArn"])


IN_VPC = {"VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}}


@pytest.fixture
def lambda_urls(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GapProxy]:
    """ListFunctionUrlConfigs answered from moto's GetFunctionUrlConfig."""

    def list_urls(request: ProxyRequest) -> Any:
        single = dataclasses.replace(
            request, target=f"/2021-10-31/functions/{request.groups['name']}/url"
        ).forward()
        if single.status == 404:
            return {"FunctionUrlConfigs": []}
        assert single.status in (200, 201), single  # moto answers 201 to a GET
        return {"FunctionUrlConfigs": [json.loads(single.body)]}

    with GapProxy.running(moto_url) as proxy:
        proxy.answer("GET", r"/2021-10-31/functions/(?P<name>[^/]+)/urls", list_urls)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)
        yield proxy
    assert not proxy.errors


def test_lambda_not_public_passes_without_policy_or_with_restricted_grants(lambda_urls):
    function("no-policy")
    function("from-api")
    function("org-only")
    function("iam-url")
    lambda_ = client("lambda")
    lambda_.add_permission(
        FunctionName="from-api",
        StatementId="apigateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{MOTO_ACCOUNT}:abc123/*",
    )
    lambda_.add_permission(
        FunctionName="org-only",
        StatementId="organization",
        Action="lambda:InvokeFunction",
        Principal="*",
        PrincipalOrgID="o-abcdefghij",
    )
    lambda_.create_function_url_config(FunctionName="iam-url", AuthType="AWS_IAM")
    function("theirs", tags={"Project": "someone-else"})
    lambda_.add_permission(
        FunctionName="theirs", StatementId="open", Action="lambda:*", Principal="*"
    )

    outcome = run_one("aws.lambda.not_public")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "public": {},
        "checked": ["from-api", "iam-url", "no-policy", "org-only"],
    }
    assert ("GET", f"/2021-10-31/functions/{lambda_arn('iam-url')}/urls") in [
        (method, path.replace("%3A", ":")) for method, path in lambda_urls.requests
    ]


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT}:function:{name}"


def test_lambda_not_public_fails_naming_open_grants_and_open_function_urls(lambda_urls):
    function("private")
    function("open-policy")
    function("open-url")
    lambda_ = client("lambda")
    lambda_.add_permission(
        FunctionName="open-policy",
        StatementId="anyone",
        Action="lambda:InvokeFunction",
        Principal="*",
    )
    url = lambda_.create_function_url_config(FunctionName="open-url", AuthType="NONE")

    outcome = run_one("aws.lambda.not_public")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["public"] == {
        "open-policy": ["policy statement anyone allows anyone"],
        "open-url": [f"function URL {url['FunctionUrl']} needs no authentication"],
    }
    assert outcome.explanation == (
        "2 of 3 Lambda functions can be invoked by anyone: open-policy, open-url."
    )


@pytest.mark.parametrize(
    ("principal", "anyone"),
    [
        ("*", True),
        ({"AWS": "*"}, True),
        ({"AWS": ["arn:aws:iam::111111111111:root", "*"]}, True),
        ({"AWS": "arn:aws:iam::111111111111:root"}, False),
        ({"Service": "apigateway.amazonaws.com"}, False),
    ],
)
def test_a_wildcard_principal_in_any_of_its_spellings_means_anyone(principal, anyone):
    assert _anyone(principal) is anyone


@pytest.mark.parametrize(
    ("condition", "restricting"),
    [
        ({"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:*"}}, True),
        ({"StringEquals": {"aws:sourceaccount": MOTO_ACCOUNT}}, True),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}, True),
        ({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}, False),
        ({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, False),
        ({}, False),
    ],
)
def test_only_conditions_naming_a_source_account_or_organization_restrict(condition, restricting):
    assert _restricting(condition) is restricting


def test_lambda_in_vpc_passes_when_every_tagged_function_has_subnets():
    function("in-vpc", **IN_VPC)
    function("theirs", tags={"Project": "someone-else"})

    outcome = run_one("aws.lambda.in_vpc")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"outside_vpc": [], "checked": ["in-vpc"]}


def test_lambda_in_vpc_fails_naming_functions_without_vpc_or_without_subnets():
    function("in-vpc", **IN_VPC)
    function("no-vpc")
    function("no-subnets", VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})

    outcome = run_one("aws.lambda.in_vpc")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["outside_vpc"] == ["no-subnets", "no-vpc"]
    assert outcome.explanation == ("2 of 3 Lambda functions run outside a VPC: no-subnets, no-vpc.")


# --- OpenSearch ------------------------------------------------------------------------------


def domain(name: str, tags: list[dict[str, str]] = PROJECT, vpc: bool = True) -> None:
    settings: dict[str, Any] = {}
    if vpc:
        settings["VPCOptions"] = {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    client("opensearch").create_domain(DomainName=name, TagList=tags, **settings)


def test_opensearch_in_vpc_passes_when_every_tagged_domain_is_in_a_vpc():
    domain("claims-search")
    domain("theirs-search", tags=OTHER, vpc=False)
    domain("untagged-search", tags=[], vpc=False)

    outcome = run_one("aws.opensearch.in_vpc")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"public": {}, "checked": ["claims-search"]}


def test_opensearch_in_vpc_fails_naming_the_domain_and_its_public_endpoint():
    domain("claims-search")
    domain("logs-search", vpc=False)

    outcome = run_one("aws.opensearch.in_vpc")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["public"] == {"logs-search": f"logs-search.{REGION}.es.amazonaws.com"}
    assert outcome.explanation == (
        "1 of 2 OpenSearch domains have a public endpoint, not a VPC: logs-search."
    )


def test_opensearch_in_vpc_reads_domains_five_at_a_time():
    # describe_domains takes at most five names; the sixth must not be lost.
    names = [f"search-{n}" for n in range(6)]
    for name in names:
        domain(name, vpc=name != "search-5")

    outcome = run_one("aws.opensearch.in_vpc")

    assert outcome.observed["checked"] == names
    assert list(outcome.observed["public"]) == ["search-5"]


def test_opensearch_in_vpc_is_not_applicable_when_no_domain_has_the_tag():
    domain("theirs-search", tags=OTHER, vpc=False)

    outcome = run_one("aws.opensearch.in_vpc")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No OpenSearch domains with the service's Project tag."


# --- Auto Scaling ----------------------------------------------------------------------------


def group(
    name: str,
    zones: str = "abc",
    *,
    size: int = 2,
    min_size: int | None = None,
    project: str = TAG,
) -> Any:
    """An Auto Scaling group over one subnet per zone; moto launches ``size`` instances."""
    ec2 = client("ec2")
    if not ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": ["web-template"]}]
    )["LaunchTemplates"]:
        ec2.create_launch_template(
            LaunchTemplateName="web-template",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
    tags = [{"ResourceType": "vpc", "Tags": PROJECT}]
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=tags)["Vpc"]["VpcId"]
    ids = [
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.1.{n}.0/24",
            AvailabilityZone=f"{REGION}{zone}",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": PROJECT}],
        )["Subnet"]["SubnetId"]
        for n, zone in enumerate(zones)
    ]
    autoscaling = client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": "web-template"},
        MinSize=size if min_size is None else min_size,
        MaxSize=6,
        DesiredCapacity=size,
        VPCZoneIdentifier=",".join(ids),
        Tags=[{"Key": "Project", "Value": project, "PropagateAtLaunch": True}],
    )
    return autoscaling


def test_autoscaling_passes_with_three_zones_and_two_instances_in_service():
    group("web", size=2)
    group("theirs", "a", size=1, project="someone-else")

    outcome = run_one("aws.autoscaling.three_azs")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"short": {}, "checked": ["web"]}


def test_autoscaling_fails_naming_the_group_in_two_zones():
    group("web")
    group("worker", "ab")

    outcome = run_one("aws.autoscaling.three_azs")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["short"] == {"worker": [f"2 zones ({REGION}a, {REGION}b)"]}
    assert outcome.explanation == (
        "1 of 2 Auto Scaling groups fall short of 3 zones and 2 instances: "
        f"worker: 2 zones ({REGION}a, {REGION}b)."
    )


def test_autoscaling_fails_a_group_with_one_instance_and_one_that_may_scale_in_to_one():
    group("single", size=1)
    group("shrinkable", size=2, min_size=1)

    outcome = run_one("aws.autoscaling.three_azs")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["short"] == {
        "shrinkable": ["minimum size 1"],
        "single": ["1 instance in service", "minimum size 1"],
    }


def test_autoscaling_counts_only_instances_in_service():
    autoscaling = group("web", size=3, min_size=1)
    instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])[
        "AutoScalingGroups"
    ][0]["Instances"]
    autoscaling.enter_standby(
        InstanceIds=[i["InstanceId"] for i in instances[:2]],
        AutoScalingGroupName="web",
        ShouldDecrementDesiredCapacity=True,  # or the group launches two replacements
    )

    outcome = run_one("aws.autoscaling.three_azs")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["short"] == {"web": ["1 instance in service", "minimum size 1"]}


def test_autoscaling_thresholds_are_parameters():
    group("worker", "ab", size=1)

    outcome = run_one("aws.autoscaling.three_azs", params={"min_azs": 2, "min_instances": 1})

    assert outcome.result == Result.PASS, outcome


def test_autoscaling_is_not_applicable_without_a_tagged_group():
    group("theirs", project="someone-else")

    outcome = run_one("aws.autoscaling.three_azs")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No Auto Scaling groups with the service's Project tag."


# --- the Project tag on everything -----------------------------------------------------------


def everything_tagged() -> None:
    """One resource of every inventoried kind, all carrying the service's tag."""
    bucket("claims-uploads")
    db("claims-db")
    table("claims")
    function("claims-api-handler")
    client("sns").create_topic(Name="claims-events", Tags=PROJECT)
    client("sqs").create_queue(QueueName="claims-jobs", tags={"Project": TAG})
    log_group("/aws/lambda/claims-api-handler", 180)
    subnets("a", "b")  # its VPC is tagged by tag_vpcs()
    rest_api("claims-api", {"/claims": {"GET": "AWS_IAM"}})


def tag_vpcs() -> None:
    ec2 = client("ec2")
    ids = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]
    ec2.create_tags(Resources=ids, Tags=PROJECT)


def test_project_tag_passes_when_every_resource_in_the_account_carries_it():
    everything_tagged()
    tag_vpcs()
    group("web", "a", size=1)  # its instance inherits the tag (PropagateAtLaunch)
    # The default VPC and its subnets are AWS's, and a bucket in another region is out of scope.
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="elsewhere-bucket")

    outcome = run_one("aws.tagging.project", cloud_account_id=MOTO_ACCOUNT)

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["untagged"] == []
    assert outcome.observed["other_project"] == {}
    assert outcome.observed["checked"] == {
        "S3 bucket": 1,
        "RDS instance": 1,
        "DynamoDB table": 1,
        "Lambda function": 1,
        "SNS topic": 1,
        "SQS queue": 1,
        "log group": 1,
        "EC2 instance": 1,
        "VPC": 2,
        "subnet": 3,
        "Auto Scaling group": 1,
        "REST API": 1,
    }
    assert outcome.explanation == (
        f"All 15 resources in account {MOTO_ACCOUNT} ({REGION}) carry the Project tag “{TAG}”."
    )


def test_project_tag_fails_naming_untagged_resources_and_another_projects_separately():
    everything_tagged()
    tag_vpcs()
    bucket("loose-bucket", tags=[{"Key": "Owner", "Value": "ops"}])
    client("sqs").create_queue(QueueName="loose-queue")
    client("sqs").create_queue(QueueName="their-queue", tags={"Project": "someone-else"})
    log_group("/blank", None, tag="")  # an empty value is no tag
    function("loose-function", tags={})
    db("their-db", tags=OTHER)
    rest_api("loose-api", {}, tags={})

    outcome = run_one("aws.tagging.project", cloud_account_id=MOTO_ACCOUNT)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["untagged"] == [
        "S3 bucket loose-bucket",
        "Lambda function loose-function",
        "SQS queue loose-queue",
        "log group /blank",
        "REST API loose-api",
    ]
    assert outcome.observed["other_project"] == {
        "RDS instance their-db": "someone-else",
        "SQS queue their-queue": "someone-else",
    }
    assert outcome.explanation == (
        f"Of 18 resources in account {MOTO_ACCOUNT} ({REGION}), 5 have no Project tag: "
        "S3 bucket loose-bucket, Lambda function loose-function, SQS queue loose-queue, "
        "log group /blank, REST API loose-api; 2 carry another project's tag: "
        "RDS instance their-db (Project=someone-else), "
        "SQS queue their-queue (Project=someone-else)."
    )


def test_project_tag_fails_when_the_only_offender_belongs_to_another_project():
    bucket("claims-uploads")
    bucket("their-uploads", tags=OTHER)

    outcome = run_one("aws.tagging.project", cloud_account_id=MOTO_ACCOUNT)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["untagged"] == []
    assert outcome.explanation == (
        f"Of 2 resources in account {MOTO_ACCOUNT} ({REGION}), 1 carries another project's tag: "
        "S3 bucket their-uploads (Project=someone-else)."
    )


def test_project_tag_follows_every_page_and_names_twenty_offenders_at_most():
    # The tagging API answers 50 resources a page in moto: 51 tagged queues need two pages,
    # or one of them would be reported as untagged.
    sqs = client("sqs")
    for n in range(51):
        sqs.create_queue(QueueName=f"tagged-{n:02}", tags={"Project": TAG})
    for n in range(21):
        sqs.create_queue(QueueName=f"loose-{n:02}")

    outcome = run_one("aws.tagging.project", cloud_account_id=MOTO_ACCOUNT)

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["untagged"] == [f"SQS queue loose-{n:02}" for n in range(21)]
    assert outcome.explanation.endswith("SQS queue loose-19 and 1 more.")
    assert outcome.observed["checked"] == {"SQS queue": 72}


def test_project_tag_is_not_applicable_unless_the_service_names_its_account():
    bucket("loose-bucket", tags=[{"Key": "Owner", "Value": "ops"}])

    outcome = run_one("aws.tagging.project")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation.startswith("The service names no AWS account of its own.")


def test_project_tag_is_not_applicable_in_an_empty_account():
    client("ec2").describe_vpcs()  # only the default VPC and its subnets exist

    outcome = run_one("aws.tagging.project", cloud_account_id=MOTO_ACCOUNT)

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == (
        f"No resources of the kinds checked in account {MOTO_ACCOUNT} ({REGION})."
    )


# --- together --------------------------------------------------------------------------------

KEYS = [
    "aws.apigateway.authorizers",
    "aws.autoscaling.three_azs",
    "aws.lambda.in_vpc",
    "aws.lambda.not_public",
    "aws.opensearch.in_vpc",
    "aws.tagging.project",
]


def test_these_checks_are_not_applicable_when_only_another_projects_resources_exist():
    # Without the service's account, the tagging check cannot blame untagged resources on it.
    rest_api("theirs-api", {"/open": {"GET": "NONE"}}, tags={"Project": "someone-else"})
    function("theirs", tags={"Project": "someone-else"})
    domain("theirs-search", tags=OTHER, vpc=False)
    group("theirs", "a", size=1, project="someone-else")
    target = Target(1, cloud_region=REGION, project_tag=TAG)

    outcomes = run_jobs([Job(key, target, {}) for key in KEYS], timeout=5)

    for key, outcome in zip(KEYS, outcomes, strict=True):
        assert outcome.result == Result.NOT_APPLICABLE, (key, outcome)
        assert "with the service's Project tag" in outcome.explanation, (key, outcome)
