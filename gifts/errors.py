"""Gifting's domain errors; each interface (API, admin, the room's `error` event) shows the
message and the stable code."""

from shopfeed.errors import NotAllowed, NotFound, ShopFeedError


class GiftingError(ShopFeedError):
    """Gifting refused the operation."""

    code = "gifting_error"


class InsufficientCoins(GiftingError):
    """You do not have enough coins for that: top up your wallet."""

    code = "insufficient_coins"

    def __init__(self, message: str = "", *, balance: int | None = None, needed: int | None = None):
        super().__init__(message)
        self.balance = balance
        self.needed = needed


class DailyCapReached(GiftingError):
    """You have reached your daily gifting limit."""

    code = "daily_cap_reached"


class BirthDateRequired(GiftingError):
    """Add your date of birth in your gifting settings before sending gifts."""

    code = "birth_date_required"

    def __init__(self, message: str = ""):
        super().__init__(message, field="birth_date")


class AgeRestricted(NotAllowed):
    """Gifts are for adults only."""

    code = "age_restricted"


class GiftingFrozen(NotAllowed):
    """Sending gifts is paused on your account; contact support."""

    code = "gifting_frozen"


class SelfGift(GiftingError):
    """You cannot send a gift to yourself."""

    code = "self_gift"


class InvalidGiftCount(GiftingError):
    """Send between 1 and 99 of a gift at a time."""

    code = "invalid_count"

    def __init__(self, message: str = ""):
        super().__init__(message, field="count")


class GiftUnavailable(NotFound):
    """That gift is not available."""

    code = "gift_unavailable"


class ClientTokenReused(GiftingError):
    """That client token was already used for a different gift; send with a new token."""

    code = "client_token_reused"
    status_code = 409


class InvalidClientToken(GiftingError):
    """The client token must be 1-64 letters, digits, '-' or '_'."""

    code = "invalid_client_token"

    def __init__(self, message: str = ""):
        super().__init__(message, field="client_token")


class InvalidCap(GiftingError):
    """Your daily cap must be a whole number of coins, at most the platform's limit."""

    code = "invalid_cap"

    def __init__(self, message: str = ""):
        super().__init__(message, field="daily_coin_cap")
