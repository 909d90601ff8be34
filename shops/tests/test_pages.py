"""Shopper pages: a creator's profile with the shopping tab, product pages, search, home."""

import json
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse

from shopfeed.accounts.models import Follow
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shops import services
from shops.models import Product, ProductImage
from shops.money import format_money, to_minor_units
from shops.tests.factories import (
    CategoryFactory,
    ProductFactory,
    ProductImageFactory,
    ShopFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def make_product(shop, *, prices=(1500,), quantity=10, **fields):
    product = ProductFactory(shop=shop, **fields)
    for price in prices:
        VariantFactory(product=product, price_amount=price, quantity=quantity)
    return product


def get_tab(client, shop, **params):
    return client.get(reverse("shops:profile", kwargs={"handle": shop.owner.handle}), params)


def card_titles(response) -> list[str]:
    return re.findall(r'<div class="title">([^<]+)</div>', response.content.decode())


def product_url(product):
    return reverse(
        "shops:product-detail",
        kwargs={"handle": product.shop.owner.handle, "product": product.handle},
    )


def suspend(shop, reason="Counterfeit goods reported"):
    staff = UserFactory(is_staff=True)
    return services.suspend_shop(shop=shop, reason=reason, by=staff)


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (3900, "USD", "$39.00"),
        (3900, "EUR", "€39.00"),
        (3905, "GBP", "£39.05"),
        (3900, "JPY", "¥3,900"),
        (3900, "XXX", "39.00 XXX"),
        (123456789, "USD", "$1,234,567.89"),
        (-250, "USD", "-$2.50"),
        (None, "USD", ""),
    ],
)
def test_format_money_shows_symbol_and_currency_decimals(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_money_filter_formats_minor_units_in_templates():
    html = Template("{% load money %}{{ amount|money:cur }}").render(
        Context({"amount": 1999, "cur": "EUR"})
    )
    assert html == "€19.99"


def test_typed_major_units_become_minor_units_rounding_inward():
    assert to_minor_units(Decimal("12.5"), "USD") == 1250
    assert to_minor_units(Decimal("12.345"), "USD") == 1234
    assert to_minor_units(Decimal("12.345"), "USD", round_up=True) == 1235
    assert to_minor_units(Decimal("500"), "JPY") == 500


# --- profile and shopping tab ------------------------------------------------------------


def test_profile_shows_name_bio_and_follower_count(client, creator, shop):
    creator.display_name = "Mia Chen"
    creator.bio = "Outfits I wear."
    creator.save()
    for fan in UserFactory.create_batch(2):
        Follow.objects.create(follower=fan, creator=creator)
    response = client.get(f"/@{creator.handle}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mia Chen" in body
    assert "Outfits I wear." in body
    assert "2 followers" in body
    assert shop.name in body


def test_profile_handle_is_case_insensitive(client, creator):
    assert client.get(f"/@{creator.handle.upper()}/").status_code == 200


def test_unknown_handle_is_404(client, db):
    assert client.get("/@nobody-here/").status_code == 404


def test_profile_without_shop_has_no_shopping_tab(client, shopper):
    response = client.get("/@shopper/")
    assert response.status_code == 200
    assert 'id="results"' not in response.content.decode()


def test_tab_lists_featured_products_first_then_tab_order(client, shop):
    make_product(shop, title="Third", tab_position=3)
    make_product(shop, title="First", tab_position=1)
    make_product(shop, title="Starred", tab_position=9, is_featured=True)
    make_product(shop, title="Second", tab_position=2)
    response = get_tab(client, shop)
    assert card_titles(response) == ["Starred", "First", "Second", "Third"]
    assert "Featured" in response.content.decode()


def test_card_shows_from_price_compare_at_and_sold_out(client, shop):
    ranged = make_product(shop, title="Ranged", prices=(1500, 2500))
    ranged.variants.filter(price_amount=1500).update(compare_at_amount=3000)
    make_product(shop, title="Gone", prices=(900,), quantity=0)
    body = get_tab(client, shop).content.decode()
    assert "from $15.00" in body
    assert '<s class="compare">$30.00</s>' in body
    assert "$9.00" in body
    assert "from $9.00" not in body
    assert body.count("Sold out") == 1


def test_card_says_only_few_left_when_stock_is_low(client, shop):
    make_product(shop, quantity=3)
    assert "Only 3 left" in get_tab(client, shop).content.decode()


def test_card_thumbnail_prefers_thumbnail_then_image_then_source_url(client, shop):
    uploaded = make_product(shop, title="Uploaded")
    image = ProductImageFactory(product=uploaded)
    imported = make_product(shop, title="Imported")
    ProductImage.objects.create(
        product=imported, image="", source_url="https://cdn.example.com/hat.jpg"
    )
    body = get_tab(client, shop).content.decode()
    assert f'src="/media/{image.image.name}"' in body
    assert 'src="https://cdn.example.com/hat.jpg"' in body

    services.make_thumbnail(image_id=image.pk)
    image.refresh_from_db()
    body = get_tab(client, shop).content.decode()
    assert f'src="/media/{image.thumbnail.name}"' in body


def test_tab_filters_by_category(client, shop):
    hats = CategoryFactory(name="Hats", slug="hats")
    make_product(shop, title="Cap", category=hats)
    make_product(shop, title="Sock")
    response = get_tab(client, shop, category="hats")
    assert card_titles(response) == ["Cap"]
    assert '<option value="hats" selected>Hats</option>' in response.content.decode()


def test_tab_filters_by_price_range_in_major_units(client, shop):
    make_product(shop, title="Cheap", prices=(500,))
    make_product(shop, title="Middle", prices=(1500,))
    make_product(shop, title="Dear", prices=(2500,))
    response = get_tab(client, shop, min_price="10", max_price="20")
    assert card_titles(response) == ["Middle"]
    assert "Min price ($)" in response.content.decode()


def test_price_range_matches_a_product_when_any_variant_is_in_range(client, shop):
    make_product(shop, title="Sizes", prices=(1000, 3000))
    assert card_titles(get_tab(client, shop, min_price="25")) == ["Sizes"]
    assert card_titles(get_tab(client, shop, max_price="12.50")) == ["Sizes"]
    assert card_titles(get_tab(client, shop, min_price="30.01")) == []


def test_price_filter_uses_whole_units_for_zero_decimal_currencies(client):
    yen_shop = ShopFactory(currency="JPY")
    make_product(yen_shop, title="Fan", prices=(1500,))
    assert card_titles(get_tab(client, yen_shop, min_price="1500")) == ["Fan"]
    assert card_titles(get_tab(client, yen_shop, min_price="1501")) == []
    assert "¥1,500" in get_tab(client, yen_shop).content.decode()


def test_in_stock_filter_hides_sold_out_products(client, shop):
    make_product(shop, title="Here", quantity=2)
    make_product(shop, title="Gone", quantity=0)
    assert sorted(card_titles(get_tab(client, shop))) == ["Gone", "Here"]
    assert card_titles(get_tab(client, shop, in_stock="true")) == ["Here"]


def test_search_within_tab_matches_only_this_shop(client, shop, other_shop):
    make_product(shop, title="Linen Shirt")
    make_product(shop, title="Wool Socks")
    make_product(other_shop, title="Linen Trousers")
    assert card_titles(get_tab(client, shop, q="linen")) == ["Linen Shirt"]


def test_tab_sorts_by_price_both_ways(client, shop):
    make_product(shop, title="Mid", prices=(2000,), is_featured=True)
    make_product(shop, title="Low", prices=(1000,))
    make_product(shop, title="High", prices=(3000,))
    assert card_titles(get_tab(client, shop, sort="price")) == ["Low", "Mid", "High"]
    assert card_titles(get_tab(client, shop, sort="-price")) == ["High", "Mid", "Low"]


def test_tab_sorts_by_newest_and_popularity(client, shop):
    make_product(shop, title="Old", sold_count=50)
    make_product(shop, title="New", sold_count=5)
    make_product(shop, title="Newest", sold_count=20)
    assert card_titles(get_tab(client, shop, sort="newest")) == ["Newest", "New", "Old"]
    assert card_titles(get_tab(client, shop, sort="popular")) == ["Old", "Newest", "New"]


def test_tab_is_paginated_24_per_page_keeping_the_filters(client, shop):
    for n in range(30):
        make_product(shop, title=f"Shirt {n:02d}", tab_position=n)
    first = get_tab(client, shop, q="shirt")
    assert len(card_titles(first)) == 24
    assert "Page 1 of 2" in first.content.decode()
    assert "?q=shirt&amp;page=2" in first.content.decode()
    second = get_tab(client, shop, q="shirt", page=2)
    assert card_titles(second) == [f"Shirt {n:02d}" for n in range(24, 30)]
    # A page number that makes no sense still shows a page, not an error.
    assert len(card_titles(get_tab(client, shop, page="abc"))) == 24
    assert len(card_titles(get_tab(client, shop, page="99"))) == 6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_price": "abc"}, "Min price: Enter a number."),
        ({"max_price": "-5"}, "Max price: Ensure this value is greater than or equal to 0."),
        ({"min_price": "1.234"}, "Ensure that there are no more than 2 decimal places."),
        ({"min_price": "9" * 40}, "Min price: Ensure that there are no more than 12 digits"),
        ({"category": "no-such"}, "Category: Select a valid choice."),
        ({"sort": "cheapest"}, "Sort: Select a valid choice."),
    ],
)
def test_invalid_filter_input_shows_the_error_not_a_500(client, shop, params, message):
    make_product(shop, title="Cap")
    response = get_tab(client, shop, **params)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Check the filters" in body
    assert message in body
    assert card_titles(response) == ["Cap"]


def test_huge_price_filter_within_digit_limit_does_not_break_the_query(client, shop):
    make_product(shop, title="Cap")
    response = get_tab(client, shop, min_price="9999999999.99")
    assert response.status_code == 200
    assert card_titles(response) == []
    assert card_titles(get_tab(client, shop, max_price="9999999999.99")) == ["Cap"]


def test_htmx_filter_request_returns_only_the_grid(client, shop):
    make_product(shop, title="Cap", prices=(500,))
    make_product(shop, title="Coat", prices=(9000,))
    url = reverse("shops:profile", kwargs={"handle": shop.owner.handle})
    response = client.get(url, {"max_price": "10"}, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "<form" not in body
    assert card_titles(response) == ["Cap"]
    assert "HX-Request" in response["Vary"]


def test_full_page_has_a_plain_get_filter_form_wired_for_htmx(client, shop):
    make_product(shop)
    body = get_tab(client, shop).content.decode()
    assert '<form class="filters" method="get"' in body
    assert 'hx-target="#results"' in body
    assert '<div id="results"' in body
    assert "<html" in body


def test_htmx_history_restore_gets_the_full_page(client, shop):
    make_product(shop)
    url = reverse("shops:profile", kwargs={"handle": shop.owner.handle})
    response = client.get(url, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


# --- visibility: drafts, archived, suspended shops -----------------------------------------


def test_draft_and_archived_products_never_reach_shoppers(client, shop):
    make_product(shop, title="Live Hat")
    draft = make_product(shop, title="Draft Hat", status=Product.Status.DRAFT)
    archived = make_product(shop, title="Old Hat", status=Product.Status.ARCHIVED)
    assert card_titles(get_tab(client, shop)) == ["Live Hat"]
    assert card_titles(client.get(reverse("shops:search"), {"q": "hat"})) == ["Live Hat"]
    assert client.get(product_url(draft)).status_code == 404
    assert client.get(product_url(archived)).status_code == 404


def test_suspended_shop_listings_disappear_from_shoppers(client, shop, other_shop):
    hidden = make_product(shop, title="Fake Watch")
    make_product(other_shop, title="Real Watch")
    suspend(shop)
    tab = get_tab(client, shop)
    assert tab.status_code == 200
    body = tab.content.decode()
    assert "This shop is unavailable" in body
    assert "Fake Watch" not in body
    assert "Counterfeit" not in body
    assert card_titles(client.get(reverse("shops:search"), {"q": "watch"})) == ["Real Watch"]
    assert "Fake Watch" not in client.get(reverse("shops:home")).content.decode()
    assert client.get(product_url(hidden)).status_code == 404


def test_owner_sees_why_their_shop_was_suspended(client, creator, shop):
    make_product(shop, title="Fake Watch")
    suspend(shop, reason="Counterfeit goods reported")
    client.force_login(creator)
    body = get_tab(client, shop).content.decode()
    assert "This shop is unavailable" in body
    assert "Counterfeit goods reported" in body
    assert "Fake Watch" not in body


def test_other_logged_in_users_do_not_see_the_suspension_reason(client, shopper, shop):
    suspend(shop, reason="Counterfeit goods reported")
    client.force_login(shopper)
    body = get_tab(client, shop).content.decode()
    assert "This shop is unavailable" in body
    assert "Counterfeit" not in body


def test_htmx_grid_of_a_suspended_shop_shows_the_notice_only(client, shop):
    make_product(shop, title="Fake Watch")
    suspend(shop)
    url = reverse("shops:profile", kwargs={"handle": shop.owner.handle})
    body = client.get(url, headers=HTMX).content.decode()
    assert "This shop is unavailable" in body
    assert "Fake Watch" not in body
    assert "<html" not in body


# --- product page ------------------------------------------------------------------------


def test_product_page_shows_variants_prices_and_availability(client, shop):
    product = make_product(shop, title="Linen Shirt", prices=(), option1_name="Size", category=None)
    VariantFactory(product=product, option1="S", price_amount=3900, quantity=0)
    VariantFactory(
        product=product, option1="M", price_amount=3900, compare_at_amount=5000, quantity=3
    )
    VariantFactory(product=product, option1="L", price_amount=4200, quantity=40)
    response = client.get(product_url(product))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Linen Shirt</h1>" in body
    assert "<legend>Size</legend>" in body
    assert body.count('type="radio" name="variant"') == 3
    for text in ("Sold out", "Only 3 left", "In stock", "$39.00", "$42.00", "$50.00"):
        assert text in body
    # The first variant in stock is picked and its price shown at the top.
    assert re.search(r'value="\d+" checked>\s*<span class="variant-label">M<', body)
    assert '<span id="pd-price" class="price">$39.00</span>' in body


def test_product_page_embeds_variant_data_for_the_picker(client, shop):
    product = make_product(shop, prices=(1000, 2000))
    response = client.get(product_url(product))
    match = re.search(
        r'<script id="variant-data" type="application/json">(.*?)</script>',
        response.content.decode(),
    )
    data = json.loads(match.group(1))
    assert [v["price"] for v in data] == ["$10.00", "$20.00"]
    assert {v["availability"] for v in data} == {"In stock"}
    assert {v["id"] for v in data} == set(product.variants.values_list("pk", flat=True))


def test_product_page_shows_the_image_gallery(client, shop):
    product = make_product(shop)
    first = ProductImageFactory(product=product, alt_text="Front", position=0)
    ProductImageFactory(product=product, alt_text="Back", position=1)
    body = client.get(product_url(product)).content.decode()
    assert f'id="pd-main-image" class="main-image" src="/media/{first.image.name}"' in body
    assert 'alt="Back"' in body
    assert body.count("data-full=") == 2


def test_product_description_html_is_stripped_not_rendered(client, shop):
    product = make_product(
        shop, description="<p>Soft <b>linen</b>.</p><script>alert('x')</script>\n\nMachine wash"
    )
    body = client.get(product_url(product)).content.decode()
    assert "<b>linen</b>" not in body
    assert "<script>alert" not in body
    assert "Soft linen." in body
    assert "<p>Machine wash</p>" in body


def test_product_page_shows_category_tags_and_way_back_to_the_tab(client, creator, shop):
    product = make_product(shop, category=CategoryFactory(name="Shirts", slug="shirts"))
    services.set_tags(product=product, names=["summer", "linen"])
    body = client.get(product_url(product)).content.decode()
    assert ">Shirts</a>" in body
    assert ">summer</a>" in body
    assert ">linen</a>" in body
    assert f'href="/@{creator.handle}/"' in body
    assert 'id="buy-form"' in body  # buying starts here


@pytest.mark.parametrize("case", ["unknown", "wrong_creator"])
def test_product_page_is_404_for_unknown_product_or_wrong_creator(client, shop, other_shop, case):
    product = make_product(other_shop)
    handle = shop.owner.handle if case == "wrong_creator" else other_shop.owner.handle
    slug = product.handle if case == "wrong_creator" else "no-such-thing"
    url = reverse("shops:product-detail", kwargs={"handle": handle, "product": slug})
    assert client.get(url).status_code == 404


# --- search and home ---------------------------------------------------------------------


def test_search_finds_products_across_active_shops(client, shop, other_shop):
    make_product(shop, title="Linen Shirt")
    make_product(other_shop, title="Linen Trousers")
    make_product(other_shop, title="Wool Hat")
    response = client.get(reverse("shops:search"), {"q": "linen"})
    assert sorted(card_titles(response)) == ["Linen Shirt", "Linen Trousers"]
    body = response.content.decode()
    assert "Results for “linen”" in body
    assert shop.name in body
    assert other_shop.name in body


def test_search_filters_and_sorts_like_the_tab(client, shop, other_shop):
    make_product(shop, title="Cap A", prices=(3000,))
    make_product(other_shop, title="Cap B", prices=(1000,))
    make_product(other_shop, title="Cap C", prices=(2000,), quantity=0)
    response = client.get(reverse("shops:search"), {"q": "cap", "sort": "price"})
    assert card_titles(response) == ["Cap B", "Cap C", "Cap A"]
    response = client.get(reverse("shops:search"), {"q": "cap", "in_stock": "true"})
    assert sorted(card_titles(response)) == ["Cap A", "Cap B"]


def test_search_invalid_filter_is_shown_not_a_500(client, shop):
    make_product(shop, title="Cap")
    response = client.get(reverse("shops:search"), {"max_price": "lots"})
    assert response.status_code == 200
    assert "Max price: Enter a number." in response.content.decode()


def test_search_htmx_request_returns_only_the_grid(client, shop):
    make_product(shop, title="Cap")
    response = client.get(reverse("shops:search"), {"q": "cap"}, headers=HTMX)
    assert card_titles(response) == ["Cap"]
    assert "<html" not in response.content.decode()


def test_home_lists_creators_with_shops_and_newest_products(client, shop, other_shop):
    make_product(shop, title="Older")
    make_product(other_shop, title="Newer")
    suspended = ShopFactory(name="Gone Shop")
    make_product(suspended, title="Hidden")
    suspend(suspended)
    response = client.get(reverse("shops:home"))
    body = response.content.decode()
    assert card_titles(response) == ["Newer", "Older"]
    assert f'href="/@{shop.owner.handle}/"' in body
    assert "Gone Shop" not in body


@pytest.mark.parametrize("page", ["home", "search", "profile", "product"])
def test_pages_are_sized_for_phones(client, shop, page):
    product = make_product(shop)
    url = {
        "home": reverse("shops:home"),
        "search": reverse("shops:search"),
        "profile": f"/@{shop.owner.handle}/",
        "product": product_url(product),
    }[page]
    body = client.get(url).content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body


# --- query counts ------------------------------------------------------------------------


def add_products(shop, count, *, category):
    for _ in range(count):
        product = make_product(shop, prices=(1000, 2000), category=category)
        ProductImageFactory(product=product)


def test_shopping_tab_query_count_stays_constant_as_products_grow(
    client, shop, django_assert_max_num_queries, django_assert_num_queries
):
    category = CategoryFactory()
    add_products(shop, 3, category=category)
    url = f"/@{shop.owner.handle}/"
    params = {"category": category.slug, "in_stock": "true", "sort": "price"}
    with django_assert_max_num_queries(6) as few:
        client.get(url, params)
    add_products(shop, 27, category=category)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url, params)
    assert len(card_titles(response)) == 24


def test_search_query_count_stays_constant_as_products_grow(
    client, shop, other_shop, django_assert_max_num_queries, django_assert_num_queries
):
    category = CategoryFactory()
    add_products(shop, 2, category=category)
    add_products(other_shop, 1, category=category)
    url = reverse("shops:search")
    with django_assert_max_num_queries(4) as few:
        client.get(url, {"q": "product"})
    add_products(shop, 14, category=category)
    add_products(other_shop, 13, category=category)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url, {"q": "product"})
    assert len(card_titles(response)) == 24


def test_home_query_count_stays_constant_as_shops_grow(
    client, django_assert_max_num_queries, django_assert_num_queries
):
    add_products(ShopFactory(), 1, category=None)
    with django_assert_max_num_queries(3) as few:
        client.get(reverse("shops:home"))
    for _ in range(10):
        add_products(ShopFactory(), 2, category=None)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("shops:home"))


def test_product_page_query_count_stays_constant_with_many_variants_and_images(
    client, shop, django_assert_max_num_queries, django_assert_num_queries
):
    small = make_product(shop, prices=(1000,))
    ProductImageFactory(product=small)
    big = make_product(shop, prices=range(1000, 3000, 100))
    ProductImageFactory.create_batch(8, product=big)
    services.set_tags(product=big, names=["a", "b", "c"])
    with django_assert_max_num_queries(4) as few:
        client.get(product_url(small))
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(product_url(big))
    assert response.content.decode().count('type="radio" name="variant"') == 20


def test_logged_in_owner_sees_a_link_to_manage_the_shop(client, creator, shop):
    make_product(shop)
    client.force_login(creator)
    assert "Manage your shop" in get_tab(client, shop).content.decode()
    assert "Manage your shop" not in get_tab(client.__class__(), shop).content.decode()


def test_a_creator_with_no_shop_sees_how_to_open_one(client):
    creator = CreatorFactory()
    client.force_login(creator)
    assert "Open one" in client.get(f"/@{creator.handle}/").content.decode()
