"""AWS checks: what is reachable from the internet, and who may call it."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from reviews.checks.collectors.aws.client import Aws, AwsCheck, error_code, name_of, verdict
from reviews.checks.collectors.base import Outcome, register

BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@register
class RdsNotPublicCheck(AwsCheck):
    """PubliclyAccessible belongs to each instance, so an Aurora cluster's instances are
    judged one by one, every instance of a tagged cluster included."""

    key = "aws.rds.not_public"
    title = "RDS instances are not publicly accessible"
    expected = (
        "PubliclyAccessible is false on every tagged RDS instance and every instance of a "
        "tagged cluster"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        # AWS always answers true or false; anything but false (moto leaves it out when it
        # was not given at creation) is not evidence of a private instance.
        instances = aws.databases().instances
        bad = [
            d["DBInstanceIdentifier"] for d in instances if d.get("PubliclyAccessible") is not False
        ]
        checked = [d["DBInstanceIdentifier"] for d in instances]
        return verdict("RDS instances", checked, bad, "public", "are publicly accessible")


@register
class S3PublicAccessBlockedCheck(AwsCheck):
    key = "aws.s3.public_access_blocked"
    title = "S3 buckets block public access"
    expected = "all four Block Public Access settings on every tagged bucket"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        open_flags: dict[str, list[str]] = {}
        buckets = [name_of(arn) for arn in aws.tagged("s3")]
        for bucket in buckets:
            try:
                config: Any = aws.s3.get_public_access_block(Bucket=bucket)[
                    "PublicAccessBlockConfiguration"
                ]
            except ClientError as exc:
                if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                    raise
                config = {}
            off = [flag for flag in BLOCK_FLAGS if not config.get(flag)]
            if off:
                open_flags[bucket] = off
        return verdict(
            "S3 buckets", buckets, open_flags, "not_blocked", "do not block public access"
        )


# --- API Gateway -----------------------------------------------------------------------------


@register
class ApiGatewayAuthorizersCheck(AwsCheck):
    """REST APIs (v1) are found by their own tags: the Resource Groups Tagging API does not
    index API Gateway in moto. A method passes with any authorization type but NONE
    (AWS_IAM, CUSTOM, COGNITO_USER_POOLS). OPTIONS is left out because browsers send CORS
    preflights without credentials; ``public_paths`` lists resource paths that are meant to
    be open (any method, exact match). HTTP APIs (v2) are not covered yet."""

    key = "aws.apigateway.authorizers"
    title = "API Gateway methods require authorization"
    expected = (
        "an authorization type other than NONE on every method of every tagged REST API, "
        "except OPTIONS and public_paths"
    )
    defaults = {"public_paths": ["/healthCheck", "/health"]}

    @classmethod
    def params(cls, given: dict[str, Any] | None) -> dict[str, Any]:
        merged = super().params(given)
        paths = merged["public_paths"]
        if not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ValueError(f"{cls.key}: “public_paths” must be a list of paths like “/health”.")
        return merged

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        public = set(params["public_paths"])
        apis = aws.rest_apis()
        names = _unique_names([(api["id"], api.get("name", api["id"])) for api in apis])
        open_methods: dict[str, list[str]] = {}
        for api in apis:
            resources = aws.apigateway.get_paginator("get_resources").paginate(
                restApiId=api["id"], embed=["methods"]
            )
            found = [
                f"{verb} {resource.get('path', '')}"
                for page in resources
                for resource in page.get("items", [])
                if resource.get("path", "") not in public
                for verb, method in resource.get("resourceMethods", {}).items()
                if verb != "OPTIONS" and method.get("authorizationType", "NONE") == "NONE"
            ]
            if found:
                open_methods[names[api["id"]]] = sorted(found, key=lambda m: m.split(" ")[::-1])
        checked = sorted(names.values())
        if not checked:
            return Outcome.not_applicable("No REST APIs with the service's Project tag.")
        observed = {"unauthorized": open_methods, "checked": checked}
        if open_methods:
            listed = "; ".join(
                f"{', '.join(methods)} on {api}" for api, methods in sorted(open_methods.items())
            )
            return Outcome.failed(
                f"{len(open_methods)} of {len(checked)} REST APIs have methods anyone can call "
                f"without authorization: {listed}.",
                **observed,
            )
        return Outcome.passed(f"All {len(checked)} REST APIs require authorization.", **observed)


def _unique_names(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """id → name, with the id added where two resources share a name."""
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return {rid: name if counts[name] == 1 else f"{name} ({rid})" for rid, name in pairs}


# --- Lambda ----------------------------------------------------------------------------------

# Condition keys that narrow a ``Principal: "*"`` grant to a caller we know (a source ARN,
# an account, an organization, a VPC). Others (aws:SourceIp, lambda:FunctionUrlAuthType …)
# leave the function callable by anyone on the internet.
RESTRICTING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceArn",
        "aws:SourceAccount",
        "aws:SourceOwner",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
    )
)


@register
class LambdaNotPublicCheck(AwsCheck):
    """A function is public when its resource policy lets anyone (``"*"`` or
    ``{"AWS": "*"}``) invoke it with no condition naming a source, account or organization,
    or when it has a function URL with AuthType NONE. No policy at all
    (ResourceNotFoundException) is private.

    moto 5.2.5 lacks ListFunctionUrlConfigs; the tests answer it through GapProxy."""

    key = "aws.lambda.not_public"
    title = "Lambda functions cannot be invoked by anyone"
    expected = (
        "no resource policy statement allowing Principal * without a restricting condition, "
        "and no function URL with AuthType NONE, on every tagged function"
    )

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        arns = aws.tagged("lambda", "function")
        public: dict[str, list[str]] = {}
        for arn in arns:
            reasons = [f"policy statement {sid} allows anyone" for sid in _public_grants(aws, arn)]
            pages = aws.awslambda.get_paginator("list_function_url_configs").paginate(
                FunctionName=arn
            )
            reasons += [
                f"function URL {url['FunctionUrl']} needs no authentication"
                for page in pages
                for url in page.get("FunctionUrlConfigs", [])
                if url.get("AuthType") == "NONE"
            ]
            if reasons:
                public[name_of(arn)] = reasons
        checked = [name_of(arn) for arn in arns]
        return verdict("Lambda functions", checked, public, "public", "can be invoked by anyone")


def _public_grants(aws: Aws, arn: str) -> list[str]:
    """The Sids of the Allow statements open to anyone, in policy order."""
    try:
        policy = json.loads(aws.awslambda.get_policy(FunctionName=arn)["Policy"])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return []
        raise
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [
        str(s.get("Sid", f"#{n}"))
        for n, s in enumerate(statements, start=1)
        if s.get("Effect") == "Allow"
        and _anyone(s.get("Principal"))
        and not _restricting(s.get("Condition", {}))
    ]


def _anyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        value = principal.get("AWS")
        return value == "*" or (isinstance(value, list) and "*" in value)
    return False


def _restricting(condition: dict[str, Any]) -> bool:
    return any(
        key.lower() in RESTRICTING_KEYS
        for operator in condition.values()
        if isinstance(operator, dict)
        for key in operator
    )


@register
class LambdaInVpcCheck(AwsCheck):
    key = "aws.lambda.in_vpc"
    title = "Lambda functions run inside a VPC"
    expected = "VpcConfig with at least one subnet on every tagged function"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        functions = aws.functions()  # one listing returns every function's VpcConfig
        outside = [
            f["FunctionName"] for f in functions if not f.get("VpcConfig", {}).get("SubnetIds")
        ]
        checked = [f["FunctionName"] for f in functions]
        return verdict("Lambda functions", checked, outside, "outside_vpc", "run outside a VPC")


# --- OpenSearch ------------------------------------------------------------------------------


@register
class OpenSearchInVpcCheck(AwsCheck):
    """Domains are found with list_domain_names and their own tags (list_tags): the Resource
    Groups Tagging API does not index OpenSearch in moto. A domain is in a VPC when
    VPCOptions names subnets (moto leaves VPCOptions.VPCId out; AWS fills it in); otherwise
    it has a public endpoint, protected only by its access policy."""

    key = "aws.opensearch.in_vpc"
    title = "OpenSearch domains are inside a VPC"
    expected = "VPCOptions with subnets (no public endpoint) on every tagged OpenSearch domain"

    def collect(self, aws: Aws, params: dict[str, Any]) -> Outcome:
        domains = aws.opensearch_domains()
        checked = [d["DomainName"] for d in domains]
        public = {
            d["DomainName"]: d.get("Endpoint", "public endpoint")
            for d in domains
            if not d.get("VPCOptions", {}).get("SubnetIds")
        }
        return verdict(
            "OpenSearch domains", checked, public, "public", "have a public endpoint, not a VPC"
        )
