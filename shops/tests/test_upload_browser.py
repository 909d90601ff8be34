"""A GIF with a script after it, uploaded in a real browser under an .html name, never runs.

The site runs as `make run` serves it (uvicorn on shopfeed.asgi, media through our own view);
pytest-django's live_server would answer /media/ with Django's test handler instead.
"""

import pytest
from django.db import connection
from django.test import Client

from shops.models import ProductImage
from shops.tests.upload_support import SCRIPT, gif_bytes

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def site(tmp_path):
    from shopfeed.testing import asgi_site

    if connection.vendor != "postgresql":
        pytest.skip("the ASGI server shares the test database only on PostgreSQL")
    with asgi_site(tmp_path / "web.log", CELERY_TASK_ALWAYS_EAGER="true") as url:
        yield url


def test_uploaded_polyglot_opened_from_its_media_url_does_not_run_its_script(
    site, browser, tmp_path, shop
):
    client = Client()
    client.force_login(shop.owner)  # the server hashes passwords otherwise than the tests
    payload = tmp_path / "pwn.html"
    payload.write_bytes(gif_bytes() + SCRIPT)

    context = browser.new_context()
    cookie = client.cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": site}])
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{site}/dashboard/products/new/")
    page.fill("#id_title", "Innocent shirt")
    page.fill("#id_variants-0-sku", "IS-1")
    page.fill("#id_variants-0-price", "10.00")
    page.fill("#id_variants-0-quantity", "1")
    page.set_input_files("#id_upload-images", str(payload))
    page.click("button.btn.primary[type=submit]")
    page.wait_for_load_state()
    assert "Nothing was saved" not in page.content()

    stored = ProductImage.objects.get()
    response = page.goto(f"{site}{stored.image.url}")
    page.wait_for_timeout(500)  # time enough for an inline script, had one been parsed

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert response.status == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] in {"image/png", "image/jpeg", "image/webp"}
    context.close()
