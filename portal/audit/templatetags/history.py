"""``{% history_link record %}``: the link from a record's page to its timeline, shown only
to whoever may read that timeline (``audit.view_timeline`` in portal.permissions).

The permission is decided on the record the timeline belongs to: pass it as ``within``
when the record is not its own root (``{% history_link answer within=review.service %}``),
so a page of many rows asks nothing of the database per row.
"""

from __future__ import annotations

from django import template
from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html

from portal.permissions import can

register = template.Library()


@register.simple_tag(takes_context=True)
def history_link(
    context: template.Context,
    record: Model | None,
    within: Model | None = None,
    label: str = "History",
    about: str = "",
) -> str:
    """The link, or nothing. ``about`` is read out to screen readers after ``label``."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if record is None or record.pk is None or user is None:
        return ""
    if not can(user, "audit.view_timeline", within if within is not None else record):
        return ""
    url = reverse("audit:timeline", args=[record._meta.label_lower, record.pk])
    if about:
        return format_html(
            '<a class="preflight-history" href="{}">{}<span class="usa-sr-only"> {}</span></a>',
            url,
            label,
            about,
        )
    return format_html('<a class="preflight-history" href="{}">{}</a>', url, label)
