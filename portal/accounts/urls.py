from django.urls import path

from portal.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("administration/", views.administration, name="administration"),
    path("me/", views.profile, name="profile"),
]
