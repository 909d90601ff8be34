"""Run send_payout in this process and SIGKILL it right after Stripe answered the transfer,
before our transaction commits: the crash the exactly-once test needs, as a real kill.

    python -m orders.tests.kill_after_transfer <payout_id>

(env: DATABASE_URL of the test database, STRIPE_API_BASE, STRIPE_SECRET_KEY)
"""

import os
import signal
import sys

import django


def main(payout_id: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopfeed.settings")
    django.setup()
    from orders import gateway
    from orders.payouts import services as payouts

    real_create_transfer = gateway.create_transfer

    def create_transfer_then_die(**kwargs):
        transfer = real_create_transfer(**kwargs)
        print(f"transfer {transfer.id} made; killing myself before the commit", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    gateway.create_transfer = create_transfer_then_die
    payouts.send_payout(payout_id=payout_id)
    print("not killed: the transfer was never called", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
