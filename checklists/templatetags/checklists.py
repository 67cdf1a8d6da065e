from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from reviews.checks.collectors.base import check_title as _check_title

register = template.Library()

# Raw HTML is escaped and unsafe link schemes (javascript:, data:…) are refused by
# markdown-it's own link validation, so the output is safe to mark as such.
_RENDERER = MarkdownIt("commonmark", {"html": False})


@register.filter
def markdown(text: str) -> SafeString:
    html: str = _RENDERER.render(text or "")
    return mark_safe(html)  # noqa: S308


@register.filter
def check_title(key: str) -> str:
    """A bound check's title for people (the check registry lives with the reviews)."""
    return _check_title(key)
