from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path, register_converter

from portal import errors, health
from portal.api import urls as api
from portal.converters import IdConverter

# <id:...> in every urls.py of the project (and {id:...} in the API's paths): before the
# includes below, and api.urls(), read them.
register_converter(IdConverter, "id")

admin.site.site_header = "Preflight administration"
admin.site.site_title = "Preflight admin"
# The admin signs in through allauth too: same rate limits, MFA and audit events.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

# JSON under /api/, the site's error pages everywhere else.
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("robots.txt", health.robots_txt, name="robots_txt"),
    # The API (portal/api/): every operation, its OpenAPI document and its docs page.
    path("api/v1/", api.urls()),
    # Every other path under /api/ answers the API's JSON 404, never an HTML page.
    re_path(r"^api(?:/.*)?$", errors.api_not_found),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("checklists/", include("checklists.urls")),
    path("activity/", include("portal.audit.urls")),
    path("", include("reviews.urls")),
    path("", include("portal.accounts.urls")),
]
