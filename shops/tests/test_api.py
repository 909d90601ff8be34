import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shopfeed.accounts.tests.factories import CreatorFactory
from shops import services
from shops.models import Product, ProductImage, Shop, Variant
from shops.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductImageFactory,
    ShopFactory,
    VariantFactory,
    make_image_file,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def listed_product(shop, **kwargs) -> Product:
    product = ProductFactory(shop=shop, **kwargs)
    VariantFactory(product=product, price_amount=1500, quantity=3)
    return product


@pytest.fixture
def product(shop):
    return listed_product(shop, title="Linen Shirt")


@pytest.fixture
def intruder(other_shop):
    """Another creator, with a shop of their own."""
    return other_shop.owner


# --- reading -------------------------------------------------------------------------------


def test_anonymous_reads_shops_products_tab_and_search(shop, product):
    client = client_for()
    assert client.get(f"{API}/shops/").json()["results"][0]["slug"] == shop.slug
    assert client.get(f"{API}/shops/{shop.slug}/").json()["name"] == shop.name
    body = client.get(f"{API}/products/{product.pk}/").json()
    assert body["title"] == "Linen Shirt"
    assert body["variants"][0]["price_amount"] == 1500
    assert body["min_price_amount"] == body["max_price_amount"] == 1500
    tab = client.get(f"{API}/creators/{shop.owner.handle}/shopping-tab/").json()
    assert [c["title"] for c in tab["results"]] == ["Linen Shirt"]
    found = client.get(f"{API}/search/", {"q": "linen"}).json()
    assert [c["id"] for c in found["results"]] == [product.pk]
    assert client.get(f"{API}/search/", {"q": "velvet"}).json()["count"] == 0


def test_shopping_tab_card_has_price_stock_page_path_and_cover_thumbnail(shop):
    category = CategoryFactory(slug="shirts")
    product = ProductFactory(shop=shop, handle="linen", category=category, is_featured=True)
    VariantFactory(product=product, price_amount=1200, quantity=2)
    VariantFactory(product=product, price_amount=1900, quantity=0)
    ProductImageFactory(product=product, position=0, thumbnail="products/thumbs/cover.jpg")
    ProductImageFactory(product=product, position=1)

    card = client_for().get(f"{API}/creators/{shop.owner.handle}/shopping-tab/").json()
    card = card["results"][0]

    assert card["url"] == f"/@{shop.owner.handle}/products/linen/"
    assert (card["min_price_amount"], card["max_price_amount"]) == (1200, 1900)
    assert card["currency"] == "USD"
    assert card["in_stock"] is True
    assert card["stock_state"] == "low_stock"
    assert card["is_featured"] is True
    assert card["category"] == "shirts"
    assert card["thumbnail_url"] == "http://testserver/media/products/thumbs/cover.jpg"


def test_drafts_and_archived_products_are_hidden_from_others_but_not_from_the_owner(shop):
    draft = listed_product(shop, status=Product.Status.DRAFT)
    assert client_for().get(f"{API}/products/{draft.pk}/").status_code == 404
    assert client_for().get(f"{API}/products/").json()["count"] == 0
    assert client_for(shop.owner).get(f"{API}/products/{draft.pk}/").status_code == 200


def test_suspended_shop_is_hidden_from_others_but_its_owner_sees_why(shop, product, shopper):
    Shop.objects.filter(pk=shop.pk).update(status="suspended", suspended_reason="Fake goods")
    url = f"{API}/shops/{shop.slug}/"

    assert client_for().get(url).status_code == 404
    assert client_for(shopper).get(url).status_code == 404
    assert client_for().get(f"{API}/shops/").json()["count"] == 0
    assert client_for().get(f"{API}/products/{product.pk}/").status_code == 404
    tab = client_for().get(f"{API}/creators/{shop.owner.handle}/shopping-tab/")
    assert tab.status_code == 404

    own = client_for(shop.owner).get(url).json()
    assert own["status"] == "suspended"
    assert own["suspended_reason"] == "Fake goods"


def test_others_do_not_see_a_shops_suspension_reason_field(shop):
    assert "suspended_reason" not in client_for().get(f"{API}/shops/{shop.slug}/").json()


def test_product_list_filters_by_category_price_and_stock(shop):
    shirts = CategoryFactory(slug="shirts")
    cheap = listed_product(shop, title="Cheap", category=shirts)
    dear = ProductFactory(shop=shop, title="Dear")
    VariantFactory(product=dear, price_amount=9000, quantity=0)
    client = client_for()

    def titles(**params):
        return [p["title"] for p in client.get(f"{API}/products/", params).json()["results"]]

    assert titles(category="shirts") == [cheap.title]
    assert titles(min_price=5000) == ["Dear"]
    assert titles(max_price=2000) == ["Cheap"]
    assert titles(in_stock="true") == ["Cheap"]
    assert titles(sort="-price") == ["Dear", "Cheap"]
    assert client.get(f"{API}/products/", {"sort": "random"}).status_code == 400


def test_list_pages_have_count_next_previous_and_results(shop):
    for _ in range(25):
        listed_product(shop)
    client = client_for()

    first = client.get(f"{API}/products/").json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert (first["count"], len(first["results"]), first["previous"]) == (25, 20, None)
    second = client.get(first["next"]).json()
    assert (len(second["results"]), second["next"]) == (5, None)
    assert second["previous"] is not None
    tab = client.get(f"{API}/creators/{shop.owner.handle}/shopping-tab/", {"page_size": 10})
    assert (tab.json()["count"], len(tab.json()["results"])) == (25, 10)


# --- authentication ------------------------------------------------------------------------


def test_anonymous_cannot_write(shop, product):
    client = client_for()
    response = client.patch(f"{API}/products/{product.pk}/", {"title": "X"}, format="json")
    assert response.status_code in (401, 403)
    assert client.post(f"{API}/shops/", {"name": "Mine"}, format="json").status_code in (401, 403)
    product.refresh_from_db()
    assert product.title == "Linen Shirt"


def test_token_from_the_token_endpoint_authenticates_api_calls(shop):
    client = APIClient()
    response = client.post(
        f"{API}/auth/token/",
        {"username": shop.owner.username, "password": "pw-Secret-123"},
        format="json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=shop.owner).key == token

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(f"{API}/products/", {"title": "By token"}, format="json")
    assert response.status_code == 201
    assert Product.objects.get(title="By token").shop == shop


def test_token_endpoint_refuses_a_wrong_password(shop):
    response = APIClient().post(
        f"{API}/auth/token/", {"username": shop.owner.username, "password": "nope"}
    )
    assert response.status_code == 400
    assert not Token.objects.exists()


def test_session_write_without_csrf_token_is_refused(shop):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(shop.owner)

    response = client.post(f"{API}/products/", {"title": "Forged"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Product.objects.exists()


def test_session_write_with_csrf_token_is_accepted(shop):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(shop.owner)
    secret = "a" * 32
    client.cookies["csrftoken"] = secret

    response = client.post(
        f"{API}/products/", {"title": "Real"}, format="json", HTTP_X_CSRFTOKEN=secret
    )

    assert response.status_code == 201
    assert Product.objects.filter(title="Real", shop=shop).exists()


# --- shops: owner writes ------------------------------------------------------------------


def test_creator_opens_a_shop():
    creator = CreatorFactory()
    response = client_for(creator).post(
        f"{API}/shops/", {"name": "Mia's Closet", "currency": "EUR"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["slug"] == "mias-closet"
    shop = Shop.objects.get(owner=creator)
    assert (shop.name, shop.currency) == ("Mia's Closet", "EUR")


def test_creator_opens_a_shop_with_a_logo():
    creator = CreatorFactory()
    response = client_for(creator).post(
        f"{API}/shops/", {"name": "Logo Shop", "logo": make_image_file("logo.png")}
    )
    assert response.status_code == 201
    assert response.json()["logo_url"].startswith("http://testserver/media/shops/logos/")


def test_shopper_cannot_open_a_shop_and_is_told_why(shopper):
    response = client_for(shopper).post(f"{API}/shops/", {"name": "Nope"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only creator accounts can open a shop.",
        "code": "not_a_creator",
    }
    assert not Shop.objects.exists()


def test_a_second_shop_is_a_conflict(shop):
    response = client_for(shop.owner).post(f"{API}/shops/", {"name": "Two"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "shop_exists"
    assert Shop.objects.count() == 1


def test_owner_renames_the_shop(shop):
    response = client_for(shop.owner).patch(
        f"{API}/shops/{shop.slug}/", {"name": "New Name", "description": "Hi"}, format="json"
    )
    assert response.status_code == 200
    shop.refresh_from_db()
    assert (shop.name, shop.description) == ("New Name", "Hi")


def test_another_creator_cannot_edit_your_shop(shop, intruder):
    response = client_for(intruder).patch(
        f"{API}/shops/{shop.slug}/", {"name": "Hijacked"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    shop.refresh_from_db()
    assert shop.name != "Hijacked"


def test_shop_field_errors_write_nothing(shop):
    creator = CreatorFactory()
    client = client_for(creator)

    bad_currency = client.post(f"{API}/shops/", {"name": "A", "currency": "usd"}, format="json")
    taken_slug = client.post(f"{API}/shops/", {"name": "B", "slug": shop.slug}, format="json")
    no_name = client.post(f"{API}/shops/", {"slug": "fine"}, format="json")

    assert bad_currency.status_code == 400
    assert "three-letter" in bad_currency.json()["currency"][0]
    assert taken_slug.status_code == 400
    assert "slug" in taken_slug.json()
    assert no_name.status_code == 400
    assert "name" in no_name.json()
    assert not Shop.objects.filter(owner=creator).exists()


def test_shop_logo_that_is_not_an_image_is_refused():
    creator = CreatorFactory()
    fake = SimpleUploadedFile("logo.png", b"not an image", content_type="image/png")
    response = client_for(creator).post(f"{API}/shops/", {"name": "Shop", "logo": fake})
    assert response.status_code == 400
    assert "logo" in response.json()
    assert not Shop.objects.exists()


# --- products: owner writes ---------------------------------------------------------------


def test_owner_creates_an_active_product_with_variants(shop):
    category = CategoryFactory(slug="shirts")
    body = {
        "title": "Linen Shirt",
        "category": "shirts",
        "tags": ["summer", "linen"],
        "option1_name": "Size",
        "status": "active",
        "variants": [
            {"sku": "LS-S", "option1": "S", "price_amount": 3900, "quantity": 2},
            {
                "sku": "LS-M",
                "option1": "M",
                "price_amount": 4200,
                "compare_at_amount": 5000,
                "quantity": 0,
            },
        ],
    }
    response = client_for(shop.owner).post(f"{API}/products/", body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["handle"] == "linen-shirt"
    assert data["status"] == "active"
    assert sorted(data["tags"]) == ["linen", "summer"]
    assert [v["sku"] for v in data["variants"]] == ["LS-S", "LS-M"]
    product = Product.objects.get(pk=data["id"])
    assert (product.shop, product.category, product.status) == (shop, category, "active")
    assert list(product.variants.values_list("sku", "price_amount", "currency")) == [
        ("LS-S", 3900, "USD"),
        ("LS-M", 4200, "USD"),
    ]


def test_owner_updates_a_product(shop, product):
    response = client_for(shop.owner).patch(
        f"{API}/products/{product.pk}/",
        {"title": "Silk Shirt", "status": "draft", "tags": ["silk"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Silk Shirt"
    assert response.json()["tags"] == ["silk"]
    product.refresh_from_db()
    assert (product.title, product.status) == ("Silk Shirt", "draft")


def test_owner_delete_archives_the_product(shop, product):
    response = client_for(shop.owner).delete(f"{API}/products/{product.pk}/")
    assert response.status_code == 204
    product.refresh_from_db()
    assert product.status == Product.Status.ARCHIVED
    assert client_for().get(f"{API}/products/{product.pk}/").status_code == 404


def test_creator_without_a_shop_is_told_to_open_one_first():
    response = client_for(CreatorFactory()).post(
        f"{API}/products/", {"title": "Orphan"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "no_shop"
    assert not Product.objects.exists()


# --- another creator ------------------------------------------------------------------------


def test_another_creator_cannot_edit_or_archive_your_product(product, intruder):
    client = client_for(intruder)
    url = f"{API}/products/{product.pk}/"

    patch = client.patch(url, {"title": "Hijacked", "status": "draft"}, format="json")
    delete = client.delete(url)

    assert patch.status_code == 403
    assert delete.status_code == 403
    product.refresh_from_db()
    assert (product.title, product.status) == ("Linen Shirt", "active")


def test_another_creator_gets_404_for_your_draft(shop, intruder):
    draft = listed_product(shop, status=Product.Status.DRAFT, title="Secret")
    response = client_for(intruder).patch(
        f"{API}/products/{draft.pk}/", {"title": "Hijacked"}, format="json"
    )
    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.title == "Secret"


def test_another_creator_cannot_add_change_or_delete_your_variants(product, intruder):
    variant = product.variants.get()
    client = client_for(intruder)
    base = f"{API}/products/{product.pk}/variants/"

    add = client.post(base, {"price_amount": 1, "sku": "EVIL"}, format="json")
    change = client.patch(f"{base}{variant.pk}/", {"price_amount": 1}, format="json")
    delete = client.delete(f"{base}{variant.pk}/")

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert list(product.variants.values_list("pk", "price_amount")) == [(variant.pk, 1500)]


def test_another_creator_cannot_upload_or_delete_your_images(product, intruder):
    image = ProductImageFactory(product=product)
    client = client_for(intruder)
    base = f"{API}/products/{product.pk}/images/"

    upload = client.post(base, {"image": make_image_file()})
    delete = client.delete(f"{base}{image.pk}/")

    assert (upload.status_code, delete.status_code) == (403, 403)
    assert list(ProductImage.objects.values_list("pk", flat=True)) == [image.pk]


def test_a_variant_cannot_be_reached_through_another_product(shop, product):
    other = listed_product(shop)
    variant = other.variants.get()
    response = client_for(shop.owner).patch(
        f"{API}/products/{product.pk}/variants/{variant.pk}/", {"quantity": 0}, format="json"
    )
    assert response.status_code == 404
    variant.refresh_from_db()
    assert variant.quantity == 3


# --- invalid input writes nothing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "field"),
    [
        ({"price_amount": 0}, "price_amount"),
        ({"price_amount": -5}, "price_amount"),
        ({"price_amount": "12.50"}, "price_amount"),
        ({"price_amount": 10**12}, "price_amount"),
        ({}, "price_amount"),
        ({"price_amount": 1000, "quantity": -1}, "quantity"),
        ({"price_amount": 1000, "compare_at_amount": 1000}, "compare_at_amount"),
    ],
)
def test_a_bad_variant_fails_the_whole_product_with_a_field_error(shop, variant, field):
    body = {
        "title": "Shirt",
        "variants": [{"sku": "OK-1", "price_amount": 1000}, {"sku": "BAD", **variant}],
    }
    response = client_for(shop.owner).post(f"{API}/products/", body, format="json")

    assert response.status_code == 400
    errors = response.json()["variants"]
    # DRF keys a list's errors by the index of each bad item.
    assert field in (errors["1"] if isinstance(errors, dict) else errors[1])
    assert "0" not in errors if isinstance(errors, dict) else not errors[0]
    assert not Product.objects.exists()
    assert not Variant.objects.exists()


def test_duplicate_sku_in_the_shop_is_refused_with_a_code_and_writes_nothing(shop, product):
    existing_sku = product.variants.get().sku
    body = {
        "title": "Copy",
        "variants": [
            {"sku": "NEW-1", "price_amount": 1000},
            {"sku": existing_sku, "price_amount": 1000},
        ],
    }
    response = client_for(shop.owner).post(f"{API}/products/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_variant"
    assert list(Product.objects.values_list("pk", flat=True)) == [product.pk]
    assert Variant.objects.count() == 1


def test_duplicate_sku_within_one_request_is_a_field_error(shop):
    body = {
        "title": "Twins",
        "variants": [{"sku": "T", "price_amount": 100}, {"sku": "T", "price_amount": 200}],
    }
    response = client_for(shop.owner).post(f"{API}/products/", body, format="json")
    assert response.status_code == 400
    assert "same SKU" in response.json()["variants"][0]
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": "A", "category": "no-such"}, "category", "no category"),
        ({"title": "A", "status": "sold"}, "status", "not a valid choice"),
        ({"title": ""}, "title", "blank"),
        ({"title": "A", "handle": "has spaces"}, "handle", "letters"),
        ({"title": "A", "status": "active"}, "status", "at least one variant"),
    ],
)
def test_invalid_product_fields_are_named_and_nothing_is_written(shop, body, field, message):
    response = client_for(shop.owner).post(f"{API}/products/", body, format="json")
    assert response.status_code == 400
    errors = response.json()[field]
    assert message in " ".join(errors)
    assert not Product.objects.exists()


def test_a_handle_already_used_in_the_shop_is_refused_on_update(shop, product):
    other = listed_product(shop, handle="other")
    response = client_for(shop.owner).patch(
        f"{API}/products/{other.pk}/", {"handle": product.handle}, format="json"
    )
    assert response.status_code == 400
    assert "handle" in response.json()
    other.refresh_from_db()
    assert other.handle == "other"


def test_variants_cannot_be_replaced_through_the_product(shop, product):
    response = client_for(shop.owner).patch(
        f"{API}/products/{product.pk}/", {"variants": []}, format="json"
    )
    assert response.status_code == 400
    assert "variants" in response.json()
    assert product.variants.count() == 1


# --- variants ------------------------------------------------------------------------------


def test_owner_adds_changes_and_deletes_variants(shop, product):
    client = client_for(shop.owner)
    base = f"{API}/products/{product.pk}/variants/"

    added = client.post(base, {"sku": "NEW", "option1": "XL", "price_amount": 2500}, format="json")
    assert added.status_code == 201
    new_id = added.json()["id"]
    changed = client.patch(f"{base}{new_id}/", {"quantity": 7}, format="json")
    assert changed.status_code == 200
    assert Variant.objects.get(pk=new_id).quantity == 7
    assert client.get(base).json()["count"] == 2

    assert client.delete(f"{base}{new_id}/").status_code == 204
    assert not Variant.objects.filter(pk=new_id).exists()


def test_variant_patch_checks_compare_at_against_the_stored_price(shop, product):
    variant = product.variants.get()
    response = client_for(shop.owner).patch(
        f"{API}/products/{product.pk}/variants/{variant.pk}/",
        {"compare_at_amount": 1000},
        format="json",
    )
    assert response.status_code == 400
    assert "higher than the price" in response.json()["compare_at_amount"][0]
    variant.refresh_from_db()
    assert variant.compare_at_amount is None


def test_a_duplicate_variant_sku_is_refused_with_a_code(shop, product):
    taken = product.variants.get().sku
    response = client_for(shop.owner).post(
        f"{API}/products/{product.pk}/variants/",
        {"sku": taken, "option1": "Other", "price_amount": 100},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_variant"
    assert product.variants.count() == 1


def test_the_last_variant_of_an_active_product_cannot_be_deleted(shop, product):
    variant = product.variants.get()
    response = client_for(shop.owner).delete(f"{API}/products/{product.pk}/variants/{variant.pk}/")
    assert response.status_code == 400
    assert response.json()["code"] == "last_variant"
    assert Variant.objects.filter(pk=variant.pk).exists()


# --- images --------------------------------------------------------------------------------


def test_owner_uploads_an_image_without_a_thumbnail_yet(shop, product):
    response = client_for(shop.owner).post(
        f"{API}/products/{product.pk}/images/",
        {"image": make_image_file("shirt.png"), "alt_text": "Front"},
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["url"].startswith("http://testserver/media/products/")
    assert data["thumbnail_url"] is None
    assert (data["position"], data["alt_text"]) == (0, "Front")
    assert product.images.get().alt_text == "Front"


def test_image_list_shows_thumbnails_once_made(shop, product):
    image = ProductImageFactory(product=product)
    services.make_thumbnail(image_id=image.pk)
    listed = client_for().get(f"{API}/products/{product.pk}/images/").json()["results"]
    assert listed[0]["thumbnail_url"].startswith("http://testserver/media/products/thumbs/")


def test_owner_deletes_an_image(shop, product):
    image = ProductImageFactory(product=product)
    response = client_for(shop.owner).delete(f"{API}/products/{product.pk}/images/{image.pk}/")
    assert response.status_code == 204
    assert not ProductImage.objects.exists()


def test_upload_that_is_not_an_image_is_refused(shop, product):
    fake = SimpleUploadedFile("shirt.png", b"%PDF-1.4 not an image", content_type="image/png")
    response = client_for(shop.owner).post(f"{API}/products/{product.pk}/images/", {"image": fake})
    assert response.status_code == 400
    assert "JPEG, PNG, WebP or GIF" in response.json()["image"][0]
    assert not ProductImage.objects.exists()


def test_decompression_bomb_is_refused(shop, product, settings):
    settings.IMAGE_MAX_PIXELS = 1000  # the 64x48 test image has 3,072
    response = client_for(shop.owner).post(
        f"{API}/products/{product.pk}/images/", {"image": make_image_file()}
    )
    assert response.status_code == 400
    assert "too many pixels" in response.json()["image"][0]
    assert not ProductImage.objects.exists()


def test_an_oversized_upload_is_refused_before_decoding(shop, product, settings):
    settings.IMAGE_UPLOAD_MAX_BYTES = 10
    response = client_for(shop.owner).post(
        f"{API}/products/{product.pk}/images/", {"image": make_image_file()}
    )
    assert response.status_code == 400
    assert "limit" in response.json()["image"][0]
    assert not ProductImage.objects.exists()


# --- query counts --------------------------------------------------------------------------


def seed(shop, count: int) -> None:
    category = CategoryFactory(slug="shirts")
    for n in range(count):
        product = ProductFactory(shop=shop, category=category, title=f"Linen shirt {n}")
        VariantFactory(product=product, price_amount=1000 + n)
        VariantFactory(product=product, price_amount=2000 + n, quantity=0)
        ProductImageFactory(product=product, thumbnail=f"products/thumbs/{n}.jpg", image="a.png")
        ProductImageFactory(product=product, image="b.png")
        services.set_tags(product=product, names=["linen"])


# count + page, plus the variants, images and tags prefetches for full products.
PRODUCT_LIST_QUERIES = 5
# the shop by handle, count + page.
TAB_QUERIES = 3
# count + page.
SEARCH_QUERIES = 2


@pytest.mark.parametrize("count", [3, 30])
def test_product_list_query_count_does_not_grow_with_products(
    shop, count, django_assert_num_queries
):
    seed(shop, count)
    client = client_for()
    with django_assert_num_queries(PRODUCT_LIST_QUERIES):
        response = client.get(f"{API}/products/", {"page_size": 50})
    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("count", [3, 30])
def test_shopping_tab_query_count_does_not_grow_with_products(
    shop, count, django_assert_num_queries
):
    seed(shop, count)
    client = client_for()
    with django_assert_num_queries(TAB_QUERIES):
        response = client.get(
            f"{API}/creators/{shop.owner.handle}/shopping-tab/", {"page_size": 50}
        )
    assert len(response.json()["results"]) == count
    assert all(card["thumbnail_url"] for card in response.json()["results"])


@pytest.mark.parametrize("count", [3, 30])
def test_search_query_count_does_not_grow_with_products(shop, count, django_assert_num_queries):
    seed(shop, count)
    ShopFactory()  # a shop with nothing that matches
    client = client_for()
    with django_assert_num_queries(SEARCH_QUERIES):
        response = client.get(f"{API}/search/", {"q": "linen shirt", "page_size": 50})
    assert len(response.json()["results"]) == count


# --- schema --------------------------------------------------------------------------------


def test_openapi_schema_generates_without_warnings(tmp_path):
    GENERATOR_STATS.reset()
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = out.read_text()
    assert "/api/v1/creators/{handle}/shopping-tab/" in schema
    assert "/api/v1/products/{product_pk}/images/" in schema


def test_schema_and_docs_pages_are_served():
    client = APIClient()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/creators/{handle}/shopping-tab/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


# --- the tab from the cache ----------------------------------------------------------------


def _tab(shop, **params):
    return client_for().get(f"{API}/creators/{shop.owner.handle}/shopping-tab/", params)


def test_a_cached_tab_costs_no_query(shop, product, django_assert_num_queries):
    first = _tab(shop).json()
    with django_assert_num_queries(0):
        again = _tab(shop).json()
    assert again == first
    assert [c["title"] for c in again["results"]] == ["Linen Shirt"]


def test_a_price_change_shows_on_the_next_request(
    shop, product, django_capture_on_commit_callbacks
):
    assert _tab(shop).json()["results"][0]["min_price_amount"] == 1500
    variant = product.variants.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.save_variant(product=product, by=shop.owner, variant=variant, price_amount=990)
    assert _tab(shop).json()["results"][0]["min_price_amount"] == 990


def test_a_suspended_shop_is_gone_from_the_cache_at_once(
    shop, product, django_capture_on_commit_callbacks
):
    from shopfeed.accounts.tests.factories import UserFactory

    assert _tab(shop).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend_shop(shop=shop, reason="Counterfeits", by=UserFactory(is_staff=True))
    assert _tab(shop).status_code == 404


def test_a_new_tab_order_shows_on_the_next_request(
    shop, product, django_capture_on_commit_callbacks
):
    other = listed_product(shop, title="Wool Hat")
    assert len(_tab(shop).json()["results"]) == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.arrange_tab(shop=shop, by=shop.owner, order=[other.pk, product.pk])
    assert [c["title"] for c in _tab(shop).json()["results"]] == ["Wool Hat", "Linen Shirt"]
    with django_capture_on_commit_callbacks(execute=True):
        services.arrange_tab(shop=shop, by=shop.owner, order=[product.pk, other.pk])
    assert [c["title"] for c in _tab(shop).json()["results"]] == ["Linen Shirt", "Wool Hat"]


def test_without_redis_the_tab_is_cached_in_djangos_cache_the_same_way(
    shop, product, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    settings.REDIS_URL = ""  # shops.tab_cache falls back to Django's cache
    assert _tab(shop).json()["results"][0]["min_price_amount"] == 1500
    with django_assert_num_queries(0):
        assert _tab(shop).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.save_variant(
            product=product, by=shop.owner, variant=product.variants.get(), price_amount=700
        )
    assert _tab(shop).json()["results"][0]["min_price_amount"] == 700


def test_the_cached_tab_counts_against_the_same_throttle_as_the_rest_of_the_api(
    shop, product, settings
):
    # With Redis the tab's lookup script counts the request too (one round trip); the count
    # is the same one every other endpoint reads.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": "4/min",
        },
    }
    client = client_for()
    served = [_tab(shop).status_code for _ in range(3)]
    assert client.get(f"{API}/products/").status_code == 200

    refused = _tab(shop)

    assert served == [200] * 3
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert client.get(f"{API}/products/").status_code == 429


# --- flash sale: a creator prepares a hot drop ---------------------------------------------


def test_owner_marks_a_variant_for_flash_sale_with_a_per_buyer_limit(shop, product):
    variant = product.variants.get()
    response = client_for(shop.owner).patch(
        f"{API}/products/{product.pk}/variants/{variant.pk}/",
        {"flash_sale": True, "flash_limit_per_buyer": 2},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["flash_sale"], response.json()["flash_limit_per_buyer"]) == (True, 2)
    variant.refresh_from_db()
    assert (variant.flash_sale, variant.flash_limit_per_buyer) == (True, 2)


@pytest.mark.parametrize("limit", [0, -1, 40_000, "many", 1.5])
def test_a_bad_flash_limit_is_refused_and_changes_nothing(shop, product, limit):
    variant = product.variants.get()
    response = client_for(shop.owner).patch(
        f"{API}/products/{product.pk}/variants/{variant.pk}/",
        {"flash_sale": True, "flash_limit_per_buyer": limit},
        format="json",
    )
    assert response.status_code == 400
    assert "flash_limit_per_buyer" in response.json()
    variant.refresh_from_db()
    assert (variant.flash_sale, variant.flash_limit_per_buyer) == (False, None)


def test_another_creator_cannot_mark_your_variant_for_flash_sale(product, intruder):
    variant = product.variants.get()
    response = client_for(intruder).patch(
        f"{API}/products/{product.pk}/variants/{variant.pk}/", {"flash_sale": True}, format="json"
    )
    assert response.status_code == 403
    variant.refresh_from_db()
    assert variant.flash_sale is False
