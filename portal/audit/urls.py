from django.urls import path

from portal.audit import verify_views, views

app_name = "audit"
urlpatterns = [
    path("", views.activity, name="activity"),
    path("export.csv", views.export, {"fmt": "csv"}, name="export_csv"),
    path("export.json", views.export, {"fmt": "json"}, name="export_json"),
    path("portfolio/export.csv", views.portfolio_export, {"fmt": "csv"}, name="portfolio_csv"),
    path("portfolio/export.json", views.portfolio_export, {"fmt": "json"}, name="portfolio_json"),
    path("records/<str:record_type>/<str:record_id>/", views.timeline, name="timeline"),
]
urlpatterns += [path("verify/", verify_views.verify, name="verify")]
