"""Demo gifts for `make run` (after seed_demo): a realistic catalogue, from a 1-coin combo
Rose to a rare 29,999-coin Lion, with small images drawn by Pillow; demo users get a birth
date (gifts are 18+) and the shopper a wallet of coins, credited like a purchase.

Safe to run again: existing gifts and credits are left as they are.
"""

import io
from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from gifts import wallet
from gifts.models import Gift
from shopfeed.accounts.models import User

# name, coins, combo-able, colour
CATALOGUE = [
    ("Rose", 1, True, (220, 40, 70)),
    ("Heart", 5, True, (240, 80, 120)),
    ("Finger Heart", 9, True, (250, 140, 160)),
    ("Doughnut", 30, True, (230, 160, 90)),
    ("Sunglasses", 99, False, (40, 40, 40)),
    ("Confetti", 100, False, (120, 200, 250)),
    ("Corgi", 299, False, (230, 170, 80)),
    ("Money Gun", 500, False, (60, 170, 90)),
    ("Sports Car", 7_000, False, (200, 30, 30)),
    ("Galaxy", 1_000, False, (70, 50, 160)),
    ("Castle", 20_000, False, (150, 150, 170)),
    ("Lion", 29_999, False, (230, 180, 40)),
]
DEMO_ADULTS = ("mia", "leo", "ava", "shopper")
DEMO_BIRTH_DATE = date(1995, 4, 12)
SHOPPER_COINS = 2_000


def gift_image(name: str, colour) -> SimpleUploadedFile:
    im = Image.new("RGB", (128, 128), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    draw.ellipse((12, 12, 116, 116), fill=colour)
    draw.text((64, 64), name[:2], fill=(255, 255, 255), anchor="mm")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    slug = name.lower().replace(" ", "-")
    return SimpleUploadedFile(f"{slug}.png", buf.getvalue(), content_type="image/png")


class Command(BaseCommand):
    help = "Load the demo gift catalogue, demo birth dates and the shopper's coins (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        added = []
        for order, (name, coins, combo, colour) in enumerate(
            sorted(CATALOGUE, key=lambda row: row[1])
        ):
            slug = name.lower().replace(" ", "-")
            if Gift.objects.filter(slug=slug).exists():
                continue
            Gift.objects.create(
                name=name,
                slug=slug,
                coins=coins,
                is_comboable=combo,
                sort_order=order,
                image=gift_image(name, colour),
            )
            added.append(name)
        User.objects.filter(handle__in=DEMO_ADULTS, birth_date__isnull=True).update(
            birth_date=DEMO_BIRTH_DATE
        )
        shopper = User.objects.filter(handle="shopper").first()
        if shopper is not None:
            wallet.credit_coins(
                user=shopper,
                coins=SHOPPER_COINS,
                reference="demo:coins:shopper",
                kind="coin_demo_credit",
                memo="Demo coins",
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Gifts ready: {Gift.objects.count()} in the catalogue"
                + (f" (new: {', '.join(added)})" if added else "")
            )
        )
