"""The portfolio's pages, cached, and kept true: any recorded change shows at once.

Every change to what the portfolio shows is recorded in history (services, reviews and
their stored summaries, teams, checklists), so the record drives the cache: each history
row written for those models bumps one version number once its transaction commits, and
every cache key holds the version. A page rendered from older data can only ever sit
under an older version, which no request asks for again. Work done outside history
(seeding, snapshots) bumps the version itself.

A page is cached per session (its header holds that session's sign-out form and CSRF
token), with the person's roles and teams in the key, so a change of role or team is
never served from before it. Pages with a message to show are not cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from simple_history.signals import post_create_historical_record

from portal.accounts.roles import Role

VERSION_KEY = "portfolio:version"
PAGE_SECONDS = 600
# The models whose changes the portfolio shows (by their history tables).
SHOWN = {"Service", "Review", "Team", "Checklist", "ChecklistVersion"}


def _fresh() -> int:
    """A version no page was cached under: the time in milliseconds, which only grows
    (so a version key the cache dropped never comes back as an old number)."""
    return int(timezone.now().timestamp() * 1000)


def version() -> int:
    """The current version of everything the portfolio shows."""
    found = cache.get(VERSION_KEY)
    if found is None:
        cache.add(VERSION_KEY, _fresh(), timeout=None)
        found = cache.get(VERSION_KEY) or _fresh()
    return int(found)


def bump() -> None:
    """A change the portfolio shows was committed: no cached page from before it is
    served again."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # not set yet (or dropped): any new value is a new version
        cache.set(VERSION_KEY, _fresh(), timeout=None)


def bump_on_commit() -> None:
    transaction.on_commit(bump)


def _recorded(sender: Any, instance: Any, history_instance: Any, **kwargs: Any) -> None:
    if type(instance).__name__ in SHOWN:
        bump_on_commit()


def connect() -> None:
    """Let recorded changes bump the version (called once, from ReviewsConfig.ready)."""
    post_create_historical_record.connect(_recorded, dispatch_uid="portfolio-cache")


def _key(request: HttpRequest, view: str) -> str | None:
    """The cache key of this view for this request, or None when it must not be cached.

    The version is not in the key but stored beside the page, so one round trip fetches
    both the current version and the page (``cached_page``).
    """
    session_key = request.session.session_key
    if not session_key or len(messages.get_messages(request)):
        return None
    user = request.user
    roles = sorted(role.value for role in user.roles)  # type: ignore[union-attr]
    # Teams decide what a product lead sees; everyone else reads every service.
    teams = sorted(user.team_ids) if Role.PRODUCT_LEAD in roles else []  # type: ignore[union-attr]
    who = (user.pk, roles, teams)
    raw = f"{view}|{session_key}|{request.get_full_path()}|{who}|{timezone.localdate()}"
    return f"portfolio:page:{hashlib.sha256(raw.encode()).hexdigest()}"


ViewFunc = Callable[..., HttpResponseBase]


def cached_page(view_name: str) -> Callable[[ViewFunc], ViewFunc]:
    """Serve a portfolio page from the cache when nothing it shows has changed: the page
    is kept with the version it was rendered at, and served only at that version."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            key = _key(request, view_name) if request.method == "GET" else None
            current = None
            if key is not None:
                found = cache.get_many([VERSION_KEY, key])
                current = found.get(VERSION_KEY)
                hit = found.get(key)
                if current is not None and hit is not None and hit[0] == current:
                    return HttpResponse(hit[1], content_type=hit[2])
                if current is None:
                    current = version()
            response = view(request, *args, **kwargs)
            if (
                key is not None
                and response.status_code == 200
                and isinstance(response, HttpResponse)
            ):
                entry = (current, response.content, response["Content-Type"])
                cache.set(key, entry, PAGE_SECONDS)
            return response

        return wrapped

    return decorator
