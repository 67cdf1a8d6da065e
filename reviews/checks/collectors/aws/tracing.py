"""AWS checks: X-Ray tracing on API Gateway stages and Lambda functions.

The checklist item ("X-Ray is on for API stages and Lambdas") is proved by two checks, one
per kind of resource, bound together to the item: each has its own offenders, and a
service with no Lambda (or no REST API) gets "not applicable" for that kind only instead
of a single verdict that blurs the two.

API Gateway is not in the Resource Groups Tagging API's index under moto (and the REST
API's own ``tags`` are what Terraform and serverless set), so the service's REST APIs are
found with ``get_rest_apis`` and their own tags. HTTP and WebSocket APIs (API Gateway v2)
cannot send traces to X-Ray, so they are not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reviews.checks.collectors.aws.client import Aws, AwsCheck, verdict
from reviews.checks.collectors.base import Outcome, register

if TYPE_CHECKING:
    pass


@register
class ApiStagesTracingCheck(AwsCheck):
    key = "aws.xray.api_stages"
    title = "API Gateway stages send traces to X-Ray"
    expected = "tracingEnabled on every stage of the tagged REST APIs"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        apis = aws.rest_apis()
        if not apis:
            return Outcome.not_applicable(
                "No API Gateway REST APIs with the service's Project tag."
            )
        tracing: dict[str, bool] = {}
        for api in apis:
            # get_stages is not paginated: it returns every stage of the API at once.
            for stage in aws.apigateway.get_stages(restApiId=api["id"]).get("item", []):
                tracing[f"{api.get('name', api['id'])}/{stage['stageName']}"] = bool(
                    stage.get("tracingEnabled")
                )
        if not tracing:
            names = ", ".join(api.get("name", api["id"]) for api in apis)
            return Outcome.not_applicable(
                f"The REST APIs with the service's Project tag have no stages yet: {names}."
            )
        bad = [stage for stage, on in tracing.items() if not on]
        return verdict("API Gateway stages", tracing, bad, "untraced", "have X-Ray tracing off")


@register
class LambdaTracingCheck(AwsCheck):
    key = "aws.xray.lambdas"
    title = "Lambda functions send traces to X-Ray"
    expected = "TracingConfig.Mode Active on every tagged Lambda function"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        modes = {
            f["FunctionName"]: f.get("TracingConfig", {}).get("Mode", "PassThrough")
            for f in aws.functions()
        }
        bad = {name: mode for name, mode in modes.items() if mode != "Active"}
        return verdict("Lambda functions", modes, bad, "untraced", "have X-Ray tracing off")
