"""/account/privacy/: download my data, delete my account; `privacy` namespace."""

from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("", views.privacy, name="page"),
    path("export/", views.request_export, name="export"),
    path("exports/<uuid:export_id>/", views.download, name="download"),
    path("delete/", views.delete_account, name="delete"),
]
