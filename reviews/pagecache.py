"""Pages cached per session, and kept true by the record: any recorded change shows at once.

Every change to what such a page shows is recorded in history, so the record drives the
cache: each history row written for the models a page set shows bumps one version number
once its transaction commits, and every cached page is kept with the version it was
rendered at, and served only at that version. A page rendered from older data can only
ever sit under an older version, which no request asks for again. Work done outside
history (seeding, snapshots, automated check results) bumps the version itself.

A page is cached per session (its header holds that session's sign-out form and CSRF
token), with the person's roles and teams in the key, so a change of role or team is
never served from before it. Pages with a message to show are not cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from celery import shared_task
from django.contrib import messages
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from simple_history.signals import post_create_historical_record

from portal.accounts.roles import Role
from portal.outbox.relay import keep

ViewFunc = Callable[..., HttpResponseBase]


def _fresh() -> int:
    """A version no page was cached under: the time in milliseconds, which only grows
    (so a version key the cache dropped never comes back as an old number)."""
    return int(timezone.now().timestamp() * 1000)


_BY_NAME: dict[str, VersionedPages] = {}


class VersionedPages:
    """One set of cached pages and its version.

    ``shown``: the models (by class name) whose recorded changes the pages show; None
    for every recorded model.
    """

    def __init__(self, name: str, shown: frozenset[str] | None = None, seconds: int = 600):
        if name in _BY_NAME:
            raise ValueError(f"There is already a set of cached pages named {name!r}")
        _BY_NAME[name] = self
        self.name = name
        self.version_key = f"{name}:version"
        self.shown = shown
        self.seconds = seconds

    def version(self) -> int:
        """The current version of everything the pages show."""
        found = cache.get(self.version_key)
        if found is None:
            cache.add(self.version_key, _fresh(), timeout=None)
            found = cache.get(self.version_key) or _fresh()
        return int(found)

    def bump(self) -> None:
        """A change the pages show was committed: no page cached before it is served."""
        try:
            bumped = cache.incr(self.version_key)
        except ValueError:  # not set yet (or dropped): any new value is a new version
            cache.set(self.version_key, _fresh(), timeout=None)
            return
        if bumped is None:
            # Redis is away (the cache reads that as a miss). If it comes back with its
            # data, pages cached before this change would be served again: the outbox
            # keeps the bump, and the relay makes it once the broker is back.
            keep(bump_pages, self.name)

    def bump_on_commit(self) -> None:
        transaction.on_commit(self.bump)

    def _recorded(self, sender: Any, instance: Any, history_instance: Any, **kwargs: Any) -> None:
        if self.shown is None or type(instance).__name__ in self.shown:
            self.bump_on_commit()

    def connect(self) -> None:
        """Let recorded changes bump the version (once, from ReviewsConfig.ready)."""
        post_create_historical_record.connect(
            self._recorded, dispatch_uid=f"{self.name}-cache", weak=False
        )

    def key(self, request: HttpRequest, view: str, extra: str = "") -> str | None:
        """The cache key of this view for this request, or None when it must not be
        cached. The version is not in the key but stored beside the page, so one round
        trip fetches both."""
        session_key = request.session.session_key
        if request.method != "GET" or not session_key or len(messages.get_messages(request)):
            return None
        user = request.user
        roles = sorted(role.value for role in user.roles)  # type: ignore[union-attr]
        # Teams decide what a product lead sees; everyone else reads every service.
        teams = sorted(user.team_ids) if Role.PRODUCT_LEAD in roles else []  # type: ignore[union-attr]
        who = (user.pk, roles, teams)
        raw = (
            f"{view}|{session_key}|{request.get_full_path()}|{who}|{timezone.localdate()}|"
            f"{request.headers.get('HX-Request', '')}|{extra}"
        )
        return f"{self.name}:page:{hashlib.sha256(raw.encode()).hexdigest()}"

    def serve(
        self,
        request: HttpRequest,
        view_name: str,
        render: Callable[[], HttpResponseBase],
        extra: str = "",
    ) -> HttpResponseBase:
        """The cached page when nothing it shows has changed, else ``render()`` (kept)."""
        key = self.key(request, view_name, extra)
        current = None
        if key is not None:
            found = cache.get_many([self.version_key, key])
            current = found.get(self.version_key)
            hit = found.get(key)
            if (
                current is not None
                and isinstance(hit, tuple)
                and len(hit) == 4
                and hit[0] == current
            ):
                kept = HttpResponse(hit[1], content_type=hit[2])
                for header, value in hit[3]:
                    kept[header] = value
                return kept
            if current is None:
                current = self.version()
        response = render()
        if key is not None and response.status_code == 200 and isinstance(response, HttpResponse):
            headers = [(h, response[h]) for h in ("Vary",) if response.has_header(h)]
            cache.set(
                key, (current, response.content, response["Content-Type"], headers), self.seconds
            )
        return response

    def cached_page(self, view_name: str) -> Callable[[ViewFunc], ViewFunc]:
        """A decorator: serve the view's page from the cache (see ``serve``)."""

        def decorator(view: ViewFunc) -> ViewFunc:
            @wraps(view)
            def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                return self.serve(request, view_name, lambda: view(request, *args, **kwargs))

            return wrapped

        return decorator


@shared_task(name="pages.bump", acks_late=True, time_limit=30, soft_time_limit=20)
def bump_pages(name: str) -> None:
    """Retire the pages cached before a change made while Redis was away."""
    _BY_NAME[name].bump()


# The review workspace shows answers, evidence, exceptions, comments, sign-offs, launch
# audits, journal notes and the review itself, all recorded, and the automated checks'
# standings, which bump it themselves (reviews.checks.services).
WORKSPACE = VersionedPages("workspace")
