"""Bad input is a clear 4xx, never a 500: NUL characters (PostgreSQL text cannot hold them),
JSON nested deeper than any real payload, and positions past what an integer column holds."""

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shops import services
from shops.models import Variant
from shops.tests.factories import (
    ProductFactory,
    ProductImageFactory,
    VariantFactory,
    make_image_file,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

API = "/api/v1"
INT_MAX = 2_147_483_647


def assert_nul_refused(response):
    assert response.status_code == 400, response.content[:300]


def api_error_code(response) -> str:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()["code"]


# --- NUL characters ------------------------------------------------------------------------


def test_search_with_a_nul_in_the_query_is_a_400():
    response = Client().get(f"{API}/search/?q=%00")
    assert_nul_refused(response)
    assert api_error_code(response) == "nul_character"


def test_shopping_tab_of_a_handle_with_a_nul_is_a_400():
    assert_nul_refused(Client().get(f"{API}/creators/%00/shopping-tab/"))


def test_profile_page_of_a_handle_with_a_nul_is_a_400():
    response = Client().get("/@%00/")
    assert_nul_refused(response)
    assert b"NUL" in response.content


def test_nul_in_a_query_parameter_name_is_a_400():
    assert_nul_refused(Client().get("/search/?a%00b=1"))


def test_seller_order_search_with_a_nul_is_a_400(shop):
    client = Client()
    client.force_login(shop.owner)
    assert_nul_refused(client.get("/dashboard/orders/?q=%00"))
    assert client.get("/dashboard/orders/?q=x").status_code == 200


def test_media_hook_with_a_nul_in_the_stream_key_is_a_400():
    response = Client().post(
        "/live/hooks/on-publish/",
        "name=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert_nul_refused(response)


def test_multipart_form_field_with_a_nul_is_a_400():
    response = Client().post("/live/hooks/on-publish/", {"name": "a\x00b"})
    assert_nul_refused(response)


def test_uploaded_file_name_with_a_nul_is_stored_without_it(shop):
    product = ProductFactory(shop=shop)
    client = APIClient()
    client.force_authenticate(shop.owner)
    response = client.post(
        f"{API}/products/{product.pk}/images/",
        {"image": make_image_file(name="a\x00b.png")},
        format="multipart",
    )
    assert response.status_code == 201
    assert "\x00" not in product.images.get().image.name


def test_session_cookie_with_a_nul_is_a_400():
    client = Client()
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert_nul_refused(client.get("/"))


def test_api_token_with_a_nul_is_a_400():
    response = Client().get(f"{API}/shops/", HTTP_AUTHORIZATION="Token abc\x00def")
    assert_nul_refused(response)


def test_json_string_with_a_nul_is_a_400_and_creates_nothing(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    response = client.post(f"{API}/products/", {"title": "Linen\u0000Shirt"}, format="json")
    assert_nul_refused(response)
    assert api_error_code(response) == "parse_error"
    assert not shop.products.exists()


def test_json_key_with_a_nul_is_a_400(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    response = client.post(
        f"{API}/products/", '{"title": "ok", "a\\u0000": 1}', content_type="application/json"
    )
    assert_nul_refused(response)


def test_form_encoded_patch_with_a_nul_is_a_400(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    response = client.patch(
        f"{API}/shops/{shop.slug}/",
        "name=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert_nul_refused(response)
    shop.refresh_from_db()
    assert "\x00" not in shop.name


def test_ordinary_requests_still_pass(shop):
    assert Client().get(f"{API}/search/?q=linen").status_code == 200
    assert Client().get(f"/@{shop.owner.handle}/").status_code == 200


# --- deep JSON ----------------------------------------------------------------------------


def test_anonymous_token_request_nested_100000_deep_is_a_400():
    response = Client().post(f"{API}/auth/token/", "[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert api_error_code(response) == "parse_error"


def test_product_nested_100000_deep_is_a_400_and_creates_nothing(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    body = '{"title": "x", "tags": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post(f"{API}/products/", body, content_type="application/json")
    assert response.status_code == 400
    assert not shop.products.exists()


def test_json_deeper_than_any_real_payload_is_a_400_even_below_the_recursion_limit(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    deep = json.dumps({"title": "x", "tags": json.loads("[" * 100 + "]" * 100)})
    response = client.post(f"{API}/products/", deep, content_type="application/json")
    assert response.status_code == 400
    assert "deep" in response.json()["detail"]


def test_oversized_json_body_is_a_413(shop, settings):
    settings.API_JSON_MAX_BYTES = 1000
    client = APIClient()
    client.force_authenticate(shop.owner)
    body = json.dumps({"title": "x", "description": "y" * 2000})
    response = client.post(f"{API}/products/", body, content_type="application/json")
    assert response.status_code == 413
    assert api_error_code(response) == "too_large"
    assert not shop.products.exists()


def test_a_real_product_payload_still_parses(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    body = {"title": "Linen Shirt", "variants": [{"price_amount": 1500, "option1": "S"}]}
    response = client.post(f"{API}/products/", body, format="json")
    assert response.status_code == 201, response.json()


def _drf_views(resolver=None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _drf_views(entry)
        elif isinstance(entry, URLPattern):
            cls = getattr(entry.callback, "cls", None)
            if cls is not None and hasattr(cls, "parser_classes"):
                yield entry.pattern, cls, getattr(entry.callback, "initkwargs", {})


def test_every_api_view_parses_with_the_guarded_parsers():
    from shopfeed.parsers import SafeParser

    views = list(_drf_views())
    assert len(views) > 5
    for pattern, cls, initkwargs in views:
        parsers = initkwargs.get("parser_classes", cls.parser_classes)
        unsafe = [p.__name__ for p in parsers if not issubclass(p, SafeParser)]
        assert not unsafe, f"{pattern} ({cls.__name__}) parses with {unsafe}"


# --- positions ----------------------------------------------------------------------------


def _owner_client(shop) -> APIClient:
    client = APIClient()
    client.force_authenticate(shop.owner)
    return client


def test_image_position_past_the_limit_is_a_400_and_uploads_nothing(shop):
    product = ProductFactory(shop=shop)
    response = _owner_client(shop).post(
        f"{API}/products/{product.pk}/images/",
        {"image": make_image_file(), "position": INT_MAX},
        format="multipart",
    )
    assert response.status_code == 400
    assert "position" in response.json()
    assert not product.images.exists()


def test_uploads_keep_working_after_an_image_at_the_largest_position(shop):
    product = ProductFactory(shop=shop)
    ProductImageFactory(product=product, position=INT_MAX)  # stored before positions had a cap
    client = _owner_client(shop)
    for _ in range(2):
        response = client.post(
            f"{API}/products/{product.pk}/images/", {"image": make_image_file()}, format="multipart"
        )
        assert response.status_code == 201, response.content
        assert response.json()["position"] <= services.MAX_POSITION
    assert product.images.count() == 3


def test_image_sources_keep_working_after_an_image_at_the_largest_position(shop):
    product = ProductFactory(shop=shop)
    ProductImageFactory(product=product, position=INT_MAX)
    img = services.add_image_source(product=product, by=shop.owner, url="https://example.com/a.jpg")
    assert img.position == services.MAX_POSITION


def test_variant_position_past_the_limit_is_a_400(shop):
    product = ProductFactory(shop=shop)
    VariantFactory(product=product)
    response = _owner_client(shop).post(
        f"{API}/products/{product.pk}/variants/",
        {"price_amount": 100, "option1": "XL", "position": INT_MAX},
        format="json",
    )
    assert response.status_code == 400
    assert "position" in response.json()
    assert product.variants.count() == 1


def test_variant_service_keeps_positions_in_range(shop):
    product = ProductFactory(shop=shop)
    variant = services.save_variant(
        product=product, by=shop.owner, price_amount=100, option1="S", position=INT_MAX
    )
    assert Variant.objects.get(pk=variant.pk).position == services.MAX_POSITION


def test_token_login_with_a_nul_in_the_password_is_a_400(creator):
    Token.objects.filter(user=creator).delete()
    response = Client().post(
        f"{API}/auth/token/",
        {"username": creator.username, "password": "pw\u0000"},
        content_type="application/json",
    )
    assert response.status_code == 400
