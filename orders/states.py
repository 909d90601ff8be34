"""The order state machine: which status may follow which, and what to say when one may not.

pending_payment → paid → shipped → delivered → completed; an order that has not shipped may
be cancelled. Refunds do not change the status; they are allowed once money was taken and
the order was not cancelled (a cancelled paid order was refunded in full when cancelled).
"""

from .errors import IllegalTransition
from .models import Order

S = Order.Status

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

REFUNDABLE: frozenset[str] = frozenset({S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED})

# What doing each transition is called in a sentence: "cannot be <verb>".
VERBS: dict[str, str] = {
    S.PAID: "marked paid",
    S.SHIPPED: "shipped",
    S.DELIVERED: "marked delivered",
    S.COMPLETED: "completed",
    S.CANCELLED: "cancelled",
}

_REFUND_INSTEAD = "cannot be cancelled; refund it instead."
MESSAGES: dict[tuple[str, str], str] = {
    (S.SHIPPED, S.CANCELLED): f"A shipped order {_REFUND_INSTEAD}",
    (S.DELIVERED, S.CANCELLED): f"A delivered order {_REFUND_INSTEAD}",
    (S.COMPLETED, S.CANCELLED): f"A completed order {_REFUND_INSTEAD}",
    (S.PENDING_PAYMENT, S.SHIPPED): "An order awaiting payment cannot be shipped; wait until "
    "it is paid.",
    (S.PENDING_PAYMENT, S.DELIVERED): "An order awaiting payment cannot be marked delivered.",
    (S.PAID, S.DELIVERED): "An order must be shipped before it is marked delivered.",
    (S.PAID, S.COMPLETED): "Only a delivered order can be completed.",
    (S.SHIPPED, S.COMPLETED): "Only a delivered order can be completed; mark it delivered first.",
}


def _article(word: str) -> str:
    return "An" if word[:1].lower() in "aeiou" else "A"


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def refusal_message(current: str, target: str) -> str:
    if (current, target) in MESSAGES:
        return MESSAGES[(current, target)]
    label = S(current).label.lower() if current in S.values else str(current)
    if current == target:
        return f"This order is already {label}."
    verb = VERBS.get(target, f"moved to {target}")
    return f"{_article(label)} {label} order cannot be {verb}."


def check_transition(order: Order, target: str) -> None:
    """Raise IllegalTransition, with a message a person can act on, unless allowed."""
    if not can_transition(order.status, target):
        raise IllegalTransition(refusal_message(order.status, target))


def check_refundable(order: Order) -> None:
    if order.status in REFUNDABLE:
        return
    if order.status == S.CANCELLED:
        raise IllegalTransition(
            "A cancelled order cannot be refunded; anything paid was refunded when it was "
            "cancelled."
        )
    raise IllegalTransition("An unpaid order cannot be refunded; cancel it instead.")


def allowed_actions(order: Order) -> set[str]:
    """What a seller may do to the order now: for showing only the buttons that will work."""
    actions = {
        name for name, target in _ACTION_TARGETS.items() if can_transition(order.status, target)
    }
    if order.status == S.PENDING_PAYMENT:
        # The buyer may still be paying; an unpaid checkout expires and gives its stock back.
        actions.discard("cancel")
    if order.status in REFUNDABLE and order.refundable_amount > 0:
        actions.add("refund")
    return actions


_ACTION_TARGETS = {
    "ship": S.SHIPPED,
    "deliver": S.DELIVERED,
    "cancel": S.CANCELLED,
}
