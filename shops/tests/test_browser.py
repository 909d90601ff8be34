"""A creator lists a product in a real browser; a shopper finds it on the shopping tab."""

import pytest
from PIL import Image

from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.testing import log_in_page
from shops.models import Product
from shops.tests.factories import ShopFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_creator_adds_a_two_variant_product_and_a_shopper_finds_it_on_the_tab(
    live_server, browser, tmp_path, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the worker path is tested in test_tasks.py
    creator = CreatorFactory(username="mia", handle="mia")
    ShopFactory(owner=creator, name="Mia's Closet")
    UserFactory(username="sam", handle="sam")
    photo = tmp_path / "shirt.png"
    Image.new("RGB", (900, 700), (20, 120, 200)).save(photo)

    creator_ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = creator_ctx.new_page()
    log_in_page(page, live_server.url, "mia")
    page.goto(f"{live_server.url}/dashboard/products/new/")
    page.fill("#id_title", "Linen Shirt")
    page.fill("#id_option1_name", "Size")
    page.select_option("#id_status", "active")
    page.fill("#id_variants-0-sku", "LS-S")
    page.fill("#id_variants-0-option1", "S")
    page.fill("#id_variants-0-price", "39.00")
    page.fill("#id_variants-0-quantity", "5")
    page.click("#add-variant")
    page.fill("#id_variants-1-sku", "LS-M")
    page.fill("#id_variants-1-option1", "M")
    page.fill("#id_variants-1-price", "42.50")
    page.fill("#id_variants-1-quantity", "0")
    page.set_input_files("#id_upload-images", str(photo))
    page.click("button.btn.primary[type=submit]")
    page.wait_for_load_state()
    assert "Nothing was saved" not in page.content()
    creator_ctx.close()

    product = Product.objects.get(title="Linen Shirt")
    assert product.status == Product.Status.ACTIVE
    assert sorted(product.variants.values_list("sku", "price_amount", "quantity")) == [
        ("LS-M", 4250, 0),
        ("LS-S", 3900, 5),
    ]
    assert product.images.count() == 1

    shopper_ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = shopper_ctx.new_page()
    log_in_page(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/@mia/")
    card = page.locator(".product-card", has_text="Linen Shirt")
    card.wait_for()
    assert "from $39.00" in card.inner_text()
    img = card.locator("img")
    img.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())

    card.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Linen Shirt"
    body = page.inner_text("body")
    assert "$42.50" in body
    assert "Sold out" in body
    shopper_ctx.close()
