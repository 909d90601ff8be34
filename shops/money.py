"""Money display and parsing. Amounts are integers in minor units next to a currency code."""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
# Currencies whose minor unit is the major unit (no cents); everything else has two decimals.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})


def currency_exponent(currency: str) -> int:
    return 0 if (currency or "").upper() in ZERO_DECIMAL else 2


def format_money(amount: int | None, currency: str) -> str:
    """3900, "USD" -> "$39.00"; 3900, "JPY" -> "¥3,900"; 3900, "CHF" -> "39.00 CHF"."""
    if amount is None:
        return ""
    currency = (currency or "").upper()
    exp = currency_exponent(currency)
    major = Decimal(int(amount)).scaleb(-exp)
    sign = "-" if major < 0 else ""
    number = f"{abs(major):,.{exp}f}"
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency}".rstrip()


def to_minor_units(amount: Decimal, currency: str, *, round_up: bool = False) -> int:
    """A major-unit amount a person typed ("12.50") in minor units (1250).

    Digits beyond the currency's minor unit are rounded down, or up with `round_up`
    (a "min price" filter rounds up, a "max price" down, so neither widens the range).
    """
    return scale_to_minor(amount, exponent=currency_exponent(currency), round_up=round_up)


def scale_to_minor(amount: Decimal, *, exponent: int, round_up: bool = False) -> int:
    scaled = Decimal(amount).scaleb(exponent)
    return int(scaled.to_integral_value(rounding=ROUND_CEILING if round_up else ROUND_FLOOR))
