"""The X-Ray, SNS delivery-logging and dead-letter-queue alarm checks, against moto's server.

Where moto falls short, one service's endpoint points at a ``GapProxy`` (real HTTP,
forwarding everything else to moto):
- SNS: moto accepts the delivery-status attributes in ``SetTopicAttributes`` but never
  returns them from ``GetTopicAttributes``; the proxy remembers what was set and adds it
  to moto's XML answer.
- API Gateway, Lambda and SNS subscriptions: moto returns every REST API and function
  in one page (and 100 subscriptions a page); the proxy serves moto's answer one item
  per page, so the tests prove the checks follow the pagination tokens.

Not covered: turning tracing on with ``UpdateFunctionConfiguration`` (moto 5.2.5 ignores
its ``TracingConfig``), alarm pages (moto ignores ``MaxRecords`` and CloudWatch speaks
CBOR, too costly to split by hand).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest

from reviews.checks.collectors.base import Result
from tests.aws import MOTO_ACCOUNT, OTHER, PROJECT, REGION, TAG, client, run_one
from tests.aws_gaps import GapProxy, ProxyRequest, Reply

pytestmark = pytest.mark.usefixtures("aws")

SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
FEEDBACK_ROLE = f"arn:aws:iam::{MOTO_ACCOUNT}:role/sns-delivery-status"


def one_item_per_page(
    proxy: GapProxy, path: str, items: str, token_in: str, token_out: str
) -> list[str]:
    """Serve moto's answer to ``GET path`` one item per page; return the tokens asked for.

    ``items`` and the tokens are the names on the wire (API Gateway's ``items`` is
    ``item`` there)."""
    asked: list[str] = []

    def page(request: ProxyRequest) -> Any:
        token = request.query.get(token_in, [""])[0]
        asked.append(token)
        start = int(token or 0)
        everything = json.loads(request.forward().body)[items]
        answer: dict[str, Any] = {items: everything[start : start + 1]}
        if start + 1 < len(everything):
            answer[token_out] = str(start + 1)
        return answer

    proxy.answer("GET", path, page)
    return asked


# --- X-Ray on API Gateway stages ---------------------------------------------------------


def rest_api(name: str, stages: dict[str, bool], tag: str = TAG) -> str:
    """A REST API tagged ``Project = tag`` with one deployment and these stages (name →
    tracing on)."""
    apigateway = client("apigateway")
    api = apigateway.create_rest_api(name=name, tags={"Project": tag})
    api_id = api["id"]
    root = api["rootResourceId"]
    apigateway.put_method(
        restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apigateway.create_deployment(restApiId=api_id)["id"]
    for stage, tracing in stages.items():
        apigateway.create_stage(
            restApiId=api_id, stageName=stage, deploymentId=deployment, tracingEnabled=tracing
        )
    return str(api_id)


def test_api_stages_pass_when_every_stage_of_the_tagged_apis_traces():
    rest_api("claims-api", {"prod": True, "staging": True})
    rest_api("theirs-api", {"prod": False}, tag="someone-else")  # another project's: ignored

    outcome = run_one("aws.xray.api_stages")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "untraced": [],
        "checked": ["claims-api/prod", "claims-api/staging"],
    }
    assert outcome.expected == "tracingEnabled on every stage of the tagged REST APIs"


def test_api_stages_fail_naming_the_api_and_stage_without_tracing():
    rest_api("claims-api", {"prod": True, "staging": False})
    rest_api("search-api", {"prod": False})

    outcome = run_one("aws.xray.api_stages")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["untraced"] == ["claims-api/staging", "search-api/prod"]
    assert outcome.explanation == (
        "2 of 3 API Gateway stages have X-Ray tracing off: claims-api/staging, search-api/prod."
    )


def test_api_stages_see_tracing_switched_on_after_the_stage_was_created():
    api_id = rest_api("claims-api", {"prod": False})
    client("apigateway").update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/tracingEnabled", "value": "true"}],
    )

    assert run_one("aws.xray.api_stages").result == Result.PASS


def test_api_stages_are_not_applicable_when_the_tagged_api_has_no_stage_yet():
    rest_api("claims-api", {})

    outcome = run_one("aws.xray.api_stages")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == (
        "The REST APIs with the service's Project tag have no stages yet: claims-api."
    )


def test_api_stages_are_not_applicable_when_only_another_projects_api_exists():
    rest_api("theirs-api", {"prod": False}, tag="someone-else")

    outcome = run_one("aws.xray.api_stages")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No API Gateway REST APIs with the service's Project tag."


def test_api_stages_follow_every_page_of_rest_apis(moto_url, monkeypatch):
    rest_api("a-api", {"prod": True})
    rest_api("b-api", {"prod": True}, tag="someone-else")
    rest_api("c-api", {"prod": False})

    with GapProxy.running(moto_url) as proxy:
        asked = one_item_per_page(proxy, "/restapis", "item", "position", "position")
        monkeypatch.setenv("AWS_ENDPOINT_URL_API_GATEWAY", proxy.url)
        outcome = run_one("aws.xray.api_stages")

    assert asked == ["", "1", "2"]
    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {"untraced": ["c-api/prod"], "checked": ["a-api/prod", "c-api/prod"]}


# --- X-Ray on Lambda functions -----------------------------------------------------------


def _code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


CODE = _code()


def function(name: str, mode: str | None = None, tag: str = TAG) -> Any:
    """A Lambda function (moto stores the code; nothing runs, so no Docker is needed)."""
    iam = client("iam")
    try:
        role = iam.get_role(RoleName="claims-lambda")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="claims-lambda", AssumeRolePolicyDocument="{}")["Role"][
            "Arn"
        ]
    settings: dict[str, Any] = {"TracingConfig": {"Mode": mode}} if mode else {}
    awslambda = client("lambda")
    awslambda.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": CODE},
        Tags={"Project": tag},
        **settings,
    )
    return awslambda


def test_lambdas_pass_when_every_tagged_function_traces_actively():
    function("claims-intake", "Active")
    function("theirs", "PassThrough", tag="someone-else")  # another project's: ignored

    outcome = run_one("aws.xray.lambdas")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"untraced": {}, "checked": ["claims-intake"]}


def test_lambdas_fail_naming_the_function_left_on_pass_through():
    function("claims-intake", "Active")
    function("claims-export", "PassThrough")
    function("claims-notify")  # no TracingConfig at all: AWS's default is PassThrough

    outcome = run_one("aws.xray.lambdas")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["untraced"] == {
        "claims-export": "PassThrough",
        "claims-notify": "PassThrough",
    }
    assert outcome.explanation == (
        "2 of 3 Lambda functions have X-Ray tracing off: claims-export, claims-notify."
    )


def test_lambdas_are_not_applicable_when_only_another_projects_function_exists():
    function("theirs", tag="someone-else")

    outcome = run_one("aws.xray.lambdas")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No Lambda functions with the service's Project tag."


def test_lambdas_follow_every_page_of_functions(moto_url, monkeypatch):
    function("a-fn", "Active")
    function("b-fn", "Active")
    function("c-fn", "PassThrough")

    with GapProxy.running(moto_url) as proxy:
        asked = one_item_per_page(
            proxy, "/2015-03-31/functions/?", "Functions", "Marker", "NextMarker"
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)
        outcome = run_one("aws.xray.lambdas")

    assert asked == ["", "1", "2"]
    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed == {
        "untraced": {"c-fn": "PassThrough"},
        "checked": ["a-fn", "b-fn", "c-fn"],
    }


# --- SNS delivery-status logging ---------------------------------------------------------


def sns_xml(reply: Reply) -> ElementTree.Element:
    return ElementTree.fromstring(reply.body)  # noqa: S314 (moto's answer, on loopback)


def sns_reply(root: ElementTree.Element, moto: Reply) -> Reply:
    body = ElementTree.tostring(root, encoding="utf-8", default_namespace=SNS_XMLNS)
    return Reply(200, body, moto.headers)


def sns_tag(path: str) -> str:
    """``A/B`` as namespaced ElementTree path: SNS answers in its own XML namespace."""
    return "/".join(f"{{{SNS_XMLNS}}}{part}" for part in path.split("/"))


@pytest.fixture
def sns_proxy(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GapProxy]:
    """SNS through a proxy that remembers the delivery-status attributes moto forgets.

    ``SetTopicAttributes`` still reaches moto; the feedback attributes are also kept here
    (an empty value removes one, as in AWS) and added to moto's ``GetTopicAttributes``
    answer for that topic.
    """
    remembered: dict[str, dict[str, str]] = {}

    def set_attribute(request: ProxyRequest) -> Reply:
        form = request.form
        name, value = form["AttributeName"], form.get("AttributeValue", "")
        if "Feedback" in name:
            kept = remembered.setdefault(form["TopicArn"], {})
            if value:
                kept[name] = value
            else:
                kept.pop(name, None)
        return request.forward()

    def get_attributes(request: ProxyRequest) -> Reply:
        moto = request.forward()
        extra = remembered.get(request.form["TopicArn"], {})
        if moto.status != 200 or not extra:
            return moto
        root = sns_xml(moto)
        attributes = root.find(sns_tag("GetTopicAttributesResult/Attributes"))
        assert attributes is not None, moto.body
        for key, value in extra.items():
            entry = ElementTree.SubElement(attributes, sns_tag("entry"))
            ElementTree.SubElement(entry, sns_tag("key")).text = key
            ElementTree.SubElement(entry, sns_tag("value")).text = value
        return sns_reply(root, moto)

    with GapProxy.running(moto_url) as proxy:
        proxy.answer_action("SetTopicAttributes", set_attribute)
        proxy.answer_action("GetTopicAttributes", get_attributes)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", proxy.url)
        yield proxy
        assert not proxy.errors, proxy.errors


def subscriptions_one_per_page(proxy: GapProxy) -> list[str]:
    """Serve ``ListSubscriptionsByTopic`` one subscription per page (moto's pages hold
    100); return the tokens asked for. moto's tokens are offsets, so its answer to a
    request starts at the subscription the page wants."""
    asked: list[str] = []

    def page(request: ProxyRequest) -> Reply:
        token = request.form.get("NextToken", "")
        asked.append(token)
        moto = request.forward()
        root = sns_xml(moto)
        result = root.find(sns_tag("ListSubscriptionsByTopicResult"))
        members = root.find(sns_tag("ListSubscriptionsByTopicResult/Subscriptions"))
        assert result is not None and members is not None, moto.body
        rest = list(members)[1:]
        for member in rest:
            members.remove(member)
        for old in result.findall(sns_tag("NextToken")):
            result.remove(old)
        if rest:
            ElementTree.SubElement(result, sns_tag("NextToken")).text = str(int(token or 0) + 1)
        return sns_reply(root, moto)

    proxy.answer_action("ListSubscriptionsByTopic", page)
    return asked


def topic(name: str, *protocols: str, tags: list[dict[str, str]] = PROJECT, **roles: str) -> str:
    """A topic with one subscription per protocol and these feedback roles
    (``SQSFailure="…"`` sets ``SQSFailureFeedbackRoleArn``)."""
    sns = client("sns")
    arn = str(sns.create_topic(Name=name, Tags=tags)["TopicArn"])
    endpoints = {
        "sqs": f"arn:aws:sqs:{REGION}:{MOTO_ACCOUNT}:{name}-consumer",
        "lambda": f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT}:function:{name}-consumer",
        "https": "https://hooks.example.com/claims",
        "email": "team@example.com",
    }
    for protocol in protocols:
        sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoints[protocol])
    for role, value in roles.items():
        sns.set_topic_attributes(
            TopicArn=arn, AttributeName=f"{role}FeedbackRoleArn", AttributeValue=value
        )
    return arn


@pytest.mark.usefixtures("sns_proxy")
def test_delivery_logging_passes_when_failures_are_logged_for_every_protocol_used():
    topic("claims-events", "sqs", "lambda", SQSFailure=FEEDBACK_ROLE, LambdaFailure=FEEDBACK_ROLE)
    topic("theirs", "sqs", tags=OTHER)  # another project's: ignored

    outcome = run_one("aws.sns.delivery_logging")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {"not_logged": {}, "checked": ["claims-events"]}


@pytest.mark.usefixtures("sns_proxy")
def test_delivery_logging_fails_naming_the_topic_that_logs_nothing():
    topic("claims-events", "sqs", SQSFailure=FEEDBACK_ROLE)
    topic("claims-plain", "sqs")

    outcome = run_one("aws.sns.delivery_logging")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["not_logged"] == {"claims-plain": ["SQS"]}
    assert outcome.explanation == "1 of 2 SNS topics do not log failed deliveries: claims-plain."


@pytest.mark.usefixtures("sns_proxy")
def test_delivery_logging_of_successes_only_is_not_enough():
    topic("claims-events", "sqs", SQSSuccess=FEEDBACK_ROLE)

    outcome = run_one("aws.sns.delivery_logging")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["not_logged"] == {"claims-events": ["SQS"]}


@pytest.mark.usefixtures("sns_proxy")
def test_delivery_logging_fails_naming_the_protocol_whose_failures_are_not_logged():
    # Logging SQS failures says nothing about the Lambda and HTTPS consumers.
    topic("claims-events", "sqs", "lambda", "https", "email", SQSFailure=FEEDBACK_ROLE)

    outcome = run_one("aws.sns.delivery_logging")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["not_logged"] == {"claims-events": ["HTTP", "Lambda"]}


@pytest.mark.usefixtures("sns_proxy")
def test_delivery_logging_of_a_topic_without_subscriptions_needs_one_failure_role():
    topic("claims-new", HTTPFailure=FEEDBACK_ROLE)
    topic("claims-bare")
    topic("claims-mail", "email")  # SNS cannot log email deliveries

    outcome = run_one("aws.sns.delivery_logging")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["not_logged"] == {
        "claims-bare": ["every protocol"],
        "claims-mail": ["every protocol"],
    }


@pytest.mark.usefixtures("sns_proxy")
def test_delivery_logging_switched_off_again_fails():
    arn = topic("claims-events", "sqs", SQSFailure=FEEDBACK_ROLE)
    client("sns").set_topic_attributes(
        TopicArn=arn, AttributeName="SQSFailureFeedbackRoleArn", AttributeValue=""
    )

    assert run_one("aws.sns.delivery_logging").result == Result.FAIL


def test_delivery_logging_reads_every_page_of_a_topics_subscriptions(sns_proxy):
    topic("claims-events", "sqs", "https", "lambda", SQSFailure=FEEDBACK_ROLE)
    asked = subscriptions_one_per_page(sns_proxy)

    outcome = run_one("aws.sns.delivery_logging")

    assert asked == ["", "1", "2"]
    assert outcome.observed["not_logged"] == {"claims-events": ["HTTP", "Lambda"]}


def test_delivery_logging_is_not_applicable_when_only_another_projects_topic_exists():
    topic("theirs", tags=OTHER)

    outcome = run_one("aws.sns.delivery_logging")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == "No SNS topics with the service's Project tag."


# --- alarms on dead-letter queues --------------------------------------------------------


def queue(name: str, dlq: str = "", tags: dict[str, str] | None = None) -> str:
    """A queue (tagged ``Project`` unless ``tags`` says otherwise), sending its failed
    messages to the queue ``dlq`` when given; returns its ARN."""
    sqs = client("sqs")
    attributes = {}
    if dlq:
        target = f"arn:aws:sqs:{REGION}:{MOTO_ACCOUNT}:{dlq}"
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": target, "maxReceiveCount": "3"}
        )
    sqs.create_queue(
        QueueName=name,
        Attributes=attributes,
        tags={"Project": TAG} if tags is None else tags,
    )
    return f"arn:aws:sqs:{REGION}:{MOTO_ACCOUNT}:{name}"


def alarm(
    name: str,
    watched_queue: str,
    metric: str = "ApproximateNumberOfMessagesVisible",
    actions: bool = True,
    enabled: bool = True,
) -> None:
    client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SQS",
        MetricName=metric,
        Dimensions=[{"Name": "QueueName", "Value": watched_queue}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        ActionsEnabled=enabled,
        AlarmActions=[f"arn:aws:sns:{REGION}:{MOTO_ACCOUNT}:on-call"] if actions else [],
    )


def test_dlq_alarm_passes_when_every_dead_letter_queue_has_an_alarm_with_actions():
    queue("claims-dlq", tags={})
    queue("claims-work", dlq="claims-dlq")
    queue("claims-retry", dlq="claims-dlq")
    alarm("claims-dlq-not-empty", "claims-dlq")

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed == {
        "without_alarm": {},
        "checked": ["claims-dlq"],
        "sources": {"claims-dlq": ["queue claims-retry", "queue claims-work"]},
        "alarms": {"claims-dlq": ["claims-dlq-not-empty"]},
    }


def test_dlq_alarm_fails_naming_the_dead_letter_queue_without_an_alarm():
    queue("claims-dlq")
    queue("claims-work", dlq="claims-dlq")
    alarm("claims-dlq-not-empty", "claims-dlq")
    queue("intake-dlq")
    queue("intake-work", dlq="intake-dlq")
    alarm("intake-work-backlog", "intake-work")  # the source queue, not its DLQ

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_alarm"] == {"intake-dlq": "no alarm"}
    assert outcome.explanation == (
        "1 of 2 dead-letter queues have no alarm that notifies anyone: intake-dlq."
    )


def test_dlq_alarm_does_not_count_alarms_that_notify_nobody():
    queue("muted-dlq")
    queue("muted", dlq="muted-dlq")
    alarm("muted-dlq-alarm", "muted-dlq", enabled=False)
    queue("silent-dlq")
    queue("silent", dlq="silent-dlq")
    alarm("silent-dlq-alarm", "silent-dlq", actions=False)

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_alarm"] == {
        "muted-dlq": "alarms without actions: muted-dlq-alarm",
        "silent-dlq": "alarms without actions: silent-dlq-alarm",
    }


def test_dlq_alarm_on_messages_sent_does_not_count():
    # SQS does not count the messages it moves to a dead-letter queue in
    # NumberOfMessagesSent: such an alarm never fires for them.
    queue("claims-dlq")
    queue("claims-work", dlq="claims-dlq")
    alarm("claims-dlq-sent", "claims-dlq", metric="NumberOfMessagesSent")

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_alarm"] == {"claims-dlq": "no alarm"}


def test_dlq_alarm_metrics_can_be_chosen():
    queue("claims-dlq")
    queue("claims-work", dlq="claims-dlq")
    alarm("claims-dlq-sent", "claims-dlq", metric="NumberOfMessagesSent")

    outcome = run_one("aws.sqs.dlq_alarm", params={"metrics": ["NumberOfMessagesSent"]})

    assert outcome.result == Result.PASS, outcome


def test_dlq_alarm_counts_an_alarm_on_metric_math():
    queue("claims-dlq")
    queue("claims-work", dlq="claims-dlq")
    client("cloudwatch").put_metric_alarm(
        AlarmName="claims-dlq-math",
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[f"arn:aws:sns:{REGION}:{MOTO_ACCOUNT}:on-call"],
        Metrics=[
            {
                "Id": "visible",
                "ReturnData": True,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Dimensions": [{"Name": "QueueName", "Value": "claims-dlq"}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
    )

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.PASS, outcome
    assert outcome.observed["alarms"] == {"claims-dlq": ["claims-dlq-math"]}


def subscribe_with_dlq(topic_arn: str, consumer: str, dlq: str) -> None:
    client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{REGION}:{MOTO_ACCOUNT}:{consumer}",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{MOTO_ACCOUNT}:{dlq}"}
            )
        },
    )


def test_dlq_alarm_fails_naming_a_topic_subscriptions_dead_letter_queue_without_alarm():
    queue("events-dlq", tags={})
    arn = str(client("sns").create_topic(Name="claims-events", Tags=PROJECT)["TopicArn"])
    subscribe_with_dlq(arn, "claims-consumer", "events-dlq")

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_alarm"] == {"events-dlq": "no alarm"}
    assert outcome.observed["sources"] == {"events-dlq": ["topic claims-events"]}


def test_dlq_alarm_reads_every_page_of_a_topics_subscriptions(sns_proxy):
    arn = topic("claims-events", "lambda", "https")
    subscribe_with_dlq(arn, "claims-consumer", "events-dlq")  # third: on page three
    asked = subscriptions_one_per_page(sns_proxy)

    outcome = run_one("aws.sqs.dlq_alarm")

    assert asked == ["", "1", "2"]
    assert outcome.result == Result.FAIL, outcome
    assert outcome.observed["without_alarm"] == {"events-dlq": "no alarm"}


def test_dlq_alarm_is_not_applicable_when_no_tagged_queue_uses_a_dead_letter_queue():
    queue("claims-work")  # no redrive policy: not this check's business
    queue("theirs-dlq", tags={"Project": "someone-else"})
    queue("theirs-work", dlq="theirs-dlq", tags={"Project": "someone-else"})

    outcome = run_one("aws.sqs.dlq_alarm")

    assert outcome.result == Result.NOT_APPLICABLE, outcome
    assert outcome.explanation == (
        "No queue or topic subscription with the service's Project tag uses a dead-letter queue."
    )
