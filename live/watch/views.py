"""The shopper's live pages: "Live now" and a session's live page. Buying from it is
live.selling.views; the room behind the page is live.room."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from live import selectors
from live.gifting.selectors import gift_drawer
from live.models import LiveSession
from live.room.snapshot import page_snapshot
from live.selling.selectors import sells_in
from live.stream import media


@require_GET
def live_now(request):
    viewer = request.user if request.user.is_authenticated else None
    return render(
        request,
        "live/live_now.html",
        {
            "live_sessions": list(selectors.list_live_now(viewer=viewer)),
            "upcoming": list(selectors.list_upcoming(viewer=viewer)),
        },
    )


@require_GET
def watch(request, pk):
    try:
        session = selectors.get_watchable_session(session_id=pk, user=request.user)
    except LiveSession.DoesNotExist:
        raise Http404("No such live session.") from None
    user = request.user
    is_host = user.is_authenticated and (user.pk == session.host_id or user.is_staff)
    snapshot = page_snapshot(session)
    currency = session.shop.currency if session.shop_id else None
    context = {
        "session": session,
        "host": session.host,
        "is_host": is_host,
        "snapshot": snapshot,
        "lineup": snapshot["lineup"],
        "player": {
            "hls": media.playback_url(session),
            "demo": media.demo_video_url(),
            "live": session.is_live,
        },
        "client": {
            "session_id": session.pk,
            "ws_path": f"/ws/live/{session.pk}/",
            "buy_url": reverse("live:buy", kwargs={"pk": session.pk}),
            "login_url": f"{reverse('login')}?next={request.path}",
            "me": user.handle if user.is_authenticated else None,
            "is_host": is_host,
            # The host cannot buy from their own shop: their page shows host controls instead.
            "can_buy": not sells_in(session=session, user=user),
            "max_chat": settings.LIVE_CHAT_MAX_LENGTH,
            # Gifts: the drawer (gifts priced in coins and money, the balance, top-up).
            "gifts": gift_drawer(user=user, currency=currency),
            "can_gift": user.is_authenticated and user.pk != session.host_id,
        },
    }
    return render(request, "live/watch.html", context)
