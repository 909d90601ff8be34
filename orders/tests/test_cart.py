"""The buying side in pages: cart, buy now, checkout with saved addresses, who sees what."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.addresses import services as addresses
from orders.checkout.services import release_checkout
from orders.models import Address, Cart, CartItem, Checkout, Order, SaleSource
from orders.payments import settlement
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotFound
from shopfeed.testing import localstripe_call
from shops.models import Product, Variant
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import ADDRESS as SHIPPING_ADDRESS
from .factories import pay_checkout

# What the checkout form posts for a new address, kept for next time (the country as typed).
ADDRESS = {"address": "new", **SHIPPING_ADDRESS, "country": "us", "save_address": "on"}


def _variant(shop, *, title="Linen Shirt", price=1500, stock=10, **kwargs):
    product = ProductFactory(shop=shop, title=title)
    return VariantFactory(product=product, price_amount=price, quantity=stock, **kwargs)


def _add(client, variant, quantity=1, **extra):
    data = {"variant_id": variant.pk, "quantity": quantity, "source": "product_page", **extra}
    return client.post("/cart/add/", data)


def _log_in(client, user):
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "pw-Secret-123"}
    )
    assert response.status_code == 302
    return client


def _lines(user):
    return sorted(CartItem.objects.filter(cart__user=user).values_list("variant_id", "quantity"))


@pytest.fixture
def buyer_client(client, shopper):
    client.force_login(shopper)
    return client


# --- cart ------------------------------------------------------------------------------------


def test_added_items_show_in_the_cart_grouped_by_shop_with_subtotals(
    buyer_client, shop, other_shop
):
    shirt = _variant(shop, title="Linen Shirt", price=1500)
    mug = _variant(other_shop, title="Clay Mug", price=900)

    assert _add(buyer_client, shirt, 2)["Location"] == "/cart/"
    _add(buyer_client, mug, 1)
    body = buyer_client.get("/cart/").content.decode()

    assert shop.name in body
    assert other_shop.name in body
    assert "Linen Shirt" in body
    assert "Clay Mug" in body
    assert "$30.00" in body  # shirt subtotal
    assert "$9.00" in body  # mug subtotal
    assert "$39.00" in body  # one total
    assert "Cart (3)" in body  # header count


def test_adding_the_same_variant_again_adds_to_its_quantity(buyer_client, shopper, shop):
    shirt = _variant(shop)
    _add(buyer_client, shirt, 2)
    _add(buyer_client, shirt, 3)
    assert _lines(shopper) == [(shirt.pk, 5)]


@pytest.mark.parametrize("quantity", ["0", "100", "-1", "two", ""])
def test_quantity_outside_1_to_99_is_refused_and_nothing_is_added(
    buyer_client, shopper, shop, quantity
):
    shirt = _variant(shop, stock=500)
    response = _add(buyer_client, shirt, quantity)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose a quantity from 1 to 99" in body or "whole number" in body
    assert _lines(shopper) == []


def test_cart_line_cannot_grow_past_99(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=500)
    _add(buyer_client, shirt, 60)
    response = _add(buyer_client, shirt, 40)
    assert response.status_code == 400
    assert "you already have 60 in your cart" in response.content.decode()
    assert _lines(shopper) == [(shirt.pk, 60)]


def test_more_than_in_stock_is_refused_with_what_is_left(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=3)
    response = _add(buyer_client, shirt, 4)
    assert response.status_code == 409
    assert "Only 3 of Linen Shirt" in response.content.decode()
    assert _lines(shopper) == []


def test_sold_out_variant_cannot_be_added(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=0)
    response = _add(buyer_client, shirt)
    assert response.status_code == 409
    assert "sold out" in response.content.decode()
    assert _lines(shopper) == []


def test_hidden_product_cannot_be_added(buyer_client, shopper, shop):
    shirt = _variant(shop)
    Product.objects.filter(pk=shirt.product_id).update(status=Product.Status.DRAFT)
    response = _add(buyer_client, shirt)
    assert response.status_code == 404
    assert "not available any more" in response.content.decode()
    assert _lines(shopper) == []


def test_creator_cannot_add_their_own_product(client, shop):
    shirt = _variant(shop)
    client.force_login(shop.owner)
    response = _add(client, shirt)
    assert response.status_code == 400
    assert "your own shop" in response.content.decode()
    assert not CartItem.objects.exists()


def test_quantity_is_updated_and_an_item_removed_in_place(buyer_client, shopper, shop):
    shirt, hat = _variant(shop, title="Shirt"), _variant(shop, title="Hat", price=700)
    _add(buyer_client, shirt)
    _add(buyer_client, hat)
    shirt_item = CartItem.objects.get(variant=shirt)
    hat_item = CartItem.objects.get(variant=hat)

    response = buyer_client.post(
        f"/cart/items/{shirt_item.pk}/", {"quantity": 4}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="cart-body"' in body
    assert "$60.00" in body
    assert 'hx-swap-oob="true"' in body
    assert "Cart (5)" in body

    response = buyer_client.post(f"/cart/items/{hat_item.pk}/remove/")
    assert response.status_code == 302
    assert _lines(shopper) == [(shirt.pk, 4)]


def test_update_beyond_stock_is_refused_and_the_quantity_kept(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=5)
    _add(buyer_client, shirt, 2)
    item = CartItem.objects.get()
    response = buyer_client.post(f"/cart/items/{item.pk}/", {"quantity": 6})
    assert response.status_code == 409
    assert "Only 5 of Linen Shirt (Option" in response.content.decode()
    assert _lines(shopper) == [(shirt.pk, 2)]


def test_someone_elses_cart_item_cannot_be_changed(client, shopper, shop):
    shirt = _variant(shop)
    other = UserFactory()
    item = CartItem.objects.create(cart=Cart.objects.create(user=other), variant=shirt, quantity=1)
    client.force_login(shopper)
    assert client.post(f"/cart/items/{item.pk}/", {"quantity": 3}).status_code == 404
    assert client.post(f"/cart/items/{item.pk}/remove/").status_code == 404
    assert CartItem.objects.get(pk=item.pk).quantity == 1


def test_anonymous_shopper_has_a_cart_too(client, shop):
    shirt = _variant(shop)
    _add(client, shirt, 2)
    body = client.get("/cart/").content.decode()
    assert "Linen Shirt" in body
    assert "$30.00" in body
    assert Cart.objects.get().user is None


def test_anonymous_cart_is_merged_at_login_with_quantities_summed_and_capped(client, shop):
    shirt, hat, mug = (_variant(shop, title=t, stock=200) for t in ("Shirt", "Hat", "Mug"))
    user = UserFactory()
    mine = Cart.objects.create(user=user)
    CartItem.objects.create(cart=mine, variant=hat, quantity=50)
    CartItem.objects.create(cart=mine, variant=mug, quantity=1)

    _add(client, shirt, 2)
    _add(client, hat, 60)
    _log_in(client, user)

    assert _lines(user) == sorted([(shirt.pk, 2), (hat.pk, 99), (mug.pk, 1)])
    assert Cart.objects.count() == 1  # the anonymous cart is gone
    assert "Cart (102)" in client.get("/").content.decode()


def test_anonymous_shopper_is_sent_to_log_in_and_comes_back_to_checkout(client, shop):
    shirt = _variant(shop)
    user = UserFactory()
    _add(client, shirt)

    response = client.get("/checkout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/checkout/"
    response = client.post(
        "/accounts/login/?next=/checkout/",
        {"username": user.username, "password": "pw-Secret-123", "next": "/checkout/"},
    )
    assert response["Location"] == "/checkout/"
    body = client.get("/checkout/").content.decode()
    assert "Linen Shirt" in body
    assert "Shipping address" in body


def test_cart_page_queries_do_not_grow_with_items(buyer_client, shop, other_shop):
    _add(buyer_client, _variant(shop, title="First"))
    buyer_client.get("/cart/")
    with CaptureQueriesContext(connection) as one:
        assert buyer_client.get("/cart/").status_code == 200
    for n in range(3):
        _add(buyer_client, _variant(shop, title=f"Shop A {n}"))
        _add(buyer_client, _variant(other_shop, title=f"Shop B {n}"))
    with CaptureQueriesContext(connection) as seven:
        body = buyer_client.get("/cart/").content.decode()
    assert "Shop B 2" in body
    assert len(seven) == len(one)


# --- checkout --------------------------------------------------------------------------------


def test_cart_with_two_shops_becomes_one_checkout_with_two_orders_and_one_total(
    buyer_client, shopper, shop, other_shop
):
    shirt = _variant(shop, price=1500, stock=5)
    mug = _variant(other_shop, title="Clay Mug", price=900, stock=5)
    _add(buyer_client, shirt, 2)
    _add(buyer_client, mug, 1)

    page = buyer_client.get("/checkout/").content.decode()
    assert "$30.00" in page
    assert "$9.00" in page
    assert "$39.00" in page

    response = buyer_client.post("/checkout/", ADDRESS)
    checkout = Checkout.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/checkout/{checkout.pk}/pay/"
    assert (checkout.buyer, checkout.total_amount, checkout.currency) == (shopper, 3900, "USD")
    orders = {o.shop_id: o for o in checkout.orders.all()}
    assert orders[shop.pk].total_amount == 3000
    assert orders[other_shop.pk].total_amount == 900
    assert checkout.shipping_address["city"] == "SPRINGFIELD"  # normalised for the US
    assert checkout.shipping_address["country"] == "US"
    assert Variant.objects.get(pk=shirt.pk).quantity == 3  # reserved
    assert _lines(shopper) == []  # the checkout holds them now


def test_orders_record_where_the_sale_came_from(buyer_client, shop, other_shop):
    shirt = _variant(shop)
    mug = _variant(other_shop, title="Clay Mug")
    tab_page = buyer_client.get(shirt.product.get_absolute_url() + "?from=tab").content.decode()
    assert 'name="source" value="shopping_tab"' in tab_page
    plain_page = buyer_client.get(mug.product.get_absolute_url()).content.decode()
    assert 'name="source" value="product_page"' in plain_page

    _add(buyer_client, shirt, source="shopping_tab")
    _add(buyer_client, mug, source="product_page")
    buyer_client.post("/checkout/", ADDRESS)

    sources = dict(Order.objects.values_list("shop_id", "source"))
    assert sources == {shop.pk: SaleSource.SHOPPING_TAB, other_shop.pk: SaleSource.PRODUCT_PAGE}


def test_shopping_tab_links_say_they_come_from_the_tab(client, shop):
    shirt = _variant(shop)
    body = client.get(f"/@{shop.owner.handle}/").content.decode()
    assert f'href="{shirt.product.get_absolute_url()}?from=tab"' in body


def test_unknown_source_is_refused(buyer_client, shopper, shop):
    response = _add(buyer_client, _variant(shop), source="billboard")
    assert response.status_code == 400
    assert "Unknown sale source" in response.content.decode()
    assert _lines(shopper) == []


def test_sold_out_at_checkout_is_shown_and_nothing_is_reserved(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=5)
    hat = _variant(shop, title="Hat", stock=5)
    _add(buyer_client, shirt, 2)
    _add(buyer_client, hat, 3)
    Variant.objects.filter(pk=hat.pk).update(quantity=1)  # sold elsewhere meanwhile

    response = buyer_client.post("/checkout/", ADDRESS)

    assert response.status_code == 409
    assert "fewer than 3 are left" in response.content.decode()
    assert not Checkout.objects.exists()
    assert not Order.objects.exists()
    assert not Address.objects.exists()
    assert Variant.objects.get(pk=shirt.pk).quantity == 5
    assert Variant.objects.get(pk=hat.pk).quantity == 1
    assert _lines(shopper) == sorted([(shirt.pk, 2), (hat.pk, 3)])


def test_checkout_page_marks_an_item_that_sold_out_since_it_was_added(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=5)
    _add(buyer_client, shirt, 2)
    Variant.objects.filter(pk=shirt.pk).update(quantity=0)
    body = buyer_client.get("/checkout/").content.decode()
    assert "is sold out" in body
    assert "Continue to payment</button>" in body
    assert "disabled" in body


def test_incomplete_address_is_shown_again_and_nothing_is_written(buyer_client, shop):
    shirt = _variant(shop, stock=5)
    _add(buyer_client, shirt)
    # Which other fields a country needs is unknown until the country is: line1 always is.
    response = buyer_client.post("/checkout/", {**ADDRESS, "line1": "", "country": "U1"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required." in body
    assert "two-letter country code" in body
    assert not Checkout.objects.exists()
    assert not Address.objects.exists()
    assert Variant.objects.get(pk=shirt.pk).quantity == 5


def test_saved_address_is_offered_next_time_and_reused(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=5)
    _add(buyer_client, shirt)
    buyer_client.post("/checkout/", ADDRESS)
    address = Address.objects.get(user=shopper)
    assert address.is_default
    assert address.country == "US"

    _add(buyer_client, shirt)
    page = buyer_client.get("/checkout/").content.decode()
    assert f'name="address" value="{address.pk}" checked' in page
    # The hidden new-address fields must not block the browser from submitting.
    assert "required" not in re.search(r'<input[^>]*name="full_name"[^>]*>', page).group(0)
    response = buyer_client.post("/checkout/", {"address": address.pk})
    assert response.status_code == 302
    assert Checkout.objects.count() == 2
    assert Address.objects.count() == 1


def test_someone_elses_saved_address_cannot_be_used(buyer_client, shop):
    theirs = Address.objects.create(
        user=UserFactory(),
        full_name="Not You",
        line1="2 Side St",
        city="Elsewhere",
        postal_code="99999",
        country="US",
    )
    _add(buyer_client, _variant(shop, stock=5))
    response = buyer_client.post("/checkout/", {"address": theirs.pk})
    assert response.status_code == 404
    assert "Choose one of your saved addresses" in response.content.decode()
    assert not Checkout.objects.exists()


def test_empty_cart_checkout_goes_back_to_the_cart(buyer_client):
    assert buyer_client.get("/checkout/")["Location"] == "/cart/"
    response = buyer_client.post("/checkout/", ADDRESS)
    assert response.status_code == 400
    assert "Your cart is empty" in response.content.decode()


# --- buy now ---------------------------------------------------------------------------------


def test_buy_now_goes_straight_to_checkout_with_only_that_item(buyer_client, shopper, shop):
    shirt = _variant(shop, stock=5)
    in_cart = _variant(shop, title="Hat")
    _add(buyer_client, in_cart)

    response = buyer_client.post(
        "/buy-now/", {"variant_id": shirt.pk, "quantity": 2, "source": "shopping_tab"}
    )
    assert response["Location"] == "/checkout/?buy_now=1"
    page = buyer_client.get("/checkout/?buy_now=1").content.decode()
    assert "Linen Shirt" in page
    assert "Hat" not in page
    assert "$30.00" in page

    buyer_client.post("/checkout/", {**ADDRESS, "buy_now": "1"})
    order = Order.objects.get()
    assert list(order.items.values_list("variant_id", "quantity")) == [(shirt.pk, 2)]
    assert order.source == SaleSource.SHOPPING_TAB
    assert _lines(shopper) == [(in_cart.pk, 1)]  # the cart is untouched


def test_buy_now_of_a_sold_out_item_says_so(buyer_client, shop):
    shirt = _variant(shop, stock=0)
    response = buyer_client.post("/buy-now/", {"variant_id": shirt.pk, "quantity": 1})
    assert response.status_code == 409
    assert "sold out" in response.content.decode()


def test_anonymous_buy_now_logs_in_then_checks_out(client, shop):
    shirt = _variant(shop, stock=5)
    user = UserFactory()
    assert client.post("/buy-now/", {"variant_id": shirt.pk})["Location"] == (
        "/checkout/?buy_now=1"
    )
    response = client.get("/checkout/?buy_now=1")
    assert response["Location"] == "/accounts/login/?next=/checkout/%3Fbuy_now%3D1"
    _log_in(client, user)
    assert "Linen Shirt" in client.get("/checkout/?buy_now=1").content.decode()


# --- who sees a checkout ---------------------------------------------------------------------


def _checkout(client, shop):
    _add(client, _variant(shop, stock=5))
    client.post("/checkout/", ADDRESS)
    return Checkout.objects.get()


def test_only_the_buyer_can_see_their_checkout(buyer_client, client, shop):
    checkout = _checkout(buyer_client, shop)
    buyer_client.logout()
    for page in ("pay", "done", "status"):
        url = f"/checkout/{checkout.pk}/{page}/"
        assert client.get(url)["Location"].startswith("/accounts/login/")
    client.force_login(UserFactory())
    for page in ("pay", "done", "status"):
        assert client.get(f"/checkout/{checkout.pk}/{page}/").status_code == 404
    response = client.post(f"/checkout/{checkout.pk}/pay/local-confirm/", {"payment_method": "x"})
    assert response.status_code == 404


def test_done_page_waits_for_the_payment_then_links_the_orders(
    localstripe, buyer_client, shop, other_shop
):
    _add(buyer_client, _variant(other_shop, title="Mug"))
    checkout = _checkout(buyer_client, shop)
    body = buyer_client.get(f"/checkout/{checkout.pk}/done/").content.decode()
    assert "Payment received, confirming" in body
    assert f'hx-get="/checkout/{checkout.pk}/status/"' in body
    assert "every 1s" in body

    pay_checkout(checkout)
    body = buyer_client.get(f"/checkout/{checkout.pk}/status/").content.decode()
    assert "Payment confirmed" in body
    assert "hx-trigger" not in body
    for order in checkout.orders.all():
        assert f'href="/orders/{order.pk}/"' in body


def test_paid_checkout_pay_page_goes_to_done(localstripe, buyer_client, shop):
    checkout = pay_checkout(_checkout(buyer_client, shop))
    response = buyer_client.get(f"/checkout/{checkout.pk}/pay/")
    assert response["Location"] == f"/checkout/{checkout.pk}/done/"


def test_expired_checkout_cannot_be_paid(buyer_client, shop):
    checkout = _checkout(buyer_client, shop)
    release_checkout(checkout_id=checkout.pk, status=Checkout.Status.EXPIRED)
    body = buyer_client.get(f"/checkout/{checkout.pk}/pay/").content.decode()
    assert "This checkout is expired" in body
    assert "payment-form" not in body


@pytest.mark.services
def test_pay_page_loads_stripe_js_with_the_payment_intents_secret(
    buyer_client, shop, localstripe, settings
):
    checkout = _checkout(buyer_client, shop)
    body = buyer_client.get(f"/checkout/{checkout.pk}/pay/").content.decode()
    checkout.refresh_from_db()
    assert checkout.payment_intent_id.startswith("pi_")
    assert f'<script src="{settings.STRIPE_JS_URL}"></script>' in body
    assert f'data-client-secret="{checkout.client_secret}"' in body
    assert f'data-publishable-key="{settings.STRIPE_PUBLISHABLE_KEY}"' in body
    assert "Pay $15.00" in body


def _card_token(number: str) -> str:
    """What localstripe's Stripe.js does with the card form: a token, straight to localstripe."""
    token = localstripe_call(
        "/v1/tokens",
        {
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
    )
    return token["card"]["id"]


@pytest.mark.services
def test_card_tokenised_on_localstripe_pays_the_checkout(buyer_client, shop, localstripe):
    checkout = _checkout(buyer_client, shop)
    buyer_client.get(f"/checkout/{checkout.pk}/pay/")
    response = buyer_client.post(
        f"/checkout/{checkout.pk}/pay/local-confirm/",
        {"payment_method": _card_token("4242424242424242")},
    )
    assert response.status_code == 200
    assert response.json() == {"status": "succeeded"}
    # The webhook (or reconciliation) settles it; here we ask Stripe directly.
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID


@pytest.mark.services
def test_declined_card_is_reported_and_nothing_is_paid(buyer_client, shop, localstripe):
    checkout = _checkout(buyer_client, shop)
    buyer_client.get(f"/checkout/{checkout.pk}/pay/")
    response = buyer_client.post(
        f"/checkout/{checkout.pk}/pay/local-confirm/",
        {"payment_method": _card_token("4000000000000341")},
    )
    assert response.status_code == 402
    assert "declined" in response.json()["detail"]
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.OPEN


def test_ended_checkout_puts_its_items_back_in_the_cart(buyer_client, shopper, shop):
    checkout = _checkout(buyer_client, shop)
    line = checkout.orders.get().items.get()
    assert buyer_client.post(f"/checkout/{checkout.pk}/restore/").status_code == 409
    release_checkout(checkout_id=checkout.pk, status=Checkout.Status.FAILED)

    body = buyer_client.get(f"/checkout/{checkout.pk}/done/").content.decode()
    assert "did not go through" in body
    assert "Put the items back in my cart" in body
    assert buyer_client.post(f"/checkout/{checkout.pk}/restore/")["Location"] == "/cart/"
    buyer_client.post(f"/checkout/{checkout.pk}/restore/")  # twice: no double quantities
    assert _lines(shopper) == [(line.variant_id, 1)]


def test_local_confirm_is_not_offered_against_real_stripe(buyer_client, shop, settings):
    checkout = _checkout(buyer_client, shop)
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    response = buyer_client.post(
        f"/checkout/{checkout.pk}/pay/local-confirm/", {"payment_method": "card_x"}
    )
    assert response.status_code == 404


def test_saved_addresses_keep_exactly_one_default(shopper):
    home = addresses.save_address(user=shopper, data={**ADDRESS, "country": "US"})
    work = addresses.save_address(user=shopper, data={**ADDRESS, "line1": "9 Office Park"})
    again = addresses.save_address(user=shopper, data={**ADDRESS, "country": "us"})
    assert again == home
    assert Address.objects.count() == 2
    assert [a.is_default for a in addresses.list_addresses(user=shopper)] == [True, False]

    addresses.set_default_address(user=shopper, address_id=work.pk)
    assert list(addresses.list_addresses(user=shopper).filter(is_default=True)) == [work]
    with pytest.raises(NotFound):
        addresses.set_default_address(user=UserFactory(), address_id=work.pk)
