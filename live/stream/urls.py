"""The studio and the media server's callbacks, included by live/urls.py in the `live`
namespace."""

from django.urls import path

from . import hooks, views

urlpatterns = [
    path("studio/", views.studio, name="studio"),
    path("studio/new/", views.schedule, name="schedule"),
    path("studio/<int:pk>/", views.manage, name="manage"),
    path("studio/<int:pk>/start/", views.start, name="start"),
    path("studio/<int:pk>/end/", views.end, name="end"),
    path("studio/<int:pk>/rotate-key/", views.rotate_key, name="rotate-key"),
    path("hooks/on-publish/", hooks.on_publish, name="hook-publish"),
    path("hooks/on-publish-done/", hooks.on_publish_done, name="hook-publish-done"),
]
