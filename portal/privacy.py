"""Pages for signed-in people are never stored by browsers or proxies.

A review, an evidence file or a new CI token left in a shared computer's cache, or in a
proxy's, outlives the sign-out. Every response to a signed-in request that does not set
its own caching says ``Cache-Control: no-store`` (with Django's other never-cache
headers), as the sign-in pages already do.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers


class PrivatePagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
