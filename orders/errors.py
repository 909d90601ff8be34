from shopfeed.errors import Conflict, ShopFeedError


class SoldOut(Conflict):
    """Sold out."""

    code = "sold_out"


class IllegalTransition(Conflict):
    """That cannot be done to the order in its current state."""

    code = "illegal_transition"


class PaymentError(ShopFeedError):
    """The payment provider refused the request."""

    code = "payment_error"
    status_code = 502


class RefundTooLarge(ShopFeedError):
    """A refund cannot exceed what was paid and not yet refunded."""

    code = "refund_too_large"


class CardDeclined(PaymentError):
    """Your card was declined — try another card."""

    code = "card_declined"
    status_code = 402
