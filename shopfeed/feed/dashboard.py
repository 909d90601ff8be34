"""Creator pages for videos (the upload page and the video list under /dashboard/videos/)
and the viewer's report page. Rules live in the feed's services; these views parse and
render. A video that is not the signed-in creator's own is a 404 here and nothing changes."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shopfeed.errors import ShopFeedError
from shops.models import Product
from shops.selectors import owned_shop

from . import moderation, posting, selectors
from .forms import ReportForm
from .models import CAPTION_MAX_LENGTH, MAX_TAGGED_PRODUCTS, Video

UNFINISHED = (Video.Status.UPLOADED, Video.Status.PROCESSING)


def _creator_only(request):
    if not request.user.is_creator:
        messages.info(request, "Become a creator to post videos.")
        return redirect("shops:dashboard")
    return None


@login_required
@require_GET
def video_list(request):
    if refusal := _creator_only(request):
        return refusal
    videos = list(selectors.videos_of_creator(creator=request.user)[:100])
    return render(
        request,
        "feed/dashboard/video_list.html",
        {
            "shop": owned_shop(request.user),
            "active": "videos",
            "videos": videos,
            "processing": any(v.status in UNFINISHED for v in videos),
            "now": timezone.now(),
        },
    )


@login_required
@require_GET
def video_upload(request):
    if refusal := _creator_only(request):
        return refusal
    shop = owned_shop(request.user)
    products = (
        Product.objects.filter(shop=shop, status=Product.Status.ACTIVE).order_by("title")
        if shop and not shop.is_suspended
        else Product.objects.none()
    )
    return render(
        request,
        "feed/dashboard/video_upload.html",
        {
            "shop": shop,
            "active": "video-new",
            "products": products,
            "visibilities": Video.Visibility.choices,
            "max_products": MAX_TAGGED_PRODUCTS,
            "caption_max": CAPTION_MAX_LENGTH,
            "max_bytes": settings.VIDEO_UPLOAD_MAX_BYTES,
            "chunk_bytes": settings.VIDEO_UPLOAD_CHUNK_BYTES,
            "max_mb": settings.VIDEO_UPLOAD_MAX_BYTES // 1_048_576,
            "min_seconds": settings.VIDEO_MIN_SECONDS,
            "max_seconds": settings.VIDEO_MAX_SECONDS,
            "max_minutes": settings.VIDEO_MAX_SECONDS // 60,
            "endpoint": reverse("feed_api:upload-create"),
        },
    )


@login_required
@require_POST
def video_delete(request, pk: int):
    video = get_object_or_404(Video, pk=pk, creator=request.user)
    posting.delete_video(video=video, by=request.user)
    messages.success(request, "The video is deleted.")
    return redirect("feed_dashboard:videos")


@login_required
@require_http_methods(["GET", "POST"])
def video_report(request, pk: int):
    video = get_object_or_404(selectors.published_videos(), pk=pk)
    form = ReportForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                moderation.report_video(video=video, reporter=request.user, **form.cleaned_data)
            except ShopFeedError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                return render(request, "feed/report_done.html", {"video": video})
        else:
            status = 400
    return render(request, "feed/report.html", {"video": video, "form": form}, status=status)
