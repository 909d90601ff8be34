"""Run the gift writer in this process and SIGKILL it in the middle of its first batch: as a
real kill, either before the batch commits (`before-commit`: its sends must still be written,
once) or after it committed and before the stream entries are acknowledged (`after-commit`:
they must not be written twice).

    python -m gifts.tests.gift_writer_crash before-commit|after-commit

(env: DATABASE_URL of the test database, REDIS_URL, GIFTS_KEY_PREFIX)
"""

import os
import signal
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopfeed.settings")
    django.setup()
    from gifts.sending import store, writer

    def die(outcomes):
        print(f"batch of {len(outcomes)} in hand; killing myself", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    if sys.argv[1] == "before-commit":
        store.apply = die  # called under the wallet locks, just before the commit
    else:
        store.finish = die  # called after the commit, before the acknowledgement
    writer.drain(consumer="doomed", max_batches=1)
    print("not killed: the stream was empty", flush=True)


if __name__ == "__main__":
    main()
