from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from portal import health
from reviews.api import push_evidence

admin.site.site_header = "Preflight administration"
admin.site.site_title = "Preflight admin"
# The admin signs in through allauth too: same rate limits, MFA and audit events.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("robots.txt", health.robots_txt, name="robots_txt"),
    path("api/v1/evidence", push_evidence, name="api_push_evidence"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("checklists/", include("checklists.urls")),
    path("activity/", include("portal.audit.urls")),
    path("", include("reviews.urls")),
    path("", include("portal.accounts.urls")),
]
