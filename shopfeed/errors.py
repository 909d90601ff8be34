"""Domain errors. Services raise these; each interface turns them into its own 4xx."""


class ShopFeedError(Exception):
    """A rule refused the operation; `message` says what to fix, `code` is stable."""

    code = "invalid"
    status_code = 400

    def __init__(self, message: str = "", *, code: str | None = None, field: str | None = None):
        self.message = message or self.__doc__ or self.code
        if code:
            self.code = code
        self.field = field
        super().__init__(self.message)


class NotAllowed(ShopFeedError):
    """You are not allowed to do that."""

    code = "permission_denied"
    status_code = 403


class NotFound(ShopFeedError):
    """Not found."""

    code = "not_found"
    status_code = 404


class Conflict(ShopFeedError):
    """That conflicts with the current state."""

    code = "conflict"
    status_code = 409
