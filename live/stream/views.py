"""The creator's studio: schedule a live, set up the stream, go live, end. Rules live in
live.stream.services; these views parse and render.

A session that is not the signed-in creator's own (and they are not staff) does not exist
in the studio: 404, nothing changes, the stream key is never shown.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from live import selectors
from live.models import LiveSession
from shopfeed.errors import ShopFeedError
from shops.forms import add_service_error
from shops.selectors import owned_shop

from . import media
from . import services as sessions
from .forms import SessionForm
from .summary import session_summary

# --- helpers -------------------------------------------------------------------------------


def _managed(request, pk) -> LiveSession:
    try:
        return selectors.get_managed_session(session_id=pk, user=request.user)
    except LiveSession.DoesNotExist:
        raise Http404("No such live session.") from None


def _studio_context(request, **extra) -> dict:
    return {"shop": owned_shop(request.user), "active": "live", **extra}


# --- creator: studio ---------------------------------------------------------------------------


@login_required
@require_GET
def studio(request):
    shop = owned_shop(request.user)
    return render(
        request,
        "live/studio.html",
        _studio_context(
            request,
            sessions=list(selectors.host_sessions(host=request.user)),
            can_schedule=request.user.is_creator and shop is not None and not shop.is_suspended,
        ),
    )


def _default_start():
    return (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)


@login_required
@require_http_methods(["GET", "POST"])
def schedule(request):
    shop = owned_shop(request.user)
    if not request.user.is_creator or shop is None:
        messages.info(request, "Open your shop first: a live sells from your shopping tab.")
        return redirect("shops:dashboard")
    products = selectors.lineup_choices(shop=shop)
    if request.method == "GET":
        form = SessionForm(products=products, initial={"scheduled_at": _default_start()})
        return render(request, "live/schedule.html", _studio_context(request, form=form))
    form = SessionForm(request.POST, request.FILES, products=products)
    if form.is_valid():
        try:
            session = sessions.schedule_session(
                host=request.user,
                title=form.cleaned_data["title"],
                scheduled_at=form.cleaned_data["scheduled_at"],
                cover=form.cleaned_data.get("cover"),
                product_ids=form.lineup_ids(),
            )
        except (ShopFeedError, ValidationError) as exc:
            add_service_error(form, exc, field_names={"product_ids": "product_ids"})
        else:
            messages.success(request, "Live scheduled. Your stream key is below.")
            return redirect("live:manage", pk=session.pk)
    return render(request, "live/schedule.html", _studio_context(request, form=form), status=400)


def _manage_page(request, session: LiveSession, form=None, status=200):
    if form is None and session.status != LiveSession.Status.ENDED and session.shop_id:
        form = SessionForm(
            products=selectors.lineup_choices(shop=session.shop),
            initial={
                "title": session.title,
                "scheduled_at": timezone.localtime(session.scheduled_at),
                "product_ids": selectors.lineup_product_ids(session),
            },
        )
    context = _studio_context(
        request,
        session=session,
        form=form,
        lineup=selectors.lineup_cards(session),
        rtmp_server=media.ingest_server_url(),
        ingest_url=media.ingest_url(session),
        playback_url=media.playback_url(session),
        summary=session_summary(session=session)
        if session.status == LiveSession.Status.ENDED
        else None,
    )
    return render(request, "live/manage.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def manage(request, pk):
    session = _managed(request, pk)
    if request.method == "GET":
        return _manage_page(request, session)
    if session.shop_id is None or session.status == LiveSession.Status.ENDED:
        messages.error(request, "This live has ended; it cannot change.")
        return _manage_page(request, session, status=409)
    form = SessionForm(
        request.POST, request.FILES, products=selectors.lineup_choices(shop=session.shop)
    )
    if form.is_valid():
        try:
            sessions.update_session_and_lineup(
                session=session,
                by=request.user,
                title=form.cleaned_data["title"],
                scheduled_at=form.cleaned_data["scheduled_at"],
                cover=form.cleaned_data.get("cover"),
                product_ids=form.lineup_ids(),
            )
        except (ShopFeedError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("live:manage", pk=session.pk)
    return _manage_page(request, session, form=form, status=400)


def _act(request, pk, service, done: str):
    session = _managed(request, pk)
    try:
        service(session=session, by=request.user)
    except ShopFeedError as exc:
        messages.error(request, exc.message)
        return _manage_page(request, session, status=exc.status_code)
    messages.success(request, done)
    return redirect("live:manage", pk=session.pk)


@login_required
@require_POST
def start(request, pk):
    return _act(request, pk, sessions.go_live, "You are live.")


@login_required
@require_POST
def end(request, pk):
    return _act(request, pk, sessions.end_session, "The live has ended.")


@login_required
@require_POST
def rotate_key(request, pk):
    return _act(
        request, pk, sessions.rotate_stream_key, "New stream key: update it in your encoder."
    )
