"""Factories for live: sessions with a lineup, and orders bought in a room through the real
selling service (live_buy_now) and paid through the real payment path (orders' factories):
so the deal claim, the live order's source and, on payment, orders' `checkout_paid` signal
reaching live's receivers all happen for real. Paid ones need the `localstripe` fixture."""

import factory
from django.utils import timezone

from live.models import LineupItem, LiveSession
from live.selling import services as selling
from orders.models import Checkout
from orders.tests.factories import ADDRESS, pay_checkout
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ShopFactory


class LiveSessionFactory(factory.django.DjangoModelFactory):
    """A session of `shop` (on air by default), selling `lineup` (products) in that order."""

    class Meta:
        model = LiveSession
        skip_postgeneration_save = True

    shop = factory.SubFactory(ShopFactory)
    host = factory.SelfAttribute("shop.owner")
    title = "Friday drop"
    scheduled_at = factory.LazyFunction(timezone.now)
    status = LiveSession.Status.LIVE
    started_at = factory.LazyAttribute(
        lambda o: o.scheduled_at if o.status != LiveSession.Status.SCHEDULED else None
    )

    @factory.post_generation
    def lineup(self, create, products, **kwargs):
        for i, product in enumerate(products or ()):
            LineupItem.objects.create(session=self, product=product, position=i)


class LiveCheckoutFactory(factory.Factory):
    """An open checkout bought with the room's Buy now (at the deal price while a deal runs)."""

    class Meta:
        model = Checkout

    session = None  # required: the session whose lineup holds `variant`
    variant = None  # required
    buyer = factory.SubFactory(UserFactory)
    quantity = 1
    address = factory.LazyFunction(lambda: dict(ADDRESS))
    deal_id = None

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError(f"{cls.__name__} makes rows through the services: use create()")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return cls._after_bought(selling.live_buy_now(**kwargs))

    @classmethod
    def _after_bought(cls, checkout: Checkout) -> Checkout:
        return checkout


class PaidLiveCheckoutFactory(LiveCheckoutFactory):
    """Bought in the room, then paid at localstripe and settled (checkout_paid reaches live)."""

    @classmethod
    def _after_bought(cls, checkout: Checkout) -> Checkout:
        return pay_checkout(checkout)
