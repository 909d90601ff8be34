"""Feed pages; `feed` namespace. The For You feed is the home page."""

from django.urls import path

from . import views

app_name = "feed"

urlpatterns = [
    path("", views.for_you, name="for-you"),
    path("following/", views.following, name="following"),
    path("videos/search/", views.search, name="search"),
    path("v/<int:video_id>/", views.video_page, name="video"),
    path("feed/settings/", views.feed_settings, name="settings"),
    path("feed/how-it-works/", views.how_it_works, name="how-it-works"),
]
