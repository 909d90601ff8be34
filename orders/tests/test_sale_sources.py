"""Which source a sale is recorded under. A source that names where the sale happened (a live
session, a video) is kept only when the app that owns that place vouches for it through a
validator registered at startup; orders itself knows nothing of live rooms or videos."""

import pytest

from orders.cart import services as carts
from orders.cart import validation
from orders.checkout.services import buy_now_line
from orders.models import SaleSource
from shopfeed.errors import ShopFeedError
from shops.tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant():
    return VariantFactory(product=ProductFactory(), quantity=5)


@pytest.fixture
def registry(monkeypatch):
    """The validators as registered at startup, restored after the test."""
    saved = dict(validation.SOURCE_VALIDATORS)
    yield validation.SOURCE_VALIDATORS
    validation.SOURCE_VALIDATORS.clear()
    validation.SOURCE_VALIDATORS.update(saved)


def _recorded(variant, shopper, source, ref):
    line = buy_now_line(variant=variant, quantity=1, source=source, source_ref=ref, buyer=shopper)
    return line.source, line.source_ref


def test_a_video_source_is_credited_only_to_a_watchable_video_with_the_product_tagged(
    variant, shopper
):
    """The feed vouches for videos (orders/video_sales.py, connected at startup)."""
    from shopfeed.feed.models import Video
    from shopfeed.feed.tests.factories import VideoFactory, VideoProductFactory

    tagged = VideoProductFactory(product=variant.product, video__creator=variant.shop.owner)
    other = VideoFactory()
    hidden = VideoProductFactory(
        product=variant.product,
        video__creator=variant.shop.owner,
        video__moderation=Video.Moderation.HIDDEN,
        video__hidden_reason="Spam",
    )
    ref = str(tagged.video_id)
    assert _recorded(variant, shopper, SaleSource.VIDEO, ref) == (SaleSource.VIDEO, ref)
    for wrong in (str(other.pk), str(hidden.video_id), "42", "x1"):
        assert _recorded(variant, shopper, SaleSource.VIDEO, wrong) == (
            SaleSource.PRODUCT_PAGE,
            "",
        )


def test_a_registered_validator_decides_whether_its_source_is_credited(variant, shopper, registry):
    seen = []

    def tags_product(*, product, ref):
        seen.append((product.pk, ref))
        return ref == "7"

    validation.register_source_validator(SaleSource.VIDEO, tags_product)

    assert _recorded(variant, shopper, SaleSource.VIDEO, "7") == (SaleSource.VIDEO, "7")
    assert _recorded(variant, shopper, SaleSource.VIDEO, "8") == (SaleSource.PRODUCT_PAGE, "")
    assert seen == [(variant.product_id, "7"), (variant.product_id, "8")]


def test_a_live_source_is_vouched_for_by_the_live_app_registered_at_startup():
    assert SaleSource.LIVE in validation.SOURCE_VALIDATORS


def test_a_plain_source_is_kept_and_its_reference_dropped(variant, shopper):
    assert _recorded(variant, shopper, SaleSource.SHOPPING_TAB, "whatever") == (
        SaleSource.SHOPPING_TAB,
        "",
    )


def test_the_cart_records_the_validated_source(variant, shopper, registry):
    validation.register_source_validator(SaleSource.VIDEO, lambda *, product, ref: False)
    cart = carts.get_or_create_cart(user=shopper)
    item = carts.add_to_cart(
        cart=cart, variant=variant, quantity=1, source="video", source_ref="3", buyer=shopper
    )
    assert (item.source, item.source_ref) == (SaleSource.PRODUCT_PAGE, "")


def test_an_unknown_source_is_still_refused(variant, shopper):
    with pytest.raises(ShopFeedError) as exc:
        _recorded(variant, shopper, "billboard", "")
    assert exc.value.code == "bad_source"


def test_a_validator_for_an_unknown_source_is_a_programming_error(registry):
    with pytest.raises(ValueError, match="names a place"):
        validation.register_source_validator("billboard", lambda *, product, ref: True)
