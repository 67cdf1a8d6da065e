"""AWS checks: what the resources carrying the service's Project tag are configured to do.

Each check finds the service's resources by their ``Project = <project_tag>`` tag in the
service's region: through the Resource Groups Tagging API, or the service's own listing
where that API misses a kind (API Gateway, OpenSearch, Synthetics, Auto Scaling). It
reads their configuration with the service's own describe/get calls and names the
offenders in ``observed``. A check whose item asks for something to exist (canaries, a
5xx alarm, a dashboard) fails when nothing is tagged; the others are not applicable.

boto3 is synchronous, so a check's AWS work runs in a thread (``asyncio.to_thread``) and
the event loop keeps running the other checks. Each check makes its own session and
clients (a session is not thread-safe) and caches nothing beyond itself. The endpoint
comes from boto3's own configuration (``AWS_ENDPOINT_URL`` and friends), credentials
from the usual chain; when the service names a role, the check assumes it first. When
the service names an account, the credentials must be for that account.

The checks live in modules named for the checklist concern they prove: ``data``
(encryption, backups, recovery), ``exposure`` (what is reachable from the internet),
``availability`` (zones, replicas, instances, tags), ``monitoring`` (canaries, alarms,
dashboards, log retention), ``tracing`` (X-Ray) and ``messaging`` (SNS delivery logging,
dead-letter queue alarms). ``client`` holds what they share.
"""
