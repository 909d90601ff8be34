import pytest
from django.urls import reverse

from shops.models import Shop
from shops.tests.factories import ProductImageFactory, VariantFactory

pytestmark = pytest.mark.django_db


def test_only_staff_reach_the_admin(client, shopper):
    client.force_login(shopper)
    response = client.get(reverse("admin:shops_shop_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_suspends_a_shop_with_a_reason(admin_client, shop):
    url = reverse("admin:shops_shop_changelist")
    confirm = admin_client.post(url, {"action": "suspend", "_selected_action": [shop.pk]})
    assert confirm.status_code == 200
    assert b"Reason (shown to the owner)" in confirm.content

    done = admin_client.post(
        url,
        {"action": "suspend", "_selected_action": [shop.pk], "apply": "1", "reason": "Fake goods"},
        follow=True,
    )
    assert b"Suspended 1 shop" in done.content
    shop.refresh_from_db()
    assert shop.status == Shop.Status.SUSPENDED
    assert shop.suspended_reason == "Fake goods"


def test_suspending_without_a_reason_changes_nothing(admin_client, shop):
    url = reverse("admin:shops_shop_changelist")
    response = admin_client.post(
        url, {"action": "suspend", "_selected_action": [shop.pk], "apply": "1", "reason": " "}
    )
    assert b"Give a reason" in response.content
    shop.refresh_from_db()
    assert shop.status == Shop.Status.ACTIVE


def test_staff_reinstates_a_shop(admin_client, shop, admin_user):
    from shops import services

    services.suspend_shop(shop=shop, reason="Check", by=admin_user)
    admin_client.post(
        reverse("admin:shops_shop_changelist"),
        {"action": "reinstate", "_selected_action": [shop.pk]},
    )
    shop.refresh_from_db()
    assert shop.status == Shop.Status.ACTIVE
    assert shop.suspended_reason == ""


def test_product_admin_shows_variant_and_image_inlines(admin_client, shop):
    variant = VariantFactory(product__shop=shop, sku="ADM-1")
    ProductImageFactory(product=variant.product)
    response = admin_client.get(reverse("admin:shops_product_change", args=[variant.product.pk]))
    assert response.status_code == 200
    assert b"ADM-1" in response.content
    assert b"Product images" in response.content


def test_admin_product_search_finds_by_sku(admin_client, shop):
    variant = VariantFactory(product__shop=shop, product__title="Findable Wok", sku="WOK-36")
    response = admin_client.get(reverse("admin:shops_product_changelist"), {"q": "WOK-36"})
    assert variant.product.title.encode() in response.content


def test_user_admin_lists_creators(admin_client, creator):
    response = admin_client.get(reverse("admin:accounts_user_changelist"), {"is_creator__exact": 1})
    assert creator.handle.encode() in response.content
