"""The Coins page (/coins/): packs with their money prices, the wallet's balance, buying a
pack or an exact amount (a card, or one tap with the saved card), the purchase history with
refunds of unused coins, and the pay and status pages of a purchase. Rules live in
gifts.coins.services; these views parse, call them and render."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orders import gateway
from orders.cards import services as cards
from orders.errors import CardDeclined, PaymentError
from shopfeed.errors import ShopFeedError

from . import selectors, services
from .forms import BuyCoinsForm
from .models import CoinPurchase


def _currency(request) -> str:
    try:
        return services.clean_currency((request.POST or request.GET).get("currency"))
    except ShopFeedError:
        return settings.DEFAULT_CURRENCY


def _need(request) -> int | None:
    raw = request.GET.get("need", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10**9 else None


def _render_page(request, *, form=None, error="", status=200):
    currency = _currency(request)
    context = selectors.coins_page(request.user, currency=currency)
    need = _need(request)
    if need is not None and form is None:
        # Top up exactly what a gift lacks (the card minimum may round it up: the page says so).
        exact = context["exact"]
        form = BuyCoinsForm(initial={"coins": max(need, exact.min_coins), "currency": currency})
        context["need"] = need
    context.update(
        form=form or BuyCoinsForm(initial={"currency": currency}),
        error=error,
        currencies=services.sold_currencies(),
        saved_card=cards.default_card(user=request.user),
    )
    return render(request, "gifts/coins.html", context, status=status)


@require_GET
def coins_page(request):
    return _render_page(request)


@require_POST
def buy(request):
    if not request.user.is_authenticated:
        # Back to the Coins page after logging in (this address takes only POSTs).
        return redirect_to_login(reverse("coins:page"))
    form = BuyCoinsForm(request.POST)
    if not form.is_valid():
        return _render_page(request, form=form, error="Check what you are buying.", status=400)
    data = form.cleaned_data
    kwargs = {
        "buyer": request.user,
        "pack": data["pack"],
        "coins": data["coins"],
        "currency": data["currency"] or None,
    }
    try:
        if data["one_tap"]:
            purchase = services.buy_with_saved_card(**kwargs)
            return redirect("coins:purchase", purchase_id=purchase.pk)
        purchase = services.start_purchase(**kwargs)
    except CardDeclined as exc:
        return _render_page(request, form=form, error=exc.message, status=402)
    except ShopFeedError as exc:
        if exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        return _render_page(request, form=form, error=exc.message, status=exc.status_code)
    return redirect("coins:pay", purchase_id=purchase.pk)


def _own(request, purchase_id) -> CoinPurchase:
    try:
        return services.get_own_purchase(user=request.user, purchase_id=purchase_id)
    except ShopFeedError:
        raise Http404("No such coin purchase.") from None


@login_required
@require_GET
def pay(request, purchase_id):
    purchase = _own(request, purchase_id)
    if purchase.status == CoinPurchase.Status.PAID:
        return redirect("coins:purchase", purchase_id=purchase.pk)
    error, status = "", 200
    if purchase.status == CoinPurchase.Status.PENDING:
        try:
            purchase = services.ensure_payment_intent(purchase=purchase)
        except ShopFeedError as exc:
            error, status = exc.message, exc.status_code
    context = {
        "purchase": purchase,
        "error": error,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "local_stripe": gateway.uses_local_stripe(),
        "saved_card": cards.default_card(user=request.user),
    }
    return render(request, "gifts/coins_pay.html", context, status=status)


@login_required
@require_POST
def pay_local_confirm(request, purchase_id):
    """localstripe only (development, tests): attach the tokenised card and confirm."""
    if not gateway.uses_local_stripe():
        raise Http404
    purchase = _own(request, purchase_id)
    try:
        pi = services.confirm_tokenised_card(
            purchase=purchase,
            by=request.user,
            payment_method=request.POST.get("payment_method", ""),
        )
    except PaymentError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=402)
    except ShopFeedError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if pi.status == "requires_action":
        return JsonResponse({"status": pi.status, "client_secret": pi.client_secret})
    return JsonResponse({"status": pi.status})


@login_required
@require_POST
def pay_save_card(request, purchase_id):
    """Asked by checkout.js just before the card is confirmed, when the box is ticked."""
    purchase = _own(request, purchase_id)
    save = request.POST.get("save", "1") == "1"
    try:
        services.request_card_saving(purchase=purchase, by=request.user, save=save)
    except ShopFeedError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return JsonResponse({"save": save})


@login_required
@require_POST
def pay_saved(request, purchase_id):
    purchase = _own(request, purchase_id)
    try:
        services.pay_with_saved_card(
            purchase=purchase, by=request.user, card_id=request.POST.get("card_id") or None
        )
    except ShopFeedError as exc:
        messages.error(request, exc.message)
        return redirect("coins:pay", purchase_id=purchase.pk)
    return redirect("coins:purchase", purchase_id=purchase.pk)


@login_required
@require_GET
def purchase_page(request, purchase_id):
    purchase = _own(request, purchase_id)
    return render(request, "gifts/coins_purchase.html", {"purchase": purchase})


@login_required
@require_GET
def purchase_status(request, purchase_id):
    """What the purchase page polls (htmx, every second) until Stripe confirms."""
    purchase = _own(request, purchase_id)
    return render(request, "gifts/_coins_purchase_status.html", {"purchase": purchase})


@login_required
@require_POST
def refund(request, purchase_id):
    purchase = _own(request, purchase_id)
    try:
        made = services.refund_unused_coins(purchase=purchase, by=request.user)
    except ShopFeedError as exc:
        return _render_page(request, error=exc.message, status=exc.status_code)
    messages.success(
        request,
        f"{made.coins:,} unused coins refunded; the money goes back to your card.",
    )
    return redirect("coins:page")
