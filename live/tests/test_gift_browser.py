"""Gifting in real browsers against the real ASGI server: a viewer with coins (credited through
credit_coins: the coins page is another branch's) opens the drawer on a 390 px screen and sends
a gift; the host's page shows the animation, the ranking and the goal moving."""

import pytest

from gifts import wallet
from gifts.models import GiftSend
from gifts.tests.factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins
from live.gifting.services import set_gift_goal
from live.tests.conftest import reset_room
from live.tests.gift_support import gift_writer  # noqa: F401 - a fixture
from live.tests.selling_support import live_session
from live.tests.test_live_browser import open_live_page
from shops.tests.factories import ShopFactory

pytestmark = [
    pytest.mark.usefixtures("gift_writer"),
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def test_a_viewer_sends_a_gift_and_the_hosts_page_shows_it_and_the_goal_moves(asgi_server, browser):
    host = AdultCreatorFactory(handle="mia", display_name="Mia")
    session = live_session(ShopFactory(owner=host, currency="USD"))
    reset_room(session.pk)
    GiftFactory(name="Rose", slug="rose", coins=1, is_comboable=True)
    crown = GiftFactory(name="Crown", slug="crown", coins=50)
    set_gift_goal(session=session, by=host, coins=200, title="New mic")
    sam = AdultFactory(handle="sam", display_name="Sam")
    give_coins(sam, 120)

    viewer_ctx, viewer = open_live_page(
        browser, asgi_server, sam, session, viewport={"width": 390, "height": 844}
    )
    host_ctx, host_page = open_live_page(
        browser, asgi_server, host, session, viewport={"width": 1200, "height": 900}
    )
    try:
        host_page.locator("#gift-goal-count", has_text="0 / 200 coins").wait_for(timeout=10000)
        assert host_page.locator("#gift-drawer").count() == 0

        viewer.click("#gift-drawer summary")
        tile = viewer.locator(f'.gift-tile[data-gift-id="{crown.pk}"]')
        # Priced in coins and money; the balance beside them; it fits a phone.
        assert "50 coins" in tile.inner_text()
        assert "$0.65" in tile.inner_text()
        assert viewer.inner_text("#gift-balance") == "120"
        assert viewer.evaluate("document.documentElement.scrollWidth") <= 390
        tile.click()

        # The host's page: the animation over the video, Sam on top, the goal at 50 of 200.
        host_page.locator(".gift-anim[data-gift='Crown']").wait_for(timeout=10000)
        host_page.locator("#top-gifters", has_text="Sam").wait_for()
        host_page.locator("#gift-goal-count", has_text="50 / 200 coins").wait_for()
        assert host_page.get_attribute("#gift-goal-bar", "aria-valuenow") == "50"
        # The sender's balance follows the ack.
        viewer.locator("#gift-balance", has_text="70").wait_for(timeout=10000)
    finally:
        viewer_ctx.close()
        host_ctx.close()
    assert wallet.wallet_balance(sam) == 70
    assert GiftSend.objects.filter(sender=sam, session_id=session.pk).count() == 1
