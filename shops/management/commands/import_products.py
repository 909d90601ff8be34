"""`manage.py import_products --shop <slug> products.csv`: a Shopify product CSV into a shop."""

from django.core.management.base import BaseCommand, CommandError

from shops.csv_import import import_products_csv
from shops.models import Shop


class Command(BaseCommand):
    help = (
        "Import a Shopify product CSV into a shop, as its owner. If any row is bad, nothing "
        "is imported, the problems are printed and the command exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--shop", required=True, help="The shop's slug.")
        parser.add_argument("path", help="The CSV file.")

    def handle(self, *args, shop: str, path: str, **options):
        target = Shop.objects.select_related("owner").filter(slug=shop).first()
        if target is None:
            raise CommandError(f"No shop with the slug {shop!r}.")
        try:
            with open(path, "rb") as file:
                report = import_products_csv(shop=target, by=target.owner, file=file)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        if report.errors:
            for error in report.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(report.errors)} problem(s) in {path}; nothing was imported.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported into {target.slug}: {report.products_created} products created, "
                f"{report.products_updated} updated; {report.variants_created} variants "
                f"created, {report.variants_updated} updated; {report.images_added} images "
                "added."
            )
        )
