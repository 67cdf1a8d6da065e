from django.urls import path

from reviews import views

app_name = "reviews"
urlpatterns = [
    path("services/", views.services, name="services"),
    path("queue/", views.queue, name="queue"),
    path("portfolio/", views.portfolio, name="portfolio"),
]
