"""Factories for orders. Every row comes from the real services, so a test never re-implements
what it claims to exercise:

- `CheckoutFactory` / `OrderFactory`: checkout.services.start_checkout (stock reserved, one
  order per shop, unpaid).
- `PaidOrderFactory` and `pay_checkout`: paid the way a buyer pays. The PaymentIntent is made
  by payments.intents.ensure_payment_intent at localstripe, confirmed there with a test card as
  Stripe.js would, then settled by payments.settlement.settle, as the verified webhook's task
  does, and committed: stock kept, sold_count, the ledger's sale, the paid event, emails and
  the `checkout_paid` signal (card saving, live's receivers) all happen for real.
  Tests that make paid orders need the `localstripe` fixture (or `fake_connect`, which
  forwards to it).
- `ShippedOrderFactory`, `DeliveredOrderFactory`, `RefundFactory`: orders.fulfilment.services,
  by the shop's owner. Delivery is at the real clock's now: tests that move time pass
  `now=order.delivered_at + ...` to the payout services.
- `PayoutAccountFactory`: payouts.services.set_payout_destination, by the shop's owner.
- `AddressFactory`: addresses.services.save_address (the buyer's default by default).
- `SavedCardFactory`: a card attached to the buyer's Stripe Customer at localstripe, as a
  SetupIntent would leave it (our code saves cards only after a payment).
"""

import factory
from django.conf import settings

from orders import gateway
from orders.addresses import services as addresses
from orders.cards import services as cards
from orders.checkout.services import LineRequest, start_checkout
from orders.errors import PaymentError
from orders.fulfilment import services as fulfilment
from orders.models import Address, Checkout, Order, PayoutAccount, Refund, SavedCard
from orders.payments import intents, settlement
from orders.payouts import services as payouts
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import as_if_committed
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

from .payment_helpers import TEST_CARD, card_payment_method, pay

# The one test shipping address (complete: checkout refuses an address missing a field).
ADDRESS = {
    "full_name": "Sam Shopper",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "NY",  # 12345 is a New York ZIP code
    "postal_code": "12345",
    "country": "US",
}


class AddressFactory(factory.Factory):
    """A saved address of `user` (`data`, ADDRESS by default)."""

    class Meta:
        model = Address

    user = factory.SubFactory(UserFactory)
    data = factory.LazyFunction(lambda: dict(ADDRESS))
    make_default = True

    @classmethod
    def _create(cls, model_class, *, user, data, make_default):
        return addresses.save_address(user=user, data=data, make_default=make_default)


def _lines(o) -> list[LineRequest]:
    variants = o.variants or [o.variant or _new_variant(o)]
    return [LineRequest(v.pk, o.quantity) for v in variants]


def _new_variant(o):
    product = ProductFactory(shop=o.shop) if o.shop is not None else ProductFactory()
    return VariantFactory(product=product, price_amount=o.price_amount, quantity=o.stock)


class CheckoutFactory(factory.Factory):
    """An open checkout: `lines`, else `quantity` of each of `variants` (default: one new
    variant at `price_amount` with `stock` units, in `shop` or a new shop)."""

    class Meta:
        model = Checkout

    class Params:
        shop = None
        price_amount = 2500
        stock = 10
        quantity = 1
        variant = None
        variants = ()

    buyer = factory.SubFactory(UserFactory)
    lines = factory.LazyAttribute(_lines)
    address = factory.LazyFunction(lambda: dict(ADDRESS))

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError(f"{cls.__name__} makes rows through the services: use create()")

    @classmethod
    def _create(cls, model_class, *, buyer, lines, address):
        return start_checkout(buyer=buyer, lines=lines, address=address)


class OrderFactory(CheckoutFactory):
    """The one order of a new checkout (from one shop), unpaid."""

    class Meta:
        model = Order

    @classmethod
    def _create(cls, model_class, **kwargs):
        checkout = CheckoutFactory._create(Checkout, **kwargs)
        return cls._after_placed(checkout.orders.get())

    @classmethod
    def _after_placed(cls, order: Order) -> Order:
        return order


def pay_checkout(checkout: Checkout, *, card: str = TEST_CARD) -> Checkout:
    """Pay a checkout as a buyer does and settle it as the webhook's task does. The checkout is
    open, or was released after its PaymentIntent was made (a late payment)."""
    try:
        checkout = intents.ensure_payment_intent(checkout=checkout)
    except PaymentError as exc:
        raise RuntimeError(
            f"no PaymentIntent at {settings.STRIPE_API_BASE}: does the test use the "
            "`localstripe` fixture?"
        ) from exc
    confirmed = pay(checkout.payment_intent_id, card)
    assert confirmed["status"] == "succeeded", confirmed
    with as_if_committed():
        settled = settlement.settle(payment_intent_id=checkout.payment_intent_id)
    assert settled is not None, checkout
    assert settled.status == Checkout.Status.PAID, settled
    checkout.refresh_from_db()
    return checkout


class PaidOrderFactory(OrderFactory):
    """A new order, paid at localstripe and settled (see pay_checkout)."""

    @classmethod
    def _after_placed(cls, order: Order) -> Order:
        pay_checkout(order.checkout)
        order.refresh_from_db()
        return order


class ShippedOrderFactory(PaidOrderFactory):
    """Paid, then shipped by the shop's owner (the buyer is emailed)."""

    @classmethod
    def _after_placed(cls, order: Order) -> Order:
        order = super()._after_placed(order)
        with as_if_committed():
            fulfilment.ship_order(
                order=order, by=order.shop.owner, carrier="UPS", tracking_number="1Z999AA1"
            )
        order.refresh_from_db()
        return order


class DeliveredOrderFactory(ShippedOrderFactory):
    """Delivered now; its payable is withdrawable PAYOUT_HOLD_DAYS after `delivered_at`."""

    @classmethod
    def _after_placed(cls, order: Order) -> Order:
        order = super()._after_placed(order)
        fulfilment.mark_delivered(order=order, by=order.shop.owner)
        order.refresh_from_db()
        return order


class RefundFactory(factory.Factory):
    """A refund of part of a paid order, made by the shop's owner through Stripe."""

    class Meta:
        model = Refund

    order = factory.SubFactory(PaidOrderFactory)
    amount = 1000
    reason = ""

    @classmethod
    def _create(cls, model_class, *, order, amount, reason):
        with as_if_committed():
            return fulfilment.refund_order(
                order=order, by=order.shop.owner, amount=amount, reason=reason
            )


class PayoutAccountFactory(factory.Factory):
    """Where the shop's payouts go, named by its owner."""

    class Meta:
        model = PayoutAccount

    shop = factory.SubFactory(ShopFactory)
    stripe_account_id = "acct_1TestSeller00"

    @classmethod
    def _create(cls, model_class, *, shop, stripe_account_id):
        return payouts.set_payout_destination(
            shop=shop, by=shop.owner, stripe_account_id=stripe_account_id
        )


class SavedCardFactory(factory.django.DjangoModelFactory):
    """A card on the user's Stripe Customer at localstripe, kept without a payment (e.g.
    4000000000000341 attaches, then every charge on it fails, so no payment could save it)."""

    class Meta:
        model = SavedCard

    user = factory.SubFactory(UserFactory)
    number = TEST_CARD

    @classmethod
    def _create(cls, model_class, *, user, number):
        profile = cards.ensure_payment_profile(user=user)
        card = gateway.save_payment_method(
            card_payment_method(number), customer=profile.stripe_customer_id
        )
        return SavedCard.objects.create(
            user=user,
            payment_method_id=card.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
