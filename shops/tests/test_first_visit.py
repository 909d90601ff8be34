"""What a first-time creator or visitor trips over: drafts missing from the tab, no favicon."""

import pytest
import requests
from django.urls import reverse

from shops.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

DRAFT_HINT = "Drafts are not shown on your shopping tab — set Status to Active to publish."


def test_new_product_form_says_drafts_are_not_on_the_tab(client, shop):
    client.force_login(shop.owner)
    body = client.get(reverse("shops:dashboard-product-create")).content.decode()
    assert DRAFT_HINT in body
    assert 'aria-describedby="id_status_helptext"' in body


def test_product_list_says_drafts_are_not_on_the_tab_once(client, shop):
    ProductFactory(shop=shop, title="First try", status="draft")
    ProductFactory(shop=shop, title="Second try", status="draft")
    client.force_login(shop.owner)
    body = client.get(reverse("shops:dashboard-products")).content.decode()
    assert body.count(DRAFT_HINT) == 1


def test_product_list_without_drafts_has_no_draft_hint(client, shop):
    ProductFactory(shop=shop, title="Published", status="active")
    client.force_login(shop.owner)
    body = client.get(reverse("shops:dashboard-products")).content.decode()
    assert DRAFT_HINT not in body


def test_pages_point_browsers_at_the_favicon(client):
    body = client.get(reverse("shops:home")).content.decode()
    assert 'rel="icon"' in body
    assert "favicon.ico" in body


def test_favicon_ico_leads_to_an_icon(client, live_server):
    response = client.get("/favicon.ico")
    assert response.status_code == 302  # not permanent: the hashed static URL can change
    icon = requests.get(f"{live_server.url}/favicon.ico", timeout=10)
    assert icon.status_code == 200
    assert icon.headers["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # the ICO signature
