import io

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shopfeed.accounts.tests.factories import CreatorFactory
from shops.models import Category, Product, ProductImage, Shop, Variant


def make_image_file(name="photo.png", size=(64, 48), color=(200, 30, 60), fmt="PNG"):
    """A real image made with Pillow, as an upload."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    return SimpleUploadedFile(name, buf.getvalue(), content_type=content_type)


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop

    owner = factory.SubFactory(CreatorFactory)
    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")
    currency = "USD"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    shop = factory.SubFactory(ShopFactory)
    title = factory.Sequence(lambda n: f"Product {n}")
    handle = factory.Sequence(lambda n: f"product-{n}")
    description = "A fine thing."
    status = Product.Status.ACTIVE


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    shop = factory.SelfAttribute("product.shop")
    currency = factory.SelfAttribute("product.shop.currency")
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    option1 = factory.Sequence(lambda n: f"Option {n}")
    price_amount = 1500
    quantity = 10


class ProductImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductImage

    product = factory.SubFactory(ProductFactory)
    image = factory.LazyFunction(make_image_file)
    position = factory.Sequence(int)
