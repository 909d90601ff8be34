"""What schemathesis found, pinned one behaviour at a time: the API answers in the shapes and
codes its OpenAPI schema documents, and refuses what the schema says is invalid."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from shops.models import Product
from shops.tests.factories import CategoryFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def schema():
    return APIClient().get("/api/schema/?format=json").json()


def owner_client(shop) -> APIClient:
    client = APIClient()
    client.force_authenticate(shop.owner)
    return client


# --- errors are JSON, with a code ----------------------------------------------------------


def test_unknown_api_path_is_a_json_404(settings):
    settings.DEBUG = False
    response = Client().get(f"{API}/products/not-a-number/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_unknown_page_path_is_still_the_html_404(settings):
    settings.DEBUG = False
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_malformed_multipart_body_on_the_api_is_a_json_400(shop):
    client = APIClient()
    client.force_authenticate(shop.owner)
    response = client.generic(
        "POST",
        f"{API}/products/",
        b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--\r\n",
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")


def test_drf_errors_carry_a_code_like_domain_errors():
    response = APIClient().post(f"{API}/products/", {"title": "x"}, format="json")
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"detail", "code"}


# --- query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("page_size", ["0", "101", "abc", "", "-1", "1.5"])
def test_page_size_outside_1_to_100_is_a_400(page_size):
    response = APIClient().get(f"{API}/shops/", {"page_size": page_size})
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_page_size_within_bounds_is_honoured(shop):
    assert APIClient().get(f"{API}/shops/", {"page_size": 100}).status_code == 200


def test_a_repeated_query_parameter_is_a_400():
    response = APIClient().get(f"{API}/search/?q=a&q=b")
    assert response.status_code == 400
    assert response.json() == {"q": ["Give this parameter once."]}


@pytest.mark.parametrize("value", ["null", "yes", "1", ""])
def test_in_stock_is_true_or_false_only(value):
    response = APIClient().get(f"{API}/products/", {"in_stock": value})
    assert response.status_code == 400
    assert "in_stock" in response.json()


def test_price_filters_are_whole_cents():
    response = APIClient().get(f"{API}/products/", {"min_price": "12.5"})
    assert response.status_code == 400
    assert APIClient().get(f"{API}/products/", {"min_price": "1250"}).status_code == 200


def test_unknown_category_lists_nothing_rather_than_failing(shop):
    product = ProductFactory(shop=shop, category=CategoryFactory(slug="shirts"))
    VariantFactory(product=product)
    client = APIClient()
    assert client.get(f"{API}/products/", {"category": "no-such"}).json()["count"] == 0
    assert client.get(f"{API}/products/", {"category": "shirts"}).json()["count"] == 1


# --- JSON types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": 123}, "title"),
        ({"title": "x", "tags": [1, 2]}, "tags"),
        ({"title": "x", "tags": "shirts"}, "tags"),
        ({"title": "x", "variants": [{"price_amount": "1500"}]}, "variants"),
        ({"title": "x", "variants": [{"price_amount": True}]}, "variants"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_converted(shop, body, field):
    response = owner_client(shop).post(f"{API}/products/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Product.objects.exists()


def test_form_bodies_still_parse_as_text(shop):
    product = ProductFactory(shop=shop)
    VariantFactory(product=product, option1="S")
    response = owner_client(shop).post(
        f"{API}/products/{product.pk}/variants/",
        {"price_amount": "1500", "option1": "M"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()


# --- the schema ----------------------------------------------------------------------------


def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "429"} <= codes, (method, path, codes)
            if method in ("post", "patch", "delete"):
                assert {"403", "409", "413", "415"} <= codes, (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path, codes)


def test_request_bodies_are_json_or_multipart_when_a_file_is_sent(schema):
    paths = schema["paths"]
    assert list(paths["/api/v1/products/"]["post"]["requestBody"]["content"]) == [
        "application/json"
    ]
    image_upload = paths["/api/v1/products/{product_pk}/images/"]["post"]
    assert list(image_upload["requestBody"]["content"]) == ["multipart/form-data"]


def test_shop_schema_says_suspended_reason_is_for_the_owner_only(schema):
    shop = schema["components"]["schemas"]["Shop"]
    assert "suspended_reason" in shop["properties"]
    assert "suspended_reason" not in shop.get("required", [])


def test_page_and_price_parameters_state_their_bounds(schema):
    params = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/search/"]["get"]["parameters"]
    }
    assert params["page_size"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert params["page"]["minimum"] == 1
    assert params["min_price"]["type"] == "integer"
    assert params["min_price"]["minimum"] == 0


def test_position_fields_state_their_limit(schema):
    variant = schema["components"]["schemas"]["VariantRequest"]["properties"]["position"]
    assert variant["maximum"] == 10_000
