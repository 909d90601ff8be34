"""Creator video pages (under /dashboard/videos/) and the report page."""

from django.urls import path

from . import dashboard

app_name = "feed_dashboard"

urlpatterns = [
    path("dashboard/videos/", dashboard.video_list, name="videos"),
    path("dashboard/videos/new/", dashboard.video_upload, name="video-new"),
    path("dashboard/videos/<int:pk>/delete/", dashboard.video_delete, name="video-delete"),
    path("videos/<int:pk>/report/", dashboard.video_report, name="video-report"),
]
