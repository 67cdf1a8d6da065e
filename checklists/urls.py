from django.urls import path

from checklists import views

app_name = "checklists"
urlpatterns = [path("", views.library, name="library")]
