"""Celery finds every task by name: the beat schedule's, and those queued before the tasks
moved into orders' use-case packages (messages name a task by its registered name)."""

from django.conf import settings

from shopfeed.celery import app


def _registered() -> set[str]:
    app.loader.import_default_modules()
    return set(app.tasks)


def test_every_task_in_the_beat_schedule_is_registered():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= _registered()


def test_tasks_queued_under_their_old_module_names_still_resolve():
    assert {
        "orders.payment_tasks.process_stripe_event_task",
        "orders.payment_tasks.release_expired_checkouts_task",
        "orders.payment_tasks.reconcile_payments_task",
        "orders.payout_tasks.release_payables_task",
        "orders.payout_tasks.create_payouts_task",
        "orders.payout_tasks.send_payout_task",
    } <= _registered()


def test_delivered_orders_are_completed_on_a_schedule():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "orders.fulfilment.tasks.complete_delivered_orders_task" in scheduled
