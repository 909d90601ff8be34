"""Run the flash writer in this process and SIGKILL it right after its first batch committed,
before the batch is acknowledged in Redis: the crash that would write a reservation twice if
the writer were not idempotent, as a real kill.

    python -m orders.tests.flash_writer_crash

(env: DATABASE_URL of the test database, REDIS_URL, FLASH_KEY_PREFIX, FLASH_WRITER_BATCH)
"""

import os
import signal

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopfeed.settings")
    django.setup()
    from orders.flash import store, writer

    def die(outcomes):
        print(f"batch of {len(outcomes)} committed; killing myself before the ack", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    store.finish = die
    writer.drain(consumer="doomed", max_batches=1)
    print("not killed: the stream was empty", flush=True)


if __name__ == "__main__":
    main()
