"""After a session: what the creator sees (peak and total viewers, chat, orders, revenue, best
seller, gifts). Orders count when paid; a sale belongs to the session it was bought from (source
"live", source_ref the session id)."""

from dataclasses import dataclass

from django.db.models import Count, Max, Q, Sum

from live.gifting.selectors import SessionGifts, session_gifts
from live.models import ChatMessage, LiveSession, SessionViewer
from orders.models import Order, OrderItem, SaleSource

# Orders whose money came in (refunds are subtracted from revenue, not uncounted).
PAID_STATUSES = (
    Order.Status.PAID,
    Order.Status.SHIPPED,
    Order.Status.DELIVERED,
    Order.Status.COMPLETED,
)


@dataclass(frozen=True)
class BestSeller:
    product_id: int | None
    title: str
    units: int
    revenue_amount: int


@dataclass(frozen=True)
class SessionSummary:
    session_id: int
    peak_viewers: int
    total_viewers: int
    chat_messages: int
    chat_messages_removed: int
    orders: int
    units: int
    currency: str
    revenue_amount: int  # paid totals minus refunds, minor units
    refunded_amount: int
    best_seller: BestSeller | None
    gifts: SessionGifts


def session_orders(*, session: LiveSession):
    return Order.objects.filter(
        source=SaleSource.LIVE, source_ref=str(session.pk), status__in=PAID_STATUSES
    )


def session_summary(*, session: LiveSession) -> SessionSummary:
    orders = session_orders(session=session)
    money = orders.aggregate(
        n=Count("pk"), total=Sum("total_amount"), refunded=Sum("refunded_amount")
    )
    chat = ChatMessage.objects.filter(session=session).aggregate(
        kept=Count("pk", filter=Q(deleted_at__isnull=True)),
        removed=Count("pk", filter=Q(deleted_at__isnull=False)),
    )
    items = OrderItem.objects.filter(order__in=orders)
    best = (
        items.values("variant__product_id")
        .annotate(
            units=Sum("quantity"), revenue=Sum("line_total_amount"), title=Max("product_title")
        )
        .order_by("-units", "-revenue", "variant__product_id")
        .first()
    )
    currency = orders.values_list("currency", flat=True).first() or (
        session.shop.currency if session.shop_id else ""
    )
    total = money["total"] or 0
    refunded = money["refunded"] or 0
    return SessionSummary(
        session_id=session.pk,
        peak_viewers=session.peak_viewers,
        # The distinct-viewer rows are the record; the counter on the session is a cache of it.
        total_viewers=max(
            session.total_viewers, SessionViewer.objects.filter(session=session).count()
        ),
        chat_messages=chat["kept"],
        chat_messages_removed=chat["removed"],
        orders=money["n"],
        units=items.aggregate(units=Sum("quantity"))["units"] or 0,
        currency=currency,
        revenue_amount=total - refunded,
        refunded_amount=refunded,
        best_seller=BestSeller(
            product_id=best["variant__product_id"],
            title=best["title"],
            units=best["units"],
            revenue_amount=best["revenue"],
        )
        if best
        else None,
        gifts=session_gifts(session=session),
    )
