from django.core.management.base import BaseCommand

from gifts.coins.seed import seed_coin_packs


class Command(BaseCommand):
    help = "Create the demo coin packs (idempotent)."

    def handle(self, *args, **options):
        created = seed_coin_packs()
        self.stdout.write(f"coin packs: {created} created")
