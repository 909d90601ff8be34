"""What each business event posts to the ledger. Every function is idempotent by reference.

Accounts (per currency): buyer payments clearing (platform-wide, goes negative as buyers pay),
seller payable (per shop, held until the hold period after delivery passes), seller available
(withdrawable), platform revenue (fees), payouts in transit (per shop), paid out (external).
"""

from ..models import Order, Payout, Refund
from . import services as ledger
from .models import LedgerAccount, LedgerTransaction

Kind = LedgerAccount.Kind


def _acct(kind, currency, shop=None):
    return ledger.account(kind=kind, currency=currency, shop=shop)


def fee_refunded(order: Order, refunded_amount: int) -> int:
    """The part of the fee given back once `refunded_amount` has been refunded in total.

    Cumulative, so that a full refund in several parts gives back exactly the whole fee.
    """
    if order.total_amount == 0:
        return 0
    return refunded_amount * order.fee_amount // order.total_amount


def seller_net(order: Order) -> int:
    """What the seller is owed for this order now, after refunds."""
    refunded = order.refunded_amount
    return (order.total_amount - refunded) - (order.fee_amount - fee_refunded(order, refunded))


def post_sale(order: Order) -> LedgerTransaction:
    c = order.currency
    return ledger.post(
        reference=f"sale:order:{order.pk}",
        kind="sale",
        memo=f"Order {order.pk} paid",
        entries=[
            (_acct(Kind.BUYER_CLEARING, c), -order.total_amount),
            (_acct(Kind.SELLER_PAYABLE, c, order.shop), order.total_amount - order.fee_amount),
            (_acct(Kind.PLATFORM_REVENUE, c), order.fee_amount),
        ],
    )


def post_refund(refund: Refund, *, refunded_before: int) -> LedgerTransaction:
    """Reverse a sale in proportion: `refunded_before` is the order's refunded total before it."""
    order = refund.order
    c = order.currency
    fee_part = fee_refunded(order, refunded_before + refund.amount) - fee_refunded(
        order, refunded_before
    )
    # Before release the money is still held; after it, it comes out of the withdrawable
    # balance (which may go negative and is then netted against later sales).
    seller_kind = Kind.SELLER_AVAILABLE if order.released_at else Kind.SELLER_PAYABLE
    return ledger.post(
        reference=f"refund:{refund.pk}",
        kind="refund",
        memo=f"Refund {refund.pk} on order {order.pk}",
        entries=[
            (_acct(Kind.BUYER_CLEARING, c), refund.amount),
            (_acct(seller_kind, c, order.shop), -(refund.amount - fee_part)),
            (_acct(Kind.PLATFORM_REVENUE, c), -fee_part),
        ],
    )


def post_release(order: Order) -> LedgerTransaction | None:
    """Move the order's held payable to the seller's withdrawable balance."""
    net = seller_net(order)
    if net <= 0:
        return None
    c = order.currency
    return ledger.post(
        reference=f"release:order:{order.pk}",
        kind="release",
        memo=f"Order {order.pk} hold passed",
        entries=[
            (_acct(Kind.SELLER_PAYABLE, c, order.shop), -net),
            (_acct(Kind.SELLER_AVAILABLE, c, order.shop), net),
        ],
    )


def post_payout_reserved(payout: Payout) -> LedgerTransaction:
    c = payout.currency
    return ledger.post(
        reference=f"payout:{payout.pk}:reserve",
        kind="payout",
        memo=f"Payout {payout.pk} created",
        entries=[
            (_acct(Kind.SELLER_AVAILABLE, c, payout.shop), -payout.amount),
            (_acct(Kind.PAYOUTS_IN_TRANSIT, c, payout.shop), payout.amount),
        ],
    )


def post_payout_sent(payout: Payout) -> LedgerTransaction:
    c = payout.currency
    return ledger.post(
        reference=f"payout:{payout.pk}:sent",
        kind="payout",
        memo=f"Payout {payout.pk} sent ({payout.stripe_transfer_id})",
        entries=[
            (_acct(Kind.PAYOUTS_IN_TRANSIT, c, payout.shop), -payout.amount),
            (_acct(Kind.PAID_OUT, c), payout.amount),
        ],
    )


def post_payout_returned(payout: Payout) -> LedgerTransaction:
    """A payout that failed for good: the money is withdrawable again."""
    c = payout.currency
    return ledger.post(
        reference=f"payout:{payout.pk}:returned",
        kind="payout",
        memo=f"Payout {payout.pk} failed",
        entries=[
            (_acct(Kind.PAYOUTS_IN_TRANSIT, c, payout.shop), -payout.amount),
            (_acct(Kind.SELLER_AVAILABLE, c, payout.shop), payout.amount),
        ],
    )


def shop_balances(shop, currency: str) -> dict[str, int]:
    """A seller's figures for the dashboard, from the cached balances (kept under row locks)."""
    rows = dict(
        LedgerAccount.objects.filter(shop=shop, currency=currency).values_list(
            "kind", "balance_amount"
        )
    )
    pending = rows.get(Kind.SELLER_PAYABLE, 0)
    available = rows.get(Kind.SELLER_AVAILABLE, 0)
    in_transit = rows.get(Kind.PAYOUTS_IN_TRANSIT, 0)
    return {
        "pending": pending,
        "withdrawable": available,
        "in_transit": in_transit,
        "balance": pending + available + in_transit,
    }
