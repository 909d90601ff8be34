"""Creator dashboard pages: shop, products with variants and images, the shopping tab."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from shopfeed.accounts.tests.factories import CreatorFactory
from shops import services
from shops.models import Category, Product, ProductImage, Shop, Variant
from shops.services import VariantInput
from shops.tests.factories import (
    ProductFactory,
    ProductImageFactory,
    ShopFactory,
    VariantFactory,
    make_image_file,
)

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("shops:dashboard")
CREATE = reverse("shops:dashboard-product-create")
PRODUCTS = reverse("shops:dashboard-products")
TAB = reverse("shops:dashboard-tab")
SHOP = reverse("shops:dashboard-shop")


def edit_url(product):
    return reverse("shops:dashboard-product-edit", kwargs={"pk": product.pk})


def archive_url(product):
    return reverse("shops:dashboard-product-archive", kwargs={"pk": product.pk})


def formset_data(prefix, rows, *, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{key}": value for key, value in row.items()})
    return data


def product_post(*, variants=(), initial=0, images=None, uploads=(), alt_text="", **fields):
    data = {
        "title": "Linen Shirt",
        "handle": "",
        "description": "Breathable.",
        "status": "draft",
        "category": "",
        "new_category": "",
        "tags": "",
        "vendor": "",
        "product_type": "",
        "option1_name": "Size",
        "option2_name": "",
        "option3_name": "",
        **fields,
    }
    data.update(formset_data("variants", list(variants), initial=initial))
    if images is not None:
        data.update(formset_data("images", images, initial=len(images)))
    if uploads:
        data["upload-images"] = list(uploads)
    data["upload-alt_text"] = alt_text
    return data


def variant_row(**values):
    return {
        "id": "",
        "sku": "",
        "option1": "",
        "option2": "",
        "option3": "",
        "price": "",
        "compare_at": "",
        "quantity": "0",
        **values,
    }


def existing_rows(product):
    return [
        variant_row(
            id=str(v.pk),
            sku=v.sku,
            option1=v.option1,
            price=f"{v.price_amount / 100:.2f}",
            compare_at="" if v.compare_at_amount is None else f"{v.compare_at_amount / 100:.2f}",
            quantity=str(v.quantity),
        )
        for v in product.variants.all()
    ]


def stored_product_files(settings):
    root = settings.MEDIA_ROOT / "products"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def owner_client(client, shop):
    client.force_login(shop.owner)
    return client


@pytest.fixture
def shirt(shop):
    return services.create_product(
        shop=shop,
        by=shop.owner,
        title="Linen Shirt",
        option1_name="Size",
        variants=[
            VariantInput(sku="LS-S", option1="S", price_amount=3900, quantity=2),
            VariantInput(sku="LS-M", option1="M", price_amount=4200, quantity=5),
        ],
        status="active",
    )


# --- access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        DASHBOARD,
        SHOP,
        PRODUCTS,
        CREATE,
        TAB,
        reverse("shops:dashboard-product-edit", kwargs={"pk": 1}),
        reverse("shops:dashboard-product-archive", kwargs={"pk": 1}),
    ],
)
def test_anonymous_visitor_is_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_post_without_csrf_token_is_refused(shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(shop.owner)
    response = client.post(CREATE, product_post(variants=[variant_row(price="10.00")]))
    assert response.status_code == 403
    assert not Product.objects.exists()


# --- overview and opening a shop -----------------------------------------------------------


def test_shopper_is_offered_to_become_a_creator(client, shopper):
    client.force_login(shopper)
    response = client.get(DASHBOARD)
    assert response.status_code == 200
    assert "Become a creator" in response.content.decode()


def test_shopper_cannot_open_a_shop(client, shopper):
    client.force_login(shopper)
    response = client.post(DASHBOARD, {"name": "Sneaky Shop", "currency": "USD"})
    assert response.status_code == 403
    assert "Only creator accounts can open a shop" in response.content.decode()
    assert not Shop.objects.exists()


def test_shopper_becomes_a_creator_and_is_offered_to_open_a_shop(client, shopper):
    client.force_login(shopper)
    response = client.post(DASHBOARD, {"become_creator": "1"}, follow=True)
    shopper.refresh_from_db()
    assert shopper.is_creator
    assert "Open your shop" in response.content.decode()


def test_creator_opens_a_shop_with_a_slug_made_from_its_name(client, creator):
    client.force_login(creator)
    assert "Open your shop" in client.get(DASHBOARD).content.decode()
    response = client.post(
        DASHBOARD,
        {"name": "Mia's Closet", "slug": "", "description": "Vintage.", "currency": "eur"},
        follow=True,
    )
    shop = Shop.objects.get(owner=creator)
    assert (shop.name, shop.slug, shop.currency) == ("Mia's Closet", "mias-closet", "EUR")
    assert "Your shop is open" in response.content.decode()


def test_opening_a_shop_with_a_taken_slug_shows_the_error_and_writes_nothing(
    client, creator, other_shop
):
    client.force_login(creator)
    response = client.post(DASHBOARD, {"name": "Mine", "slug": other_shop.slug, "currency": "USD"})
    assert response.status_code == 400
    assert "Shop with this Slug already exists." in response.content.decode()
    assert not Shop.objects.filter(owner=creator).exists()


def test_opening_a_shop_without_a_name_shows_the_error(client, creator):
    client.force_login(creator)
    response = client.post(DASHBOARD, {"name": "", "currency": "USD"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Shop.objects.exists()


def test_overview_shows_status_counts_and_links(owner_client, shop, shirt):
    ProductFactory(shop=shop, status=Product.Status.DRAFT)
    body = owner_client.get(DASHBOARD).content.decode()
    assert shop.name in body
    assert "<strong>1</strong> active" in body
    assert "<strong>1</strong> draft" in body
    for name in ("shops:dashboard-import", "shops:dashboard-export", "shops:dashboard-tab"):
        assert reverse(name) in body
    assert reverse("shops:profile", kwargs={"handle": shop.owner.handle}) in body


def test_suspended_shop_owner_sees_the_reason_on_the_overview(owner_client, shop, admin_user):
    services.suspend_shop(shop=shop, reason="Counterfeit sneakers reported", by=admin_user)
    body = owner_client.get(DASHBOARD).content.decode()
    assert "Your shop is suspended" in body
    assert "Counterfeit sneakers reported" in body


def test_creator_without_a_shop_is_sent_to_open_one_first(client, creator):
    client.force_login(creator)
    response = client.get(CREATE)
    assert response.status_code == 302
    assert response["Location"] == DASHBOARD


# --- shop settings -------------------------------------------------------------------------


def shop_post(shop, **changes):
    return {
        "name": shop.name,
        "slug": shop.slug,
        "description": shop.description,
        "currency": shop.currency,
        **changes,
    }


def test_owner_edits_the_shop_and_uploads_a_logo(owner_client, shop):
    response = owner_client.post(
        SHOP, shop_post(shop, name="Mia's Closet", logo=make_image_file("logo.png"))
    )
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.name == "Mia's Closet"
    assert shop.logo.name.startswith("shops/logos/")


def test_shop_edit_with_a_bad_currency_shows_the_error_and_changes_nothing(owner_client, shop):
    response = owner_client.post(SHOP, shop_post(shop, name="Renamed", currency="U$D"))
    assert response.status_code == 400
    assert "Use a three-letter ISO currency code." in response.content.decode()
    shop.refresh_from_db()
    assert shop.name != "Renamed"
    assert shop.currency == "USD"


def test_currency_cannot_change_once_the_shop_has_products(owner_client, shop, shirt):
    response = owner_client.post(SHOP, shop_post(shop, currency="EUR"))
    assert response.status_code == 400
    assert "The currency cannot change once the shop has products." in response.content.decode()
    shop.refresh_from_db()
    assert shop.currency == "USD"


def test_a_non_image_logo_is_refused(owner_client, shop):
    fake = SimpleUploadedFile("logo.png", b"not an image at all", content_type="image/png")
    response = owner_client.post(SHOP, shop_post(shop, name="Renamed", logo=fake))
    assert response.status_code == 400
    assert "Upload a JPEG, PNG, WebP or GIF image." in response.content.decode()
    shop.refresh_from_db()
    assert shop.name != "Renamed"
    assert not shop.logo


def test_another_creator_posting_the_shop_form_only_changes_their_own_shop(
    client, shop, other_shop
):
    client.force_login(other_shop.owner)
    client.post(SHOP, shop_post(other_shop, name="Their new name"))
    shop.refresh_from_db()
    other_shop.refresh_from_db()
    assert other_shop.name == "Their new name"
    assert shop.name != "Their new name"


# --- creating products ---------------------------------------------------------------------


def test_create_product_with_two_variants_and_an_image(owner_client, shop, settings):
    response = owner_client.post(
        CREATE,
        product_post(
            status="active",
            new_category="Shirts",
            tags="linen, summer",
            variants=[
                variant_row(
                    sku="LS-S", option1="S", price="39.00", compare_at="45.00", quantity="3"
                ),
                variant_row(sku="LS-M", option1="M", price="42.5", quantity="0"),
                variant_row(),  # the spare empty row is skipped
            ],
            uploads=[make_image_file("front.png")],
            alt_text="Front view",
        ),
    )
    product = Product.objects.get(shop=shop)
    assert response.status_code == 302
    assert response["Location"] == edit_url(product)
    assert (product.title, product.handle, product.status) == (
        "Linen Shirt",
        "linen-shirt",
        "active",
    )
    assert product.category.name == "Shirts"
    assert sorted(product.tags.values_list("name", flat=True)) == ["linen", "summer"]
    rows = list(
        product.variants.values_list("sku", "price_amount", "compare_at_amount", "quantity")
    )
    assert rows == [("LS-S", 3900, 4500, 3), ("LS-M", 4250, None, 0)]
    image = ProductImage.objects.get(product=product)
    assert image.alt_text == "Front view"
    assert image.image.name.startswith("products/")
    assert len(stored_product_files(settings)) == 1


@pytest.fixture
def eager_celery():
    from shopfeed.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


def test_uploaded_image_gets_a_thumbnail_from_the_celery_task(
    owner_client, shop, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            CREATE,
            product_post(
                variants=[variant_row(price="10.00")],
                uploads=[make_image_file("big.png", size=(800, 600))],
            ),
        )
    image = ProductImage.objects.get()
    assert image.thumbnail.name.startswith("products/thumbs/")


def test_choosing_an_existing_category(owner_client, shop):
    category = Category.objects.create(name="Hats", slug="hats")
    owner_client.post(
        CREATE, product_post(category=str(category.pk), variants=[variant_row(price="5")])
    )
    assert Product.objects.get().category == category
    assert Category.objects.count() == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"price": "abc"}, "Enter a price like 39.00."),
        ({"quantity": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"compare_at": "39.00"}, "The compare-at price must be higher than the price."),
        ({"compare_at": "20.00"}, "The compare-at price must be higher than the price."),
        ({"price": "0"}, "The price must be more than zero."),
        ({"price": "39.999"}, "Ensure that there are no more than 2 decimal places."),
        ({"price": ""}, "This field is required."),
    ],
)
def test_invalid_variant_shows_the_error_and_writes_nothing(
    owner_client, shop, settings, row, message
):
    response = owner_client.post(
        CREATE,
        product_post(
            new_category="Shirts",
            variants=[
                variant_row(sku="OK-1", option1="S", price="39.00"),
                variant_row(**{"sku": "BAD-1", "option1": "M", "price": "39.00", **row}),
            ],
            uploads=[make_image_file()],
        ),
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Nothing was saved" in body
    assert not Product.objects.exists()
    assert not Variant.objects.exists()
    assert not ProductImage.objects.exists()
    assert not Category.objects.exists()
    assert stored_product_files(settings) == []


def test_duplicate_sku_in_the_form_is_refused_and_nothing_written(owner_client, shop):
    response = owner_client.post(
        CREATE,
        product_post(
            variants=[
                variant_row(sku="DUP", option1="S", price="10"),
                variant_row(sku="DUP", option1="M", price="10"),
            ]
        ),
    )
    assert response.status_code == 400
    assert "SKU DUP is used by two variants." in response.content.decode()
    assert not Product.objects.exists()
    assert not Variant.objects.exists()


def test_sku_used_by_another_product_of_the_shop_is_refused(owner_client, shop, shirt):
    response = owner_client.post(
        CREATE, product_post(title="Other", variants=[variant_row(sku="LS-S", price="10")])
    )
    assert response.status_code == 400
    assert "SKU LS-S is already used by “Linen Shirt”." in response.content.decode()
    assert list(Product.objects.values_list("title", flat=True)) == ["Linen Shirt"]
    assert Variant.objects.count() == 2


def test_two_variants_with_the_same_options_are_refused(owner_client, shop):
    response = owner_client.post(
        CREATE,
        product_post(
            variants=[variant_row(option1="S", price="1"), variant_row(option1="S", price="2")]
        ),
    )
    assert response.status_code == 400
    assert "Two variants have the same options" in response.content.decode()
    assert not Product.objects.exists()


def test_publishing_without_a_variant_is_refused_after_the_product_was_written(owner_client, shop):
    # The service refuses only after the product row exists: the transaction removes it.
    response = owner_client.post(CREATE, product_post(status="active", new_category="Shirts"))
    assert response.status_code == 400
    assert "Add at least one variant with a price before publishing." in response.content.decode()
    assert not Product.objects.exists()
    assert not Category.objects.exists()


def test_a_handle_already_used_in_the_shop_is_refused(owner_client, shop, shirt):
    response = owner_client.post(
        CREATE, product_post(handle=shirt.handle, variants=[variant_row(price="1")])
    )
    assert response.status_code == 400
    assert "You already have a product with this handle." in response.content.decode()
    assert Product.objects.count() == 1


def text_png():
    return SimpleUploadedFile(
        "text.png", b"just some text, not a picture", content_type="image/png"
    )


@pytest.mark.parametrize(
    ("setting", "upload", "message"),
    [
        (None, text_png, "text.png: Upload a JPEG, PNG, WebP or GIF image."),
        (("IMAGE_UPLOAD_MAX_BYTES", 100), make_image_file, "photo.png: The image is"),
        (("IMAGE_MAX_PIXELS", 100), make_image_file, "photo.png: The image has too many pixels"),
    ],
    ids=["not-an-image", "too-large", "decompression-bomb"],
)
def test_bad_image_upload_shows_the_error_and_writes_nothing(
    owner_client, shop, settings, setting, upload, message
):
    if setting:
        setattr(settings, *setting)
    response = owner_client.post(
        CREATE,
        product_post(
            variants=[variant_row(sku="A", price="10.00")],
            uploads=[make_image_file("good.png"), upload()],
        ),
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Product.objects.exists()
    assert not Variant.objects.exists()
    assert not ProductImage.objects.exists()
    assert stored_product_files(settings) == []


# --- editing products ----------------------------------------------------------------------


def test_edit_page_shows_prices_in_major_units(owner_client, shirt):
    body = owner_client.get(edit_url(shirt)).content.decode()
    assert 'value="39.00"' in body
    assert 'value="42.00"' in body
    assert 'value="LS-S"' in body


def test_owner_edits_a_product_its_variants_and_adds_one(owner_client, shirt):
    rows = existing_rows(shirt)
    rows[0]["price"] = "35.50"
    rows[1]["DELETE"] = "on"
    rows.append(variant_row(sku="LS-L", option1="L", price="44.00", quantity="7"))
    response = owner_client.post(
        edit_url(shirt),
        product_post(
            title="Linen Shirt II",
            handle=shirt.handle,
            status="active",
            tags="linen",
            variants=rows,
            initial=2,
        ),
    )
    assert response.status_code == 302
    shirt.refresh_from_db()
    assert shirt.title == "Linen Shirt II"
    assert list(shirt.variants.values_list("sku", "price_amount", "quantity")) == [
        ("LS-S", 3550, 2),
        ("LS-L", 4400, 7),
    ]
    assert list(shirt.tags.values_list("name", flat=True)) == ["linen"]


def test_every_variant_of_an_active_product_can_be_replaced_at_once(owner_client, shirt):
    rows = existing_rows(shirt)
    for row in rows:
        row["DELETE"] = "on"
    rows.append(variant_row(sku="NEW", option1="One size", price="30"))
    response = owner_client.post(
        edit_url(shirt),
        product_post(handle=shirt.handle, status="active", variants=rows, initial=2),
    )
    assert response.status_code == 302
    assert list(shirt.variants.values_list("sku", flat=True)) == ["NEW"]


def test_invalid_edit_changes_nothing(owner_client, shirt):
    rows = existing_rows(shirt)
    rows[0]["price"] = "abc"
    rows[1]["DELETE"] = "on"
    response = owner_client.post(
        edit_url(shirt),
        product_post(
            title="Renamed",
            handle=shirt.handle,
            status="active",
            variants=rows,
            initial=2,
            uploads=[make_image_file()],
        ),
    )
    assert response.status_code == 400
    assert "Enter a price like 39.00." in response.content.decode()
    shirt.refresh_from_db()
    assert shirt.title == "Linen Shirt"
    assert shirt.variants.count() == 2
    assert not shirt.images.exists()


def test_owner_deletes_and_reorders_images(owner_client, shirt):
    a, b, c = (ProductImageFactory(product=shirt, position=i) for i in range(3))
    images = [
        {"id": str(a.pk), "position": "2"},
        {"id": str(b.pk), "position": "0", "DELETE": "on"},
        {"id": str(c.pk), "position": "1"},
    ]
    response = owner_client.post(
        edit_url(shirt),
        product_post(
            handle=shirt.handle,
            status="active",
            variants=existing_rows(shirt),
            initial=2,
            images=images,
            uploads=[make_image_file("new.png")],
        ),
    )
    assert response.status_code == 302
    order = list(shirt.images.values_list("pk", flat=True))
    assert order[:2] == [c.pk, a.pk]
    assert len(order) == 3
    assert b.pk not in order


def test_image_of_another_product_cannot_be_deleted_through_your_form(owner_client, shirt):
    mine = ProductImageFactory(product=shirt)
    theirs = ProductImageFactory()
    response = owner_client.post(
        edit_url(shirt),
        product_post(
            handle=shirt.handle,
            status="active",
            variants=existing_rows(shirt),
            initial=2,
            images=[{"id": str(theirs.pk), "position": "0", "DELETE": "on"}],
        ),
    )
    assert response.status_code == 400
    assert ProductImage.objects.filter(pk__in=[mine.pk, theirs.pk]).count() == 2


def test_variant_of_another_product_cannot_be_edited_through_your_form(owner_client, shirt):
    theirs = VariantFactory(price_amount=1000)
    rows = existing_rows(shirt)
    rows[0]["id"] = str(theirs.pk)
    response = owner_client.post(
        edit_url(shirt),
        product_post(handle=shirt.handle, status="active", variants=rows, initial=2),
    )
    assert response.status_code == 400
    theirs.refresh_from_db()
    assert theirs.price_amount == 1000


def test_variant_of_another_product_cannot_be_deleted_through_your_form(owner_client, shirt):
    theirs = VariantFactory()
    rows = existing_rows(shirt)
    rows[0].update(id=str(theirs.pk), DELETE="on")
    owner_client.post(
        edit_url(shirt),
        product_post(handle=shirt.handle, status="active", variants=rows, initial=2),
    )
    assert Variant.objects.filter(pk=theirs.pk).exists()
    assert shirt.variants.count() == 2


def test_archive_product(owner_client, shirt):
    response = owner_client.post(archive_url(shirt), follow=True)
    assert response.status_code == 200
    assert "is archived" in response.content.decode()
    shirt.refresh_from_db()
    assert shirt.status == Product.Status.ARCHIVED


def test_archive_needs_a_post(owner_client, shirt):
    assert owner_client.get(archive_url(shirt)).status_code == 405
    shirt.refresh_from_db()
    assert shirt.status == Product.Status.ACTIVE


def test_product_list_shows_every_status_and_filters(owner_client, shop, shirt):
    ProductFactory(shop=shop, title="Old Hat", status=Product.Status.ARCHIVED)
    body = owner_client.get(PRODUCTS).content.decode()
    assert "Linen Shirt" in body
    assert "Old Hat" in body
    assert "$39.00–$42.00" in body
    body = owner_client.get(PRODUCTS, {"status": "archived"}).content.decode()
    assert "Old Hat" in body
    assert "Linen Shirt" not in body


# --- another creator -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", edit_url), ("post", edit_url), ("get", archive_url), ("post", archive_url)],
)
def test_another_creator_gets_404_on_your_product_and_nothing_changes(
    client, shirt, other_shop, method, url
):
    client.force_login(other_shop.owner)
    data = product_post(
        title="Hijacked",
        handle="hijacked",
        status="draft",
        variants=existing_rows(shirt),
        initial=2,
    )
    response = getattr(client, method)(url(shirt), data if method == "post" else None)
    assert response.status_code == 404
    shirt.refresh_from_db()
    assert (shirt.title, shirt.handle, shirt.status) == ("Linen Shirt", "linen-shirt", "active")
    assert list(shirt.variants.values_list("price_amount", flat=True)) == [3900, 4200]


def test_a_shopper_gets_404_on_a_product_url(client, shopper, shirt):
    client.force_login(shopper)
    assert client.get(edit_url(shirt)).status_code == 404
    assert client.post(archive_url(shirt)).status_code == 404
    shirt.refresh_from_db()
    assert shirt.status == Product.Status.ACTIVE


def test_another_creator_cannot_arrange_your_products_on_their_tab(client, shirt, other_shop):
    client.force_login(other_shop.owner)
    theirs = ProductFactory(shop=other_shop)
    response = client.post(
        TAB,
        formset_data(
            "tab",
            [
                {"product": str(shirt.pk), "position": "1", "featured": "on"},
                {"product": str(theirs.pk), "position": "2"},
            ],
            initial=2,
        ),
    )
    assert response.status_code == 400
    assert "The order lists products that are not in your shop." in response.content.decode()
    shirt.refresh_from_db()
    assert not shirt.is_featured


# --- shopping tab --------------------------------------------------------------------------


@pytest.fixture
def three(shop):
    return [ProductFactory(shop=shop, title=t, tab_position=i) for i, t in enumerate("ABC", 1)]


def tab_post(rows):
    return formset_data("tab", rows, initial=len(rows))


def test_tab_page_lists_products_in_tab_order(owner_client, three):
    body = owner_client.get(TAB).content.decode()
    assert (
        body.index("<strong>A</strong>")
        < body.index("<strong>B</strong>")
        < body.index("<strong>C</strong>")
    )


def test_owner_reorders_the_tab_and_features_one(owner_client, shop, three):
    a, b, c = three
    response = owner_client.post(
        TAB,
        tab_post(
            [
                {"product": str(a.pk), "position": "3"},
                {"product": str(b.pk), "position": "1"},
                {"product": str(c.pk), "position": "2", "featured": "on"},
            ]
        ),
    )
    assert response.status_code == 302
    tab = list(shop.products.order_by("tab_position").values_list("title", "is_featured"))
    assert tab == [("B", False), ("C", True), ("A", False)]


def test_move_up_button_swaps_a_product_with_the_one_above(owner_client, shop, three):
    _a, _b, c = three
    rows = [{"product": str(p.pk), "position": str(i)} for i, p in enumerate(three, 1)]
    response = owner_client.post(TAB, {**tab_post(rows), "move": f"{c.pk}:up"})
    assert response.status_code == 302
    assert list(shop.products.order_by("tab_position").values_list("title", flat=True)) == [
        "A",
        "C",
        "B",
    ]


def test_featuring_more_than_the_limit_is_refused_and_nothing_changes(owner_client, shop):
    products = [ProductFactory(shop=shop, tab_position=i) for i in range(services.MAX_FEATURED + 1)]
    rows = [
        {"product": str(p.pk), "position": str(len(products) - i), "featured": "on"}
        for i, p in enumerate(products)
    ]
    response = owner_client.post(TAB, tab_post(rows))
    assert response.status_code == 400
    assert f"Feature at most {services.MAX_FEATURED} products" in response.content.decode()
    assert not shop.products.filter(is_featured=True).exists()
    assert list(shop.products.order_by("tab_position").values_list("pk", flat=True)) == [
        p.pk for p in products
    ]


def test_a_second_creator_sees_only_their_own_products(client, shirt):
    other = ShopFactory(owner=CreatorFactory())
    ProductFactory(shop=other, title="Their Thing")
    client.force_login(other.owner)
    for url in (PRODUCTS, TAB):
        body = client.get(url).content.decode()
        assert "Their Thing" in body
        assert "Linen Shirt" not in body


def test_owner_marks_a_variant_for_flash_sale_in_the_product_form(owner_client, shirt):
    rows = existing_rows(shirt)
    rows[0].update(flash_sale="on", flash_limit_per_buyer="2")
    response = owner_client.post(
        edit_url(shirt),
        product_post(
            title=shirt.title, handle=shirt.handle, status="active", variants=rows, initial=2
        ),
    )
    assert response.status_code == 302
    assert list(shirt.variants.values_list("sku", "flash_sale", "flash_limit_per_buyer")) == [
        ("LS-S", True, 2),
        ("LS-M", False, None),
    ]
    page = owner_client.get(edit_url(shirt)).content.decode()
    assert re.search(r'<input type="checkbox" name="variants-0-flash_sale"[^>]* checked>', page)


def test_a_bad_flash_limit_shows_the_error_and_writes_nothing(owner_client, shirt):
    rows = existing_rows(shirt)
    rows[0].update(flash_sale="on", flash_limit_per_buyer="0")
    response = owner_client.post(
        edit_url(shirt),
        product_post(
            title="Changed", handle=shirt.handle, status="active", variants=rows, initial=2
        ),
    )
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    shirt.refresh_from_db()
    assert shirt.title != "Changed"
    assert not shirt.variants.filter(flash_sale=True).exists()
