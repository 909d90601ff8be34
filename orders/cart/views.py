"""The cart page and its edits (add, change a quantity, remove). Rules live in
orders.cart.services and orders.cart.selectors; these views parse, call them, and render.
The request helpers at the top are shared with orders.checkout.views."""

from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from shopfeed.errors import NotFound, ShopFeedError

from ..models import Cart
from . import selectors, services

# --- helpers ---------------------------------------------------------------------------------


def _session_key(request, *, create: bool) -> str | None:
    key = request.session.get(services.SESSION_CART_KEY)
    if key is None and create:
        key = request.session[services.SESSION_CART_KEY] = services.new_session_key()
    return key


def request_cart(request, *, create: bool = False) -> Cart | None:
    """The signed-in shopper's cart, else the anonymous one of this session."""
    user = request.user if request.user.is_authenticated else None
    key = None if user else _session_key(request, create=create)
    if create:
        return services.get_or_create_cart(user=user, session_key=key)
    return selectors.get_cart(user=user, session_key=key)


def set_cart_count(request, count: int) -> None:
    if request.session.get(services.SESSION_COUNT_KEY) != count:
        request.session[services.SESSION_COUNT_KEY] = count


def safe_next(request, default: str = "") -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def _is_htmx(request) -> bool:
    return bool(getattr(request, "htmx", False))


def render_cart(request, *, error: str = "", status: int = 200, back: str = ""):
    cart = request_cart(request)
    summary = selectors.cart_summary(cart=cart, buyer=request.user)
    set_cart_count(request, summary.count)
    context = {"summary": summary, "error": error, "back": back}
    template = "orders/cart.html"
    if _is_htmx(request):
        # htmx does not swap 4xx answers; the error is in the swapped body instead.
        template, status = "orders/_cart_body.html", 200
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- cart ------------------------------------------------------------------------------------


@require_GET
def cart_page(request):
    return render_cart(request)


@require_POST
def cart_add(request):
    back = safe_next(request)
    try:
        variant = selectors.get_buyable_variant(variant_id=request.POST.get("variant_id"))
        cart = request_cart(request, create=True)
        services.add_to_cart(
            cart=cart,
            variant=variant,
            quantity=request.POST.get("quantity", 1),
            source=request.POST.get("source"),
            source_ref=request.POST.get("source_ref", ""),
            buyer=request.user,
        )
    except ShopFeedError as exc:
        return render_cart(request, error=exc.message, status=exc.status_code, back=back)
    set_cart_count(request, selectors.item_count(cart=cart))
    return redirect("orders:cart")


@require_POST
def cart_item_update(request, item_id):
    error, status = "", 200
    try:
        cart = request_cart(request)
        if cart is None:
            raise NotFound("That item is not in your cart.")
        services.update_cart_item(cart=cart, item_id=item_id, quantity=request.POST.get("quantity"))
    except ShopFeedError as exc:
        error, status = exc.message, exc.status_code
    if _is_htmx(request) or error:
        return render_cart(request, error=error, status=status)
    return redirect("orders:cart")


@require_POST
def cart_item_remove(request, item_id):
    error, status = "", 200
    try:
        cart = request_cart(request)
        if cart is None:
            raise NotFound("That item is not in your cart.")
        services.remove_cart_item(cart=cart, item_id=item_id)
    except ShopFeedError as exc:
        error, status = exc.message, exc.status_code
    if _is_htmx(request) or error:
        return render_cart(request, error=error, status=status)
    return redirect("orders:cart")
