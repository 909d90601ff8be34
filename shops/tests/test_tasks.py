import time

import pytest
from PIL import Image

from shops import services
from shops.models import ProductImage
from shops.tests.factories import ProductFactory, make_image_file


def _wait_for_thumbnail(image_id: int, timeout: float = 30) -> ProductImage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        img = ProductImage.objects.get(pk=image_id)
        if img.thumbnail:
            return img
        time.sleep(0.2)
    raise AssertionError("no thumbnail was made in time")


@pytest.mark.postgres
@pytest.mark.services
def test_real_worker_over_redis_makes_the_thumbnail(celery_worker, shop):
    product = ProductFactory(shop=shop)
    upload = make_image_file("big.png", size=(1600, 1200))
    img = services.add_product_image(product=product, by=shop.owner, image=upload)
    assert not img.thumbnail  # made later, by the worker

    img = _wait_for_thumbnail(img.pk)
    with img.thumbnail.open("rb") as fh, Image.open(fh) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (400, 300)  # aspect kept, within 400x400
    assert "make_thumbnail_task[" in celery_worker.output()


@pytest.mark.django_db
def test_thumbnail_of_a_deleted_image_is_a_no_op(shop):
    product = ProductFactory(shop=shop)
    img = services.add_product_image(product=product, by=shop.owner, image=make_image_file())
    pk = img.pk
    img.delete()
    assert services.make_thumbnail(image_id=pk) is None


@pytest.mark.django_db
def test_making_a_thumbnail_twice_keeps_one_file(shop, settings):
    product = ProductFactory(shop=shop)
    img = services.add_product_image(product=product, by=shop.owner, image=make_image_file())
    first = services.make_thumbnail(image_id=img.pk).thumbnail.name
    second = services.make_thumbnail(image_id=img.pk).thumbnail.name
    thumbs = list((settings.MEDIA_ROOT / "products" / "thumbs").rglob("*.jpg"))
    assert len(thumbs) == 1
    assert second.endswith(".jpg")
    assert first.endswith(".jpg")
