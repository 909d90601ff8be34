"""The feed pages: the vertical feed (For You, Following, search; the home page), one video's
own page (the link people share), the viewer's feed settings and the page that states how
For You ranks. The feed itself is drawn by static/js/feed.js from the feed API."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from shopfeed.errors import ShopFeedError

from ..engagement import selectors as viewer_selectors
from ..engagement import services as engagement
from ..models import Video
from ..ranking import ranker
from . import selectors

TABS = ("for-you", "following", "search")


def _feed(request, *, tab: str, start_video: Video | None = None, query: str = ""):
    preference = viewer_selectors.preference_of(request.user)
    personalised = viewer_selectors.is_personalised(user=request.user, preference=preference)
    region = viewer_selectors.viewer_region(
        preference=preference, accept_language=request.headers.get("Accept-Language", "")
    )
    return render(
        request,
        "feed/feed.html",
        {
            "tab": tab,
            "query": query,
            "start_video": start_video,
            "personalised": personalised,
            "region": region,
        },
    )


def for_you(request):
    return _feed(request, tab="for-you")


@login_required
def following(request):
    return _feed(request, tab="following")


def search(request):
    return _feed(request, tab="search", query=request.GET.get("q", "").strip()[:100])


def video_page(request, video_id: int):
    videos = selectors.videos_in_order([video_id], viewer=request.user)
    if not videos:
        raise Http404("No such video.")
    return _feed(request, tab="for-you", start_video=videos[0])


class FeedSettingsForm(forms.Form):
    personalised = forms.BooleanField(
        required=False,
        label="Personalise For You",
        help_text="Off: For You shows what is popular in your region, the same for everyone "
        "there, and Following stays in time order. Nothing you watch, like or buy changes it.",
    )
    region = forms.CharField(
        required=False,
        max_length=2,
        label="Region",
        help_text="Two-letter country code (US, DE, ...). Empty: taken from your browser.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def feed_settings(request):
    preference = viewer_selectors.preference_of(request.user)
    if request.method == "POST":
        form = FeedSettingsForm(request.POST)
        if form.is_valid():
            try:
                engagement.set_feed_preference(user=request.user, **form.cleaned_data)
            except ShopFeedError as exc:
                form.add_error(exc.field or None, exc.message)
            else:
                messages.success(request, "Feed settings saved.")
                return redirect("feed:settings")
        return render(request, "feed/settings.html", {"form": form}, status=400)
    form = FeedSettingsForm(
        initial={
            "personalised": preference.personalised if preference else True,
            "region": preference.region if preference else "",
        }
    )
    return render(request, "feed/settings.html", {"form": form})


def how_it_works(request):
    """The main parameters of the For You ranking (EU DSA Art. 27), from the ranker itself."""
    return render(
        request,
        "feed/how_it_works.html",
        {
            "w": {
                "followed": ranker.W_FOLLOWED,
                "similar": ranker.W_SIMILAR,
                "rising": ranker.W_RISING,
                "fresh": ranker.W_FRESH,
                "popular": ranker.W_POPULAR,
                "skipped": ranker.W_SKIPPED,
                "not_interested": ranker.W_NOT_INTERESTED_CREATOR,
            },
            "r": ranker,
        },
    )
