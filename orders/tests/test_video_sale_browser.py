"""A shopper at 390 px swipes through the video feed, likes a video, opens the product tagged
on it, buys it and pays with a test card: the order's source is the video. Real browser
(Debian's chromium), PostgreSQL, Redis, localstripe, webhooks and a Celery worker."""

import pytest

from orders.models import Order, SaleSource
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.feed.models import VideoLike, VideoPurchase
from shopfeed.feed.ranking import store
from shopfeed.feed.tests.factories import VideoFactory, VideoProductFactory
from shopfeed.testing import fill_address_form, fill_card_form, log_in_page, phone_page
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

from .test_checkout_browser import PHONE, _screenshot

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def test_shopper_swipes_likes_and_buys_the_product_tagged_on_a_video(
    browser, worker, stripe_webhooks_to, tmp_path
):
    store.flush_all()
    base = stripe_webhooks_to.url
    mia = CreatorFactory(username="mia", handle="mia")
    shop = ShopFactory(owner=mia, name="Mia's Closet")
    product = ProductFactory(shop=shop, title="Linen Shirt", handle="linen-shirt")
    variant = VariantFactory(product=product, option1="M", price_amount=3900, quantity=5)
    # Three videos people watched more come first; the tagged one is fourth.
    for i in range(3):
        VideoFactory(caption=f"Warm-up clip {i}", view_count=50 - i)
    tagged = VideoProductFactory(
        video__creator=mia, video__caption="Summer linen #fashion", product=product
    ).video
    UserFactory(username="sam", handle="sam")

    page, errors = phone_page(browser, PHONE, has_touch=True)

    log_in_page(page, base, "sam")

    page.goto(f"{base}/")
    page.locator(".slide").nth(3).wait_for(state="attached")
    assert page.locator(".slide.active .caption").inner_text() == "Warm-up clip 0"
    _screenshot(page, tmp_path, "feed-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Swipe up three times (one screen each) to the video with the shirt.
    for expected in ("Warm-up clip 1", "Warm-up clip 2", "Summer linen #fashion"):
        page.mouse.move(195, 400)
        page.mouse.wheel(0, 844)
        page.locator(".slide.active .caption", has_text=expected).wait_for()
    slide = page.locator(f".slide.active[data-video-id='{tagged.pk}']")
    assert slide.locator(".creator").inner_text() == "@mia"

    slide.locator(".like-btn").click()
    slide.locator(".like-btn[aria-pressed=true]").wait_for()
    assert slide.locator(".like-btn .n").inner_text() == "1"
    assert VideoLike.objects.filter(video=tagged, user__handle="sam").exists()

    slide.locator(".product-card", has_text="Linen Shirt").click()
    sheet = page.locator("#sheet")
    sheet.locator("#sheet-title", has_text="Linen Shirt").wait_for()
    assert "$39.00" in sheet.inner_text()
    _screenshot(page, tmp_path, "product-sheet-phone")
    sheet.locator("text=Buy now").click()
    page.wait_for_url(f"{base}/checkout/?buy_now=1")
    assert "$39.00" in page.inner_text(".checkout-summary")

    fill_address_form(page)
    page.click("text=Continue to payment")
    page.wait_for_url(f"{base}/checkout/*/pay/")
    fill_card_form(page)
    page.click("#pay-button")
    page.wait_for_url(f"{base}/checkout/*/done/")
    page.locator("#checkout-status.paid").wait_for(timeout=30_000)

    order = Order.objects.get()
    assert order.status == Order.Status.PAID
    assert (order.source, order.source_ref) == (SaleSource.VIDEO, str(tagged.pk))
    assert order.total_amount == 3900
    variant.refresh_from_db()
    assert variant.quantity == 4
    # The worker that marked it paid told the feed: "bought from" for the ranker.
    assert VideoPurchase.objects.filter(video=tagged, user__handle="sam").exists()
    assert errors == []
    page.context.close()
