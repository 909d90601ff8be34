"""Demo data for `make run`: creators with shops, products, variants and real images.

Safe to run again: existing demo users are left as they are.
"""

import io
import random

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from shopfeed.accounts.models import User
from shops import services
from shops.models import Shop
from shops.services import VariantInput

PASSWORD = "shopfeed-demo"  # noqa: S105 - demo accounts, printed on purpose

CREATORS = [
    (
        "mia",
        "Mia Chen",
        "Mia's Closet",
        "Everyday outfits I actually wear.",
        [
            (
                "Oversized Linen Shirt",
                "Tops",
                ["linen", "summer"],
                ("Size", ["S", "M", "L"]),
                ("Colour", ["Sand", "White"]),
                3900,
            ),
            ("Wide-Leg Trousers", "Bottoms", ["workwear"], ("Size", ["S", "M", "L"]), None, 5400),
            ("Canvas Tote", "Bags", ["eco"], None, None, 1800),
            (
                "Silk Scrunchie Set",
                "Accessories",
                ["hair", "gift"],
                ("Colour", ["Blush", "Black"]),
                None,
                1200,
            ),
        ],
    ),
    (
        "leo",
        "Leo Park",
        "Leo's Kitchen",
        "Tools from my cooking lives.",
        [
            (
                "Carbon Steel Wok",
                "Cookware",
                ["wok", "kitchen"],
                ("Size", ["30 cm", "36 cm"]),
                None,
                6900,
            ),
            ("Chili Crisp Jar", "Pantry", ["spicy"], ("Heat", ["Medium", "Hot"]), None, 1100),
            ("Bamboo Steamer", "Cookware", ["kitchen"], None, None, 2500),
            ("Chef Knife 8in", "Knives", ["knife"], None, None, 8900),
        ],
    ),
    (
        "ava",
        "Ava Rossi",
        "Glow by Ava",
        "Skincare I test on camera.",
        [
            (
                "Vitamin C Serum",
                "Skincare",
                ["serum", "glow"],
                ("Size", ["15 ml", "30 ml"]),
                None,
                2900,
            ),
            ("Clay Mask", "Skincare", ["mask"], None, None, 2200),
            ("Lip Oil", "Makeup", ["lips"], ("Shade", ["Clear", "Rose", "Berry"]), None, 1400),
        ],
    ),
]
PALETTE = [(254, 44, 85), (37, 244, 238), (255, 196, 0), (90, 120, 255), (30, 180, 120)]


def demo_image(title: str, seed: int) -> SimpleUploadedFile:
    rng = random.Random(seed)  # demo colours, not security
    bg = PALETTE[seed % len(PALETTE)]
    im = Image.new("RGB", (800, 800), bg)
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x, y, r = rng.randint(0, 800), rng.randint(0, 800), rng.randint(40, 220)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(min(255, c + 40) for c in bg))
    draw.rectangle((0, 640, 800, 800), fill=(0, 0, 0))
    draw.text((30, 690), title, fill=(255, 255, 255), font_size=48)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return SimpleUploadedFile(f"{seed}.jpg", buf.getvalue(), content_type="image/jpeg")


class Command(BaseCommand):
    help = "Load demo creators, shops and products (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        created = []
        for n, (handle, name, shop_name, about, products) in enumerate(CREATORS):
            user = User.objects.filter(handle=handle).first()
            if user is None:
                user = User.objects.create_user(
                    username=handle,
                    handle=handle,
                    display_name=name,
                    password=PASSWORD,
                    email=f"{handle}@demo.shopfeed.local",
                    is_creator=True,
                    bio=about,
                )
                created.append(handle)
            if not Shop.objects.filter(owner=user).exists():
                shop = services.open_shop(owner=user, name=shop_name, description=about)
                for i, (title, category, tags, opt1, opt2, price) in enumerate(products):
                    self._product(
                        shop, user, title, category, tags, opt1, opt2, price, seed=n * 10 + i
                    )
                services.arrange_tab(
                    shop=shop, by=user, order=[], featured=[shop.products.order_by("id").first().pk]
                )
        if not User.objects.filter(handle="shopper").exists():
            User.objects.create_user(
                username="shopper",
                handle="shopper",
                display_name="Sam Shopper",
                password=PASSWORD,
                email="shopper@demo.shopfeed.local",
            )
            created.append("shopper")
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser(
                username="admin",
                handle="admin",
                password=PASSWORD,
                email="admin@demo.shopfeed.local",
            )
            created.append("admin")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready" + (f" (new: {', '.join(created)})" if created else "")
            )
        )
        self.stdout.write(
            f"  Logins (password '{PASSWORD}'): creators mia, leo, ava; shopper; staff admin"
        )

    def _product(self, shop, user, title, category, tags, opt1, opt2, price, seed):
        rng = random.Random(seed)
        values1 = opt1[1] if opt1 else [""]
        values2 = opt2[1] if opt2 else [""]
        variants = []
        for a in values1:
            for b in values2:
                variants.append(
                    VariantInput(
                        sku=f"{shop.slug[:6].upper()}-{seed}-{len(variants) + 1}",
                        option1=a or ("Default" if not opt1 else a),
                        option2=b,
                        price_amount=price
                        + 100 * len(variants) * (1 if opt1 and opt1[0] == "Size" else 0),
                        compare_at_amount=price + 1500 if rng.random() < 0.3 else None,
                        quantity=rng.choice([0, 3, 12, 40]),
                    )
                )
        product = services.create_product(
            shop=shop,
            by=user,
            title=title,
            description=f"{title} — picked by {user.name}.",
            category=services.get_or_create_category(category),
            tags=tags,
            option1_name=opt1[0] if opt1 else "Title",
            option2_name=opt2[0] if opt2 else "",
            variants=variants,
            status="active",
        )
        services.add_product_image(product=product, by=user, image=demo_image(title, seed))
