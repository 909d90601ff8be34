"""Videos of the feed as places where a sale happens (SaleSource.VIDEO, source_ref = the
video's id). shopfeed.feed sits beside orders and below it: the feed never imports orders, so
orders wires the two at startup (OrdersConfig.ready) the way live does for its sessions:

- it registers the feed's check as the VIDEO source's validator, so a "buy now" from a video
  is credited to the video only if that video is watchable and has the product tagged;
- on a paid checkout it tells the feed which videos sold (the ranker's "bought from" signal).
"""

from orders.cart.validation import register_source_validator
from orders.models import Order, SaleSource
from orders.signals import checkout_paid
from shopfeed.feed.engagement.services import record_video_purchase
from shopfeed.feed.watching.selectors import video_sells_product


def _on_checkout_paid(sender, *, checkout_id: int, **kwargs) -> None:
    orders = Order.objects.filter(checkout_id=checkout_id, source=SaleSource.VIDEO).exclude(
        source_ref=""
    )
    for order_id, buyer_id, ref in orders.values_list("pk", "buyer_id", "source_ref"):
        if ref.isdigit():
            record_video_purchase(
                user_id=buyer_id, video_id=int(ref), order_ref=f"order-{order_id}"
            )


def connect() -> None:
    register_source_validator(SaleSource.VIDEO, video_sells_product)
    checkout_paid.connect(_on_checkout_paid, dispatch_uid="orders.video_sales.on_checkout_paid")
