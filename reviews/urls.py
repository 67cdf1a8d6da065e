from django.urls import path

from reviews import queue, views
from reviews.audits import views as audit_views
from reviews.checks import views as check_views
from reviews.portfolio import views as portfolio_views
from reviews.record import views as record_views

app_name = "reviews"
urlpatterns = [
    path("services/", views.services_list, name="services"),
    path("services/new/", views.service_create, name="service_create"),
    path("services/<slug:slug>/", views.service_detail, name="service"),
    path("services/<slug:slug>/edit/", views.service_edit, name="service_edit"),
    path("services/<slug:slug>/reviews/new/", views.review_start, name="review_start"),
    path("reviews/<id:pk>/", views.review_detail, name="review"),
    path("reviews/<id:pk>/items/<id:answer_pk>/", views.item_detail, name="item"),
    path("reviews/<id:pk>/answers/<id:answer_pk>/", views.answer_save, name="answer"),
    path(
        "reviews/<id:pk>/answers/<id:answer_pk>/mark-met/", views.mark_met, name="answer_mark_met"
    ),
    path(
        "reviews/<id:pk>/answers/<id:answer_pk>/evidence/",
        views.evidence_add,
        name="evidence_add",
    ),
    path(
        "reviews/<id:pk>/answers/<id:answer_pk>/evidence/<id:evidence_pk>/withdraw/",
        views.evidence_withdraw,
        name="evidence_withdraw",
    ),
    path("evidence/<id:evidence_pk>/file/", views.evidence_file, name="evidence_file"),
    path("reviews/<id:pk>/answers/<id:answer_pk>/comments/", views.comment_add, name="comment_add"),
    path(
        "reviews/<id:pk>/answers/<id:answer_pk>/exceptions/",
        views.waiver_request,
        name="waiver_request",
    ),
    path(
        "reviews/<id:pk>/answers/<id:answer_pk>/exceptions/<id:waiver_pk>/decide/",
        views.waiver_decide,
        name="waiver_decide",
    ),
    path("reviews/<id:pk>/sign-off/", views.signoff, name="signoff"),
    path("reviews/<id:pk>/as-of/", record_views.review_as_of, name="review_as_of"),
    path("reviews/<id:pk>/audit-pack.zip", record_views.audit_pack, name="audit_pack"),
    path(
        "reviews/<id:pk>/changes-since-sign-off/",
        record_views.review_changes_since_signoff,
        name="review_changes_since_signoff",
    ),
    path(
        "reviews/<id:pk>/launch-audits/new/",
        audit_views.session_create,
        name="audit_session_create",
    ),
    path("launch-audits/<id:pk>/", audit_views.session_detail, name="audit_session"),
    path("launch-audits/<id:pk>/edit/", audit_views.session_edit, name="audit_session_edit"),
    path("services/<slug:slug>/journal/", audit_views.journal, name="journal"),
    path("journal/<id:pk>/edit/", audit_views.journal_note_edit, name="journal_note_edit"),
    path("reviews/<id:pk>/<str:action>/", views.review_action, name="review_action"),
    path("queue/", queue.queue, name="queue"),
    path("checks/", check_views.catalogue, name="check_catalogue"),
    path("checks/runs/", check_views.runs, name="check_runs"),
    path("checks/runs/<id:pk>/", check_views.run_detail, name="check_run"),
    path("services/<slug:slug>/check-now/", check_views.check_now, name="check_now"),
    path("services/<slug:slug>/tokens/", check_views.token_create, name="token_create"),
    path(
        "services/<slug:slug>/tokens/<id:pk>/revoke/",
        check_views.token_revoke,
        name="token_revoke",
    ),
    path("portfolio/", portfolio_views.portfolio, name="portfolio"),
    path("portfolio/heat-map/", portfolio_views.heat_map, name="portfolio_heat_map"),
    path("portfolio/trends/", portfolio_views.trends, name="portfolio_trends"),
    path("portfolio/export.csv", portfolio_views.export_csv, name="portfolio_csv"),
    path("portfolio/report/", portfolio_views.report, name="portfolio_report"),
]
