"""Live pages and media-server callbacks, mounted at /live/ in the `live` namespace; each
subpackage lists its own routes."""

from django.urls import include, path

app_name = "live"

urlpatterns = [
    path("", include("live.watch.urls")),
    path("", include("live.selling.urls")),
    path("", include("live.stream.urls")),
]
