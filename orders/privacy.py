"""What orders adds to "download my data" and "delete my account" (shopfeed.accounts.privacy;
registered in OrdersConfig.ready). Orders, checkouts and the ledger stay (the books must
balance and the seller keeps their sale); the shipping addresses inside them are cut to the
country. Saved addresses, carts and saved cards go with the account (the generic step)."""

from django.db.models import Prefetch

from orders.models import Address, Checkout, Order, OrderItem
from shopfeed.accounts.privacy.registry import register_eraser, register_exporter

KEPT_ADDRESS_FIELDS = ("country",)


def export_orders(user) -> list[dict]:
    orders = (
        Order.objects.filter(buyer=user)
        .select_related("shop")
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("id")))
        .order_by("created_at")
    )
    return [
        {
            "order": o.pk,
            "shop": o.shop.name,
            "status": o.status,
            "currency": o.currency,
            "total_amount": o.total_amount,
            "refunded_amount": o.refunded_amount,
            "source": o.source,
            "shipping_address": o.shipping_address,
            "created_at": o.created_at,
            "paid_at": o.paid_at,
            "items": [
                {
                    "product": i.product_title,
                    "variant": i.variant_label,
                    "quantity": i.quantity,
                    "unit_price_amount": i.unit_price_amount,
                }
                for i in o.items.all()
            ],
        }
        for o in orders
    ]


def export_addresses(user) -> list[dict]:
    fields = ("full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
    return list(Address.objects.filter(user=user).order_by("pk").values(*fields))


def _cut(address: dict) -> dict:
    return {k: v for k, v in (address or {}).items() if k in KEPT_ADDRESS_FIELDS}


def anonymise_orders(user) -> None:
    for model in (Order, Checkout):
        for pk, address in model.objects.filter(buyer=user).values_list("pk", "shipping_address"):
            model.objects.filter(pk=pk).update(shipping_address=_cut(address))


def connect() -> None:
    register_exporter("orders", export_orders)
    register_exporter("addresses", export_addresses)
    register_eraser("orders", anonymise_orders)
