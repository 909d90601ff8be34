"""A real Celery worker that stops dead in the middle of settling a paid checkout: it marks the
orders paid, posts the sales and counts them sold inside the settlement's transaction, says so,
then hangs before the commit until the test SIGKILLs it. The crash the recovery tests need, at
a known point, without a test hook in the production code.

    python -m orders.tests.hanging_worker <celery worker options...>

(env as for any worker: DATABASE_URL of the test database, CELERY_BROKER_URL, CELERY_QUEUE,
STRIPE_API_BASE, STRIPE_SECRET_KEY)
"""

import os
import sys
import time

import django

HOLDING = "holding checkout"


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopfeed.settings")
    django.setup()
    from orders.payments import settlement
    from shopfeed.celery import app

    real_mark_paid = settlement._mark_paid

    def mark_paid_then_hang(checkout, pi, received):
        real_mark_paid(checkout, pi, received)
        print(f"{HOLDING} {checkout.pk}: paid inside the transaction, not committed", flush=True)
        while True:
            time.sleep(60)

    settlement._mark_paid = mark_paid_then_hang
    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
