"""Media-server callbacks in the nginx-rtmp style: a form POST with the stream key as `name`.

on_publish: 3xx (Location: the session's public name, so the stream is renamed and the key
never reaches viewers) to accept, 403 to refuse (the media server then drops the stream).
on_publish_done: the stream stopped, the session ends.
"""

import logging

from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shopfeed.errors import ShopFeedError

from . import media
from . import services as sessions

log = logging.getLogger(__name__)


def _allowed(request) -> bool:
    return media.hook_request_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        secret=request.GET.get("secret", ""),
        proxied="HTTP_X_FORWARDED_FOR" in request.META,
    )


@csrf_exempt  # called by the media server, which has no session; checked by _allowed
@require_POST
def on_publish(request):
    if not _allowed(request):
        return HttpResponseForbidden("Not a media server we know.")
    try:
        session = sessions.handle_publish(stream_key=request.POST.get("name", ""))
    except ShopFeedError as exc:
        log.info("live: publish refused (%s) from %s", exc.code, request.POST.get("addr", "?"))
        return HttpResponseForbidden(exc.message)
    response = HttpResponse(status=302)
    response["Location"] = media.public_name(session)
    return response


@csrf_exempt
@require_POST
def on_publish_done(request):
    if not _allowed(request):
        return HttpResponseForbidden("Not a media server we know.")
    try:
        sessions.handle_publish_done(stream_key=request.POST.get("name", ""))
    except ShopFeedError as exc:
        return HttpResponse(exc.message, status=exc.status_code)
    return HttpResponse("ended")
