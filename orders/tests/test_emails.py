"""Order emails read as written: plain text unescaped, links absolute, an escaped HTML part."""

import html
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail

from orders import emails
from orders.tests.factories import PaidOrderFactory
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.com"
TITLE = 'Tea & "Cakes" <Deluxe>'


@pytest.fixture
def kitchen(creator):
    return ShopFactory(owner=creator, name="Leo's Kitchen")


@pytest.fixture
def order(settings, django_capture_on_commit_callbacks, localstripe, kitchen, shopper):
    settings.SITE_URL = SITE
    product = ProductFactory(shop=kitchen, title=TITLE)
    variant = VariantFactory(product=product, price_amount=1999, quantity=5)
    with django_capture_on_commit_callbacks(execute=True):
        return PaidOrderFactory(buyer=shopper, variant=variant)


def sent_to(address):
    [message] = [m for m in mail.outbox if m.to == [address]]
    return message


def test_subject_and_text_body_show_names_unescaped(order, shopper, creator):
    confirmation = sent_to(shopper.email)
    assert confirmation.subject == (
        f"Your ShopFeed order #{order.pk} from Leo's Kitchen is confirmed"
    )
    assert "Leo's Kitchen has received it" in confirmation.body
    assert f"1 × {TITLE} (" in confirmation.body
    assert "$19.99" in confirmation.body
    assert sent_to(creator.email).subject == f"New order #{order.pk} for Leo's Kitchen: $19.99"
    for message in mail.outbox:
        assert "&#x27;" not in message.subject + message.body
        assert "&amp;" not in message.subject + message.body


def test_links_are_absolute_from_the_site_url(order, shopper, creator):
    assert f"{SITE}/orders/{order.pk}/" in sent_to(shopper.email).body
    assert f"{SITE}/dashboard/orders/{order.pk}/" in sent_to(creator.email).body


def test_each_email_has_an_html_part_with_escaped_content(order, shopper, creator):
    for message in (sent_to(shopper.email), sent_to(creator.email)):
        [(body, mimetype)] = message.alternatives
        assert mimetype == "text/html"
        assert "Leo&#x27;s Kitchen" in body
        assert html.escape(TITLE) in body
        assert TITLE not in body
    confirmation_html = sent_to(shopper.email).alternatives[0][0]
    assert f'href="{SITE}/orders/{order.pk}/"' in confirmation_html


def test_the_shipping_email_is_unescaped_and_links_absolutely(
    order, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    order.carrier, order.tracking_number = "O'Neil Post", "A&B-1"
    order.save(update_fields=["carrier", "tracking_number"])
    with django_capture_on_commit_callbacks(execute=True):
        emails.order_shipped(order)
    [message] = mail.outbox
    assert "Leo's Kitchen has shipped" in message.body
    assert "Carrier: O'Neil Post" in message.body
    assert "A&B-1" in message.body
    assert f"{SITE}/orders/{order.pk}/" in message.body
    assert "O&#x27;Neil Post" in message.alternatives[0][0]


def test_site_url_defaults_to_the_local_server_and_production_requires_it():
    base = Path(__file__).resolve().parents[2]
    code = "from django.conf import settings; print(settings.SITE_URL)"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "shopfeed.settings",
    }
    run = lambda **extra: subprocess.run(  # noqa: E731 - our own interpreter
        [sys.executable, "-c", code],
        cwd=base,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run().stdout.strip() == "http://127.0.0.1:8000"
    production = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "shop.example.com",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
    }
    refused = run(**production)
    assert refused.returncode != 0
    assert "SITE_URL" in refused.stderr
    assert run(**production, SITE_URL=SITE).stdout.strip() == SITE
