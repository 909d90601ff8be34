import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from shopfeed.errors import Conflict, NotAllowed, ShopFeedError
from shops import services
from shops.models import Product, ProductImage, Shop, Variant
from shops.services import VariantInput
from shops.tests.factories import make_image_file

pytestmark = pytest.mark.django_db


def test_creator_opens_one_shop_with_a_slug_from_its_name(creator):
    shop = services.open_shop(owner=creator, name="Mia's Closet")
    assert shop.slug == "mias-closet"
    with pytest.raises(Conflict):
        services.open_shop(owner=creator, name="Second")
    assert Shop.objects.filter(owner=creator).count() == 1


def test_shopper_cannot_open_a_shop(shopper):
    with pytest.raises(NotAllowed):
        services.open_shop(owner=shopper, name="Nope")
    assert not Shop.objects.exists()


def test_another_creator_cannot_edit_your_shop(shop, other_shop):
    with pytest.raises(NotAllowed):
        services.update_shop(shop=shop, by=other_shop.owner, name="Hijacked")
    shop.refresh_from_db()
    assert shop.name != "Hijacked"


def test_product_with_two_variants_has_price_range(shop):
    product = services.create_product(
        shop=shop,
        by=shop.owner,
        title="Linen Shirt",
        option1_name="Size",
        variants=[
            VariantInput(sku="LS-S", option1="S", price_amount=3900, quantity=2),
            VariantInput(sku="LS-M", option1="M", price_amount=4200, quantity=0),
        ],
        status="active",
    )
    assert product.status == Product.Status.ACTIVE
    assert list(product.variants.values_list("sku", "currency")) == [
        ("LS-S", "USD"),
        ("LS-M", "USD"),
    ]


def test_duplicate_sku_in_a_shop_is_refused_and_nothing_is_written(shop):
    services.create_product(
        shop=shop, by=shop.owner, title="A", variants=[VariantInput(sku="X1", price_amount=100)]
    )
    with pytest.raises(ShopFeedError):
        services.create_product(
            shop=shop, by=shop.owner, title="B", variants=[VariantInput(sku="X1", price_amount=100)]
        )
    assert list(Product.objects.values_list("title", flat=True)) == ["A"]
    assert Variant.objects.count() == 1


def test_negative_price_is_a_field_error(shop):
    with pytest.raises(ValidationError) as exc:
        services.create_product(
            shop=shop, by=shop.owner, title="C", variants=[VariantInput(price_amount=-5)]
        )
    assert "price_amount" in exc.value.message_dict
    assert not Product.objects.exists()


def test_publishing_needs_a_variant(shop):
    with pytest.raises(ShopFeedError, match="at least one variant"):
        services.create_product(shop=shop, by=shop.owner, title="Empty", status="active")
    assert not Product.objects.exists()


def test_staff_suspension_needs_a_reason(shop, admin_user):
    with pytest.raises(ShopFeedError):
        services.suspend_shop(shop=shop, reason="  ", by=admin_user)
    shop = services.suspend_shop(shop=shop, reason="Counterfeit goods", by=admin_user)
    assert shop.is_suspended
    assert shop.suspended_reason == "Counterfeit goods"


# --- the product page's save ---------------------------------------------------------------


def _stored_product_files(settings):
    root = settings.MEDIA_ROOT / "products"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_product_page_save_refused_at_its_last_upload_keeps_no_row_and_no_file(shop, settings):
    not_an_image = SimpleUploadedFile("notes.png", b"plain text", content_type="image/png")

    with pytest.raises(services.PartRefused) as refused:
        services.save_product(
            shop=shop,
            product=None,
            by=shop.owner,
            fields={"title": "Mug"},
            tags=["kitchen"],
            status="active",
            variant_edits=[services.VariantEdit(key=0, fields={"price_amount": 900})],
            uploads=[make_image_file("first.png"), not_an_image],
        )

    assert refused.value.part == "uploads"
    assert "JPEG, PNG, WebP or GIF" in refused.value.message
    assert not Product.objects.exists()
    assert not ProductImage.objects.exists()
    assert _stored_product_files(settings) == []


def test_product_page_save_names_the_variant_row_a_refusal_belongs_to(shop):
    edits = [
        services.VariantEdit(key=0, fields={"sku": "A", "option1": "S", "price_amount": 900}),
        services.VariantEdit(
            key=3,
            fields={"sku": "B", "option1": "M", "price_amount": 900, "compare_at_amount": 800},
        ),
    ]

    with pytest.raises(services.PartRefused) as refused:
        services.save_product(
            shop=shop,
            product=None,
            by=shop.owner,
            fields={"title": "Shirt", "option1_name": "Size"},
            tags=[],
            status="draft",
            variant_edits=edits,
        )

    assert (refused.value.part, refused.value.key) == ("variant", 3)
    assert "compare-at price must be higher" in refused.value.message
    assert not Product.objects.exists()
    assert not Variant.objects.exists()
