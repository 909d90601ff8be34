"""`manage.py export_products --shop <slug> [-o products.csv]`: a shop as Shopify CSV."""

from django.core.management.base import BaseCommand, CommandError

from shops.csv_export import export_products_csv
from shops.models import Shop


class Command(BaseCommand):
    help = "Write every product of a shop (any status) as a Shopify product CSV."

    def add_arguments(self, parser):
        parser.add_argument("--shop", required=True, help="The shop's slug.")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")
        parser.add_argument(
            "--base-url",
            default="",
            help="Site address (https://example.com/) for uploaded images' Image Src.",
        )

    def handle(self, *args, shop: str, output: str | None, base_url: str, **options):
        target = Shop.objects.filter(slug=shop).first()
        if target is None:
            raise CommandError(f"No shop with the slug {shop!r}.")
        lines = export_products_csv(shop=target, base_url=base_url)
        if not output:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        try:
            with open(output, "w", newline="", encoding="utf-8") as file:
                file.writelines(lines)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
        self.stderr.write(f"Wrote {output}.")
