"""Coin buying's domain errors; the API, pages and admin show the message and the code."""

from shopfeed.errors import Conflict, NotAllowed, NotFound

from ..errors import GiftingError


class CoinPackUnavailable(NotFound):
    """That coin pack is not on sale."""

    code = "pack_unavailable"

    def __init__(self, message: str = ""):
        super().__init__(message, field="pack")


class InvalidCoinAmount(GiftingError):
    """Enter a whole number of coins."""

    code = "invalid_coins"

    def __init__(self, message: str = ""):
        super().__init__(message, field="coins")


class CurrencyNotSold(GiftingError):
    """Coins are not sold in that currency."""

    code = "currency_not_sold"

    def __init__(self, message: str = ""):
        super().__init__(message, field="currency")


class CoinBuyingFrozen(NotAllowed):
    """Buying coins is paused on your account while a card dispute is open; contact support."""

    code = "buying_frozen"


class TooManyPendingPurchases(GiftingError):
    """You have too many unfinished coin purchases: pay or wait for them to lapse."""

    code = "too_many_pending"
    status_code = 429


class PurchaseNotPayable(Conflict):
    """This coin purchase cannot be paid any more."""

    code = "purchase_closed"


class RefundWindowClosed(Conflict):
    """Unused coins can be refunded only within the refund window."""

    code = "refund_window_closed"


class NothingToRefund(Conflict):
    """None of this purchase's coins are left unused."""

    code = "nothing_to_refund"
