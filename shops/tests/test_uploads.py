"""Uploaded images are stored only as images we re-encoded, under names we chose, and media is
served so that a browser never treats a stored file as a page of our site."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from shopfeed.accounts.tests.factories import CreatorFactory
from shops.models import ProductImage, Shop
from shops.tests.factories import ProductFactory, VariantFactory, make_image_file
from shops.tests.upload_support import (
    SCRIPT,
    assert_stored_safely,
    gif_bytes,
    polyglot,
    truncated_png,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def product(shop):
    product = ProductFactory(shop=shop)
    VariantFactory(product=product)
    return product


# --- every upload path ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pwn.html", "pwn.svg", "pwn.xhtml", "pwn.gif"])
def test_api_product_image_polyglot_is_stored_only_as_our_re_encoded_image(shop, product, name):
    response = api_client(shop.owner).post(
        f"{API}/products/{product.pk}/images/", {"image": polyglot(name)}
    )
    assert response.status_code == 201, response.json()
    assert not response.json()["url"].endswith((".html", ".svg", ".xhtml", ".gif"))
    assert_stored_safely(ProductImage.objects.get().image)


def test_api_shop_logo_polyglot_is_stored_only_as_our_re_encoded_image():
    creator = CreatorFactory()
    response = api_client(creator).post(f"{API}/shops/", {"name": "Pwn", "logo": polyglot()})
    assert response.status_code == 201, response.json()
    assert_stored_safely(Shop.objects.get(owner=creator).logo)


def test_api_shop_logo_update_polyglot_is_stored_only_as_our_re_encoded_image(shop):
    response = api_client(shop.owner).patch(
        f"{API}/shops/{shop.slug}/", {"logo": polyglot()}, format="multipart"
    )
    assert response.status_code == 200, response.json()
    shop.refresh_from_db()
    assert_stored_safely(shop.logo)


def _dashboard_product_post(uploads):
    return {
        "title": "Pwn shirt",
        "handle": "",
        "description": "",
        "status": "draft",
        "category": "",
        "new_category": "",
        "tags": "",
        "vendor": "",
        "product_type": "",
        "option1_name": "",
        "option2_name": "",
        "option3_name": "",
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-id": "",
        "variants-0-sku": "P-1",
        "variants-0-option1": "",
        "variants-0-option2": "",
        "variants-0-option3": "",
        "variants-0-price": "10.00",
        "variants-0-compare_at": "",
        "variants-0-quantity": "1",
        "upload-images": uploads,
        "upload-alt_text": "",
    }


def test_dashboard_product_image_polyglot_is_stored_only_as_our_re_encoded_image(client, shop):
    client.force_login(shop.owner)
    response = client.post(
        reverse("shops:dashboard-product-create"), _dashboard_product_post([polyglot()])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_stored_safely(ProductImage.objects.get().image)


def test_dashboard_shop_logo_polyglot_is_stored_only_as_our_re_encoded_image(client, shop):
    client.force_login(shop.owner)
    response = client.post(
        reverse("shops:dashboard-shop"),
        {"name": shop.name, "slug": shop.slug, "description": "", "currency": "USD"}
        | {"logo": polyglot()},
    )
    assert response.status_code == 302
    shop.refresh_from_db()
    assert_stored_safely(shop.logo)


def test_admin_product_image_polyglot_is_stored_only_as_our_re_encoded_image(product):
    # The admin and any other code saving the model go through the field itself.
    img = ProductImage(product=product, position=0)
    img.image = polyglot()
    img.full_clean()
    img.save()
    assert_stored_safely(img.image)


def test_a_user_avatar_polyglot_is_stored_only_as_our_re_encoded_image(shopper):
    shopper.avatar = polyglot()
    shopper.full_clean()
    shopper.save()
    assert_stored_safely(shopper.avatar)


def test_jpeg_and_webp_keep_their_format_and_get_our_extension(shop, product):
    client = api_client(shop.owner)
    for fmt, ext in (("JPEG", ".jpg"), ("WEBP", ".webp")):
        upload = make_image_file("photo.html", fmt=fmt)
        response = client.post(f"{API}/products/{product.pk}/images/", {"image": upload})
        assert response.status_code == 201, response.json()
        assert response.json()["url"].endswith(ext)


def test_re_encoding_applies_the_exif_orientation(shop, product):
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (60, 20), (1, 2, 3)).save(buf, format="JPEG", exif=exif)
    upload = SimpleUploadedFile("turned.jpg", buf.getvalue(), content_type="image/jpeg")
    response = api_client(shop.owner).post(
        f"{API}/products/{product.pk}/images/", {"image": upload}
    )
    assert response.status_code == 201
    with Image.open(ProductImage.objects.get().image.path) as im:
        assert im.size == (20, 60)
        assert 0x0112 not in im.getexif()


# --- truncated files -----------------------------------------------------------------------


def test_api_truncated_png_is_refused_with_a_clear_error(shop, product):
    response = api_client(shop.owner).post(
        f"{API}/products/{product.pk}/images/", {"image": truncated_png()}
    )
    assert response.status_code == 400
    assert "incomplete or damaged" in response.json()["image"][0]
    assert not ProductImage.objects.exists()


def test_dashboard_truncated_png_is_refused_with_a_clear_error(client, shop):
    client.force_login(shop.owner)
    response = client.post(
        reverse("shops:dashboard-product-create"), _dashboard_product_post([truncated_png()])
    )
    assert response.status_code == 400
    assert "cut.png: The image file is incomplete or damaged" in response.content.decode()
    assert not ProductImage.objects.exists()


def test_dashboard_truncated_logo_is_refused_with_a_clear_error(client, shop):
    client.force_login(shop.owner)
    response = client.post(
        reverse("shops:dashboard-shop"),
        {"name": shop.name, "slug": shop.slug, "description": "", "currency": "USD"}
        | {"logo": truncated_png()},
    )
    assert response.status_code == 400
    assert "The image file is incomplete or damaged" in response.content.decode()


# --- serving media -------------------------------------------------------------------------


def test_media_is_served_with_nosniff_and_its_image_type(client, shop, product):
    api_client(shop.owner).post(f"{API}/products/{product.pk}/images/", {"image": polyglot()})
    url = ProductImage.objects.get().image.url
    response = client.get(url)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "image/png"
    assert b"<script" not in b"".join(response.streaming_content)


@pytest.mark.parametrize("name", ["old.html", "old.svg", "old.xhtml", "old.js"])
def test_a_stored_file_that_is_not_a_plain_image_is_served_as_a_download(client, settings, name):
    # Files stored before this fix kept the client's extension.
    folder = Path(settings.MEDIA_ROOT) / "products" / "2024" / "01"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(gif_bytes() + SCRIPT)
    response = client.get(f"/media/products/2024/01/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]


def test_media_outside_the_media_folder_is_not_served(client, settings, tmp_path):
    (tmp_path / "secret.png").write_bytes(gif_bytes())
    assert client.get("/media/../secret.png").status_code == 404


def test_image_urls_use_a_separate_media_origin_when_configured(shop, product, settings):
    settings.MEDIA_URL = "https://media.example-cdn.com/"
    response = api_client(shop.owner).post(
        f"{API}/products/{product.pk}/images/", {"image": make_image_file()}
    )
    assert response.status_code == 201
    assert response.json()["url"].startswith("https://media.example-cdn.com/products/")
