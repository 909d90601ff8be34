from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from .images import UploadedImageField

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO currency code.")


class Shop(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shop"
    )
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(max_length=2000, blank=True)
    logo = UploadedImageField(upload_to="shops/logos/%Y/%m/", blank=True)
    currency = models.CharField(max_length=3, default="USD", validators=[currency_validator])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    suspended_reason = models.TextField(blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="suspended") | ~models.Q(suspended_reason=""),
                name="shops_shop_suspension_has_reason",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Product(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="products")
    handle = models.SlugField(max_length=255, help_text="URL name, unique within the shop.")
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    vendor = models.CharField(max_length=120, blank=True)
    product_type = models.CharField(max_length=120, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="products"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="products")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    option1_name = models.CharField(max_length=60, blank=True)
    option2_name = models.CharField(max_length=60, blank=True)
    option3_name = models.CharField(max_length=60, blank=True)
    is_featured = models.BooleanField(default=False)
    tab_position = models.PositiveIntegerField(default=0)
    # Units sold, kept by the orders app; "popularity" sorts on it.
    sold_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_featured", "tab_position", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "handle"], name="shops_product_handle_per_shop"
            ),
        ]
        indexes = [
            models.Index(fields=["shop", "status", "is_featured", "tab_position"]),
            models.Index(fields=["status", "-created_at"]),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse(
            "shops:product-detail",
            kwargs={"handle": self.shop.owner.handle, "product": self.handle},
        )

    @property
    def option_names(self) -> list[str]:
        return [n for n in (self.option1_name, self.option2_name, self.option3_name) if n]


class Variant(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    # Copied from the product so that SKU uniqueness per shop is a database constraint.
    shop = models.ForeignKey(
        Shop, on_delete=models.CASCADE, related_name="variants", editable=False
    )
    sku = models.CharField(max_length=64, blank=True)
    option1 = models.CharField(max_length=100, blank=True)
    option2 = models.CharField(max_length=100, blank=True)
    option3 = models.CharField(max_length=100, blank=True)
    price_amount = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Price in minor units (cents)."
    )
    compare_at_amount = models.PositiveIntegerField(
        null=True, blank=True, help_text="Original price in minor units, shown struck through."
    )
    currency = models.CharField(max_length=3, validators=[currency_validator], editable=False)
    quantity = models.PositiveIntegerField(default=0, help_text="Units in stock.")
    position = models.PositiveIntegerField(default=0)
    # A hot product (DESIGN.md section 4): its units are reserved in Redis and its orders
    # written in batches by orders.flash; PostgreSQL still holds its stock.
    flash_sale = models.BooleanField(
        default=False,
        help_text="Flash sale: units are reserved in Redis and orders written in batches.",
    )
    flash_limit_per_buyer = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Flash sale: most units one buyer may hold (empty: the site default).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "sku"],
                condition=~models.Q(sku=""),
                name="shops_variant_sku_per_shop",
            ),
            models.UniqueConstraint(
                fields=["product", "option1", "option2", "option3"],
                name="shops_variant_options_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="shops_variant_stock_nonnegative"
            ),
            models.CheckConstraint(
                condition=models.Q(price_amount__gt=0), name="shops_variant_price_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(compare_at_amount__isnull=True)
                | models.Q(compare_at_amount__gt=models.F("price_amount")),
                name="shops_variant_compare_at_above_price",
            ),
        ]

    def __str__(self):
        return f"{self.product.title} — {self.label}" if self.label else self.product.title

    @property
    def label(self) -> str:
        return " / ".join(v for v in (self.option1, self.option2, self.option3) if v)

    @property
    def in_stock(self) -> bool:
        return self.quantity > 0


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    # Blank for an image known only by its source_url (imported from a CSV, not downloaded).
    image = UploadedImageField(upload_to="products/%Y/%m/", blank=True)
    thumbnail = models.ImageField(upload_to="products/thumbs/%Y/%m/", blank=True)
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Where an imported image came from (Shopify "Image Src").
    source_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"Image {self.position} of {self.product_id}"

    @property
    def display_url(self) -> str:
        if self.thumbnail:
            return self.thumbnail.url
        return self.image.url if self.image else self.source_url


class ProductImport(models.Model):
    """A Shopify CSV uploaded from the dashboard, imported by a Celery worker.

    The import is all or nothing: `done` is written in the same transaction as the products,
    so a worker that dies half-way leaves the job `running` with nothing written, and the
    redelivered task starts it again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="product_imports"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255, help_text="The name it was uploaded under.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_checked = models.PositiveIntegerField(default=0)
    # What the creator is shown: counts, or every bad row ({"row", "column", "message"}).
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["shop", "-created_at"])]

    def __str__(self):
        return f"Import {self.pk} of {self.file_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
