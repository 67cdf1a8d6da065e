"""AWS checks: SNS delivery-status logging and alarms on dead-letter queues.

Hackney's event-driven services publish to one SNS topic that fans out to SQS queues (and
Lambdas, HTTP endpoints …). Two things must hold: SNS logs failed deliveries, and someone
is told when a message lands in a dead-letter queue.

moto 5.2.5 accepts ``set_topic_attributes`` for the delivery-status attributes but never
returns them from ``get_topic_attributes``; the tests fill that one gap with ``GapProxy``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reviews.checks.collectors.aws.client import Aws, AwsCheck, name_of, verdict
from reviews.checks.collectors.base import Outcome, register

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef, MetricOutputTypeDef
    from mypy_boto3_sns.type_defs import SubscriptionTypeDef

# The subscription protocols SNS can log deliveries for, and the prefix of their
# attributes (``SQSFailureFeedbackRoleArn`` …). Email and email-json have no delivery
# status; SMS has its own, account-wide, setting.
LOGGED_PROTOCOLS = {
    "application": "Application",
    "firehose": "Firehose",
    "http": "HTTP",
    "https": "HTTP",
    "lambda": "Lambda",
    "sqs": "SQS",
}


def subscriptions(aws: Aws, topic_arn: str) -> list[SubscriptionTypeDef]:
    pages = aws.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    return [s for page in pages for s in page["Subscriptions"]]


@register
class SnsDeliveryLoggingCheck(AwsCheck):
    """A topic passes when SNS logs failed deliveries for every protocol it delivers to.

    Only the failure role counts: ``…SuccessFeedbackRoleArn`` alone logs a sample of the
    deliveries that worked (``…SuccessFeedbackSampleRate``) and never the ones that failed,
    which are what the checklist is about. A topic with no subscription SNS can log for
    (none yet, or only email) needs a failure role for at least one protocol.
    """

    key = "aws.sns.delivery_logging"
    title = "SNS topics log failed deliveries"
    expected = (
        "a failure feedback role (<protocol>FailureFeedbackRoleArn) on every tagged topic "
        "for each protocol it delivers to"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        topics = aws.tagged("sns")
        not_logged: dict[str, list[str]] = {}
        for arn in topics:
            attributes = aws.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            logged = {
                prefix
                for prefix in LOGGED_PROTOCOLS.values()
                if attributes.get(f"{prefix}FailureFeedbackRoleArn")
            }
            used = {
                LOGGED_PROTOCOLS[s["Protocol"]]
                for s in subscriptions(aws, arn)
                if s.get("Protocol") in LOGGED_PROTOCOLS
            }
            if used - logged:
                not_logged[name_of(arn)] = sorted(used - logged)
            elif not logged:
                not_logged[name_of(arn)] = ["every protocol"]
        checked = [name_of(arn) for arn in topics]
        return verdict(
            "SNS topics", checked, not_logged, "not_logged", "do not log failed deliveries"
        )


def dead_letter_target(redrive_policy: str | None) -> str:
    """The DLQ's ARN in an SQS queue's or SNS subscription's RedrivePolicy, or ''."""
    if not redrive_policy:
        return ""
    return str(json.loads(redrive_policy).get("deadLetterTargetArn") or "")


def dead_letter_queues(aws: Aws) -> dict[str, list[str]]:
    """DLQ name → the tagged queues and topics whose failed messages go to it."""
    sources: dict[str, set[str]] = {}
    for arn in aws.tagged("sqs"):
        account = arn.split(":")[4]
        url = aws.sqs.get_queue_url(QueueName=name_of(arn), QueueOwnerAWSAccountId=account)
        attributes = aws.sqs.get_queue_attributes(
            QueueUrl=url["QueueUrl"], AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        if target := dead_letter_target(attributes.get("RedrivePolicy")):
            sources.setdefault(name_of(target), set()).add(f"queue {name_of(arn)}")
    for topic in aws.tagged("sns"):
        for subscription in subscriptions(aws, topic):
            # An unconfirmed subscription has "PendingConfirmation" for an ARN and no
            # attributes to read; it delivers nothing yet.
            if not subscription.get("SubscriptionArn", "").startswith("arn:"):
                continue
            settings = aws.sns.get_subscription_attributes(
                SubscriptionArn=subscription["SubscriptionArn"]
            )["Attributes"]
            if target := dead_letter_target(settings.get("RedrivePolicy")):
                sources.setdefault(name_of(target), set()).add(f"topic {name_of(topic)}")
    return {dlq: sorted(names) for dlq, names in sources.items()}


def watched_queues(alarm: MetricAlarmTypeDef, metrics: list[str]) -> set[str]:
    """The SQS queues whose ``metrics`` the alarm watches, directly or in metric math."""
    watched: list[MetricOutputTypeDef] = [
        {
            "Namespace": alarm.get("Namespace", ""),
            "MetricName": alarm.get("MetricName", ""),
            "Dimensions": alarm.get("Dimensions", []),
        }
    ]
    watched += [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
    return {
        dimension["Value"]
        for metric in watched
        if metric.get("Namespace") == "AWS/SQS" and metric.get("MetricName") in metrics
        for dimension in metric.get("Dimensions", [])
        if dimension.get("Name") == "QueueName"
    }


@register
class DlqAlarmCheck(AwsCheck):
    """Every dead-letter queue behind the service's tagged queues and topic subscriptions
    has a CloudWatch alarm that notifies someone.

    An alarm counts when it watches one of ``metrics`` of the queue (``AWS/SQS``, dimension
    ``QueueName``), directly or inside metric math, with its actions on and at least one
    alarm action. ``NumberOfMessagesSent`` is left out on purpose: AWS does not count
    messages that SQS moves to a dead-letter queue in it, so such an alarm never fires for
    them. Alarms are read in the service's region. Tagged queues without a redrive policy
    are not this check's business.
    """

    key = "aws.sqs.dlq_alarm"
    title = "Dead-letter queues have an alarm that notifies someone"
    expected = (
        "an alarm with actions on a message-count metric of every dead-letter queue "
        "the tagged queues and topic subscriptions use"
    )
    defaults = {"metrics": ["ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"]}

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        dlqs = dead_letter_queues(aws)
        if not dlqs:
            return Outcome.not_applicable(
                "No queue or topic subscription with the service's Project tag uses a "
                "dead-letter queue."
            )
        alarms: dict[str, list[str]] = {dlq: [] for dlq in dlqs}
        silent: dict[str, list[str]] = {dlq: [] for dlq in dlqs}
        for page in aws.cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmTypes=["MetricAlarm"]
        ):
            for alarm in page.get("MetricAlarms", []):
                notifies = alarm.get("ActionsEnabled") and alarm.get("AlarmActions")
                for queue in watched_queues(alarm, params["metrics"]) & dlqs.keys():
                    (alarms if notifies else silent)[queue].append(alarm.get("AlarmName", ""))
        bad = {
            dlq: f"alarms without actions: {', '.join(sorted(silent[dlq]))}"
            if silent[dlq]
            else "no alarm"
            for dlq in dlqs
            if not alarms[dlq]
        }
        return verdict(
            "dead-letter queues",
            dlqs,
            bad,
            "without_alarm",
            "have no alarm that notifies anyone",
            also={
                "sources": dlqs,
                "alarms": {dlq: sorted(names) for dlq, names in alarms.items()},
            },
        )
