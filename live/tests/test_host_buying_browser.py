"""In real browsers: on the host's own live page the pinned product and the running deal come
with host controls and no "Buy now"; a viewer of the same room gets "Buy now"."""

import pytest

from live.selling import services as selling
from live.tests.conftest import reset_room
from live.tests.test_live_browser import open_live_page

from .selling_support import live_session, product_with_variant

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def test_the_host_sees_host_controls_and_no_buy_now_while_a_viewer_sees_buy_now(
    asgi_server, browser, shop, creator, shopper
):
    product, _ = product_with_variant(shop, price_amount=2000, quantity=5)
    session = live_session(shop, product)
    reset_room(session.pk)  # session ids restart with each test database; Redis remembers
    selling.pin_product(session=session, product=product, by=creator)
    selling.start_deal(
        session=session, product=product, price_amount=1500, quantity=2, duration_seconds=60,
        by=creator,
    )  # fmt: skip
    host_ctx, host = open_live_page(
        browser, asgi_server, creator, session, viewport={"width": 1200, "height": 900}
    )
    viewer_ctx, viewer = open_live_page(
        browser, asgi_server, shopper, session, viewport={"width": 390, "height": 844}
    )
    try:
        viewer.locator("#buy-form button", has_text="Buy now").wait_for(timeout=10000)
        host.locator("#deal:not([hidden])").wait_for(timeout=10000)
        host.locator("#pinned-body", has_text=product.title).wait_for(timeout=10000)
        assert host.locator("#buy-form").count() == 0
        assert host.locator(".buy-now").count() == 0
        assert host.locator("#host-controls").is_visible()
        assert host.locator("#unpin").is_visible()
    finally:
        host_ctx.close()
        viewer_ctx.close()
