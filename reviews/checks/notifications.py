"""Who hears about automated evidence: a check that passed now fails."""

from __future__ import annotations

from portal.accounts.roles import Role
from reviews.checks.collectors.base import Result
from reviews.models import CheckRun, CheckStanding, Service
from reviews.notifications import absolute_url, role_emails, send


def checks_regressed(service_id: int, run: CheckRun) -> None:
    """Tell the service's team and the security reviewers, once: only the checks whose
    standing result this run turned into a failure are listed."""
    service = Service.objects.select_related("team").get(pk=service_id)
    failing = list(
        CheckStanding.objects.filter(
            service=service, standing_result=Result.FAIL, standing__run=run
        )
        .select_related("standing")
        .order_by("check_key")
    )
    if not failing:
        return
    team = service.team.members.filter(is_active=True).values_list("email", flat=True)
    send(
        f"Check failing: {service.name}",
        "regressed",
        {"service": service, "failing": failing},
        [*team, *role_emails([Role.SECURITY_REVIEWER.value])],
        link=absolute_url(service.get_absolute_url()),
    )
