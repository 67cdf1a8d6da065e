from django.urls import path

from portal.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("administration/", views.administration, name="administration"),
    path("me/", views.profile, name="profile"),
    path("me/api-tokens/", views.api_token_create, name="api_token_create"),
    path("me/api-tokens/<id:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
]
