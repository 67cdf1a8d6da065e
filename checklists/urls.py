from django.urls import path

from checklists import views

app_name = "checklists"
urlpatterns = [
    path("", views.library, name="library"),
    path("import/", views.import_checklist, name="import"),
    path("<slug:slug>/", views.checklist_detail, name="checklist"),
    path("<slug:slug>/compare/", views.version_compare, name="compare"),
    path("<slug:slug>/v<id:number>/", views.version_detail, name="version"),
    path("<slug:slug>/v<id:number>/publish/", views.version_publish, name="publish"),
    path("<slug:slug>/v<id:number>/new-draft/", views.version_new_draft, name="new_draft"),
]
