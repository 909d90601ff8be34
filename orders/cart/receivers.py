"""Receivers of signals sent by layers below orders (Django's auth)."""

from .selectors import get_cart, item_count
from .services import SESSION_CART_KEY, SESSION_COUNT_KEY, merge_session_cart_into_user_cart


def merge_on_login(sender, request, user, **kwargs):
    """`user_logged_in` receiver: the anonymous cart follows the shopper into their account."""
    session = getattr(request, "session", None)
    if session is None:
        return
    key = session.pop(SESSION_CART_KEY, None)
    cart = merge_session_cart_into_user_cart(session_key=key, user=user) if key else None
    session[SESSION_COUNT_KEY] = item_count(cart=cart or get_cart(user=user))
