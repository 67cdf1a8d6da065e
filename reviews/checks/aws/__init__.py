"""AWS checks: what the resources carrying the service's Project tag are configured to do.

Each check finds the service's resources with the Resource Groups Tagging API
(``Project = <project_tag>`` in the service's region), reads their configuration with
the service's own describe/get calls and names the offenders in ``observed``.

boto3 is synchronous, so a check's AWS work runs in a thread (``asyncio.to_thread``) and
the event loop keeps running the other checks. Each check makes its own session and
clients (a session is not thread-safe) and caches nothing beyond itself. The endpoint
comes from boto3's own configuration (``AWS_ENDPOINT_URL`` and friends), credentials
from the usual chain; when the service names a role, the check assumes it first. When
the service names an account, the credentials must be for that account.

The checks live in modules named for the checklist concern they prove: ``data``
(encryption, backups, recovery), ``exposure`` (what is reachable from the internet),
``availability`` (zones, replicas, instances, tags) and ``monitoring`` (canaries, alarms,
logs, tracing). ``client`` holds what they share.
"""
