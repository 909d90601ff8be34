"""The live page in real browsers against the real ASGI server (HTTP + WebSocket, Redis bus):
the host pins a product, a viewer in another browser context sees it appear and buys it."""

import re

import pytest

from live.stream import services as sessions
from live.tests.conftest import reset_room, session_cookie
from orders.models import Checkout
from orders.tests.factories import AddressFactory
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shops.models import Variant
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def open_live_page(browser, server, user, session, *, viewport):
    context = browser.new_context(viewport=viewport)
    context.add_cookies(
        [{"name": "sessionid", "value": session_cookie(user), "url": server.origin}]
    )
    page = context.new_page()
    page.goto(f"{server.origin}/live/{session.pk}/")
    page.wait_for_selector("#live-root[data-connected]", timeout=15000)
    return context, page


def test_host_pins_a_product_and_a_viewer_in_another_browser_sees_it_and_buys_it(
    asgi_server, browser
):
    from django.utils import timezone

    host = CreatorFactory(username="mia", handle="mia", display_name="Mia")
    shop = ShopFactory(owner=host, name="Mia's Closet")
    tote = ProductFactory(shop=shop, title="Canvas Tote")
    VariantFactory(product=tote, option1="", price_amount=1800, quantity=9)
    shirt = ProductFactory(shop=shop, title="Linen Shirt", option1_name="Size")
    VariantFactory(product=shirt, option1="S", price_amount=3900, quantity=0, position=0)
    medium = VariantFactory(product=shirt, option1="M", price_amount=4200, quantity=5, position=1)
    session = sessions.schedule_session(
        host=host, title="Friday drop", scheduled_at=timezone.now(), product_ids=[tote.pk, shirt.pk]
    )
    session = sessions.go_live(session=session, by=host)
    reset_room(session.pk)  # session ids restart with each test database; Redis remembers
    sam = UserFactory(username="sam", handle="sam")
    AddressFactory(user=sam)

    viewer_ctx, viewer = open_live_page(
        browser, asgi_server, sam, session, viewport={"width": 390, "height": 844}
    )
    host_ctx, host_page = open_live_page(
        browser, asgi_server, host, session, viewport={"width": 1200, "height": 900}
    )
    try:
        assert "No product pinned yet" in viewer.inner_text("#pinned-body")
        assert viewer.locator("#host-controls").count() == 0

        host_page.click(f'#lineup-list button.pin[data-product-id="{shirt.pk}"]')

        # The viewer's page learns it over its socket: no reload.
        viewer.locator("#pinned-body", has_text="Linen Shirt").wait_for(timeout=10000)
        host_page.locator("#lineup-list li.is-pinned", has_text="Linen Shirt").wait_for()
        # Sold-out sizes cannot be picked; the first size in stock is chosen.
        assert viewer.locator("#pinned-variant option[disabled]").inner_text().startswith("S")
        assert viewer.input_value("#pinned-variant") == str(medium.pk)
        assert viewer.inner_text("#pinned-price") == "$42.00"

        viewer.click("#buy-form button[type=submit]")
        viewer.wait_for_url(re.compile(r"/checkout/\d+/pay/$"), timeout=15000)
        landed_on = viewer.url
    finally:
        viewer_ctx.close()
        host_ctx.close()

    checkout = Checkout.objects.get(buyer=sam)
    assert landed_on.endswith(f"/checkout/{checkout.pk}/pay/")
    order = checkout.orders.get()
    assert (order.source, order.source_ref) == ("live", str(session.pk))
    item = order.items.get()
    assert (item.variant_id, item.quantity, item.unit_price_amount) == (medium.pk, 1, 4200)
    assert Variant.objects.get(pk=medium.pk).quantity == 4
