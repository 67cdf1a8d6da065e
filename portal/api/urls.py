"""The API: its one NinjaAPI, the routers the apps contribute, and its URL patterns.

portal/urls.py mounts ``urls()`` at ``/api/v1/``. Each app keeps its operations beside
its selectors, in its own ``api.py``, and adds nothing here but one ``add_router`` line.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI

from checklists.api import router as checklists
from portal.api import errors
from portal.api.docs import ServerDocs
from reviews.api import router as reviews
from reviews.checks.api import router as evidence
from reviews.portfolio.api import router as portfolio

DESCRIPTION = """\
Preflight's API: read services, reviews, the portfolio, readiness history and the
checklist library as you may on the pages, and push evidence from a CI pipeline.

- **Sign in** with the browser session, or send a personal API token (made on *Your
  account*) as `Authorization: Bearer pfu_…`: it reads (GET) as you, with your roles.
- **Push evidence** with a service's CI token, `Authorization: Bearer pft_…`.
- **Errors** are `{"error": "<a sentence>"}` with the status saying what kind.
- **Lists** answer `{"items": [...], "count": N, "page": N, "pages": N}`; `?page=N`.
"""

api = NinjaAPI(
    title="Preflight API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=ServerDocs(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)

api.add_router("", evidence)
api.add_router("", reviews)
api.add_router("", portfolio)
api.add_router("", checklists)


def urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """What ``path("api/v1/", ...)`` includes: ninja's patterns, with JSON 405s."""
    patterns, app_name, namespace = api.urls
    return errors.with_json_405(patterns), app_name, namespace
