from django.urls import path

from reviews import views

app_name = "reviews"
urlpatterns = [
    path("services/", views.services_list, name="services"),
    path("services/new/", views.service_create, name="service_create"),
    path("services/<slug:slug>/", views.service_detail, name="service"),
    path("services/<slug:slug>/edit/", views.service_edit, name="service_edit"),
    path("services/<slug:slug>/reviews/new/", views.review_start, name="review_start"),
    path("reviews/<int:pk>/", views.review_detail, name="review"),
    path("reviews/<int:pk>/answers/<int:answer_pk>/", views.answer_save, name="answer"),
    path("reviews/<int:pk>/<str:action>/", views.review_action, name="review_action"),
    path("queue/", views.queue, name="queue"),
    path("portfolio/", views.portfolio, name="portfolio"),
]
