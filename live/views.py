"""Live pages: the creator's studio (schedule, stream setup, go live / end) and the shopper's
"Live now" list and live page. Rules live in live.sessions; these views parse and render.

A session that is not the signed-in creator's own (and they are not staff) does not exist
in the studio: 404, nothing changes, the stream key is never shown.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders import addresses, cards, payments
from orders.cart_views import AddressForm
from shopfeed.errors import NotFound, ShopFeedError
from shops.forms import add_service_error
from shops.models import Shop, Variant
from shops.selectors import owned_shop

from . import media, selectors, selling, sessions
from .bus import get_bus
from .forms import SessionForm
from .models import ChatMessage, LiveSession
from .summary import session_summary

CHAT_HISTORY = 50


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
            _save_changes(request, session, form)
        except (ShopFeedError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("live:manage", pk=session.pk)
    return _manage_page(request, session, form=form, status=400)


def _save_changes(request, session: LiveSession, form: SessionForm) -> None:
    with transaction.atomic():
        fields = {"title": form.cleaned_data["title"], "cover": form.cleaned_data.get("cover")}
        if session.status == LiveSession.Status.SCHEDULED:
            fields["scheduled_at"] = form.cleaned_data["scheduled_at"]
        sessions.update_session(session=session, by=request.user, **fields)
        if form.lineup_ids() != selectors.lineup_product_ids(session):
            sessions.set_lineup(session=session, by=request.user, product_ids=form.lineup_ids())


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


# --- shoppers ------------------------------------------------------------------------------------


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


def _chat_history(session: LiveSession) -> list[dict]:
    rows = (
        ChatMessage.objects.filter(session=session, deleted_at__isnull=True)
        .select_related("user")
        .order_by("-created_at", "-id")[:CHAT_HISTORY]
    )
    return [
        {"id": m.pk, "user": {"handle": m.user.handle, "name": m.user.name}, "text": m.text}
        for m in reversed(rows)
    ]


def _snapshot(session: LiveSession) -> dict:
    """What the page starts from before the socket's "hello" (same shapes as the protocol)."""
    # Read the bus position first: the socket resumes from it, so nothing after it is lost.
    data = selectors.room_snapshot(session, last_id=get_bus().last_id(session.pk))
    return {**data, "viewers": None, "chat": _chat_history(session)}


@require_GET
def watch(request, pk):
    try:
        session = selectors.get_watchable_session(session_id=pk, user=request.user)
    except LiveSession.DoesNotExist:
        raise Http404("No such live session.") from None
    user = request.user
    is_host = user.is_authenticated and (user.pk == session.host_id or user.is_staff)
    snapshot = _snapshot(session)
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
            "max_chat": settings.LIVE_CHAT_MAX_LENGTH,
        },
    }
    return render(request, "live/watch.html", context)


# --- buying ------------------------------------------------------------------------------------


def _quantity(raw) -> int:
    try:
        quantity = int(raw or 1)
    except (TypeError, ValueError):
        raise ShopFeedError("Quantity must be a whole number.", field="quantity") from None
    if not 1 <= quantity <= 99:
        raise ShopFeedError("Quantity must be between 1 and 99.", field="quantity")
    return quantity


def _variant(raw) -> Variant:
    try:
        return Variant.objects.select_related("product", "shop").get(
            pk=int(raw), shop__status=Shop.Status.ACTIVE
        )
    except (Variant.DoesNotExist, TypeError, ValueError):
        raise NotFound("Choose an option of the pinned product.", code="no_such_variant") from None


def _buy_page(request, session, *, variant=None, quantity=1, form=None, error="", status=200):
    price = None
    if variant is not None:  # what the buyer will pay: the deal price while one runs
        price = variant.price_amount
        deal = selling.active_deal(session_id=session.pk, product_id=variant.product_id)
        if deal is not None and deal.deal_price_amount < price:
            price = deal.deal_price_amount
    return render(
        request,
        "live/buy.html",
        {
            "session": session,
            "variant": variant,
            "unit_price_amount": price,
            "quantity": quantity,
            "form": form,
            "error": error,
            "deal_id": request.POST.get("deal_id", ""),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def buy(request, pk):
    """One tap from the live page: the buyer's default address, straight to paying.

    No saved address yet: ask for one (saved as the default), then carry on. With a saved
    card too, the tap pays with it and goes to the done page."""
    try:
        session = selectors.get_watchable_session(session_id=pk, user=request.user)
    except LiveSession.DoesNotExist:
        raise Http404("No such live session.") from None
    if request.method == "GET":  # back from logging in: the live page has the buttons
        return redirect("live:watch", pk=session.pk)
    try:
        variant = _variant(request.POST.get("variant_id"))
        quantity = _quantity(request.POST.get("quantity"))
    except ShopFeedError as exc:
        return _buy_page(request, session, error=exc.message, status=exc.status_code)

    address = addresses.list_addresses(user=request.user).first()
    form = None
    if request.POST.get("address_form") == "1":
        form = AddressForm(request.POST)
        if not form.is_valid():
            return _buy_page(
                request, session, variant=variant, quantity=quantity, form=form, status=400
            )
    elif address is None:
        return _buy_page(request, session, variant=variant, quantity=quantity, form=AddressForm())

    try:
        # The new address and the purchase happen together or not at all.
        with transaction.atomic():
            if form is not None:
                data = {k: v for k, v in form.cleaned_data.items() if k != "save_address"}
                address = addresses.save_address(user=request.user, data=data, make_default=True)
            checkout = selling.live_buy_now(
                session=session, buyer=request.user, variant=variant, quantity=quantity,
                address=address, deal_id=request.POST.get("deal_id") or None,
            )  # fmt: skip
    except ValidationError as exc:
        if form is None:
            return _buy_page(request, session, error="; ".join(exc.messages), status=400)
        add_service_error(form, exc)
        return _buy_page(
            request, session, variant=variant, quantity=quantity, form=form, status=400
        )
    except ShopFeedError as exc:
        return _buy_page(
            request, session, variant=variant, quantity=quantity, error=exc.message,
            status=exc.status_code,
        )  # fmt: skip
    if form is None and cards.default_card(user=request.user) is not None:
        # Saved address and saved card: one tap pays; the done page waits for Stripe.
        try:
            payments.pay_with_saved_card(checkout=checkout, by=request.user)
        except ShopFeedError as exc:  # declined: the checkout stays open for the pay page
            messages.error(request, exc.message)
            return redirect("orders:checkout-pay", checkout_id=checkout.pk)
        return redirect("orders:checkout-done", checkout_id=checkout.pk)
    return redirect("orders:checkout-pay", checkout_id=checkout.pk)
