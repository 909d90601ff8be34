"""Blocked words: the rule live chat applies, kept here so every app that checks what people
post (chat, video captions, comments) applies the same one. A word or phrase matches as a
whole word, ignoring case (`casefold`), anywhere in the text.

The words themselves: a shop's own list (its owner edits it; the rows belong to the live app,
which registers itself as their source at startup, since shops sits below it) and the
platform's list (settings.BLOCKED_WORDS)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from django.conf import settings

CompiledWords = tuple[tuple[str, re.Pattern[str]], ...]

_shop_word_sources: list[Callable[[int], Iterable[str]]] = []


def compile_blocked_words(words: Iterable[str]) -> CompiledWords:
    return tuple(
        (word, re.compile(rf"(?<!\w){re.escape(word.casefold())}(?!\w)"))
        for word in words
        if word.strip()
    )


def first_blocked_word(text: str, compiled: CompiledWords) -> str | None:
    """The first blocked word (or phrase) that `text` contains as a word."""
    folded = text.casefold()
    for word, pattern in compiled:
        if pattern.search(folded):
            return word
    return None


def register_shop_blocked_words(source: Callable[[int], Iterable[str]]) -> None:
    """Called at startup by the app that stores shops' blocked words."""
    if source not in _shop_word_sources:
        _shop_word_sources.append(source)


def shop_blocked_words(shop_id: int) -> list[str]:
    return [word for source in _shop_word_sources for word in source(shop_id)]


def platform_blocked_words() -> list[str]:
    return list(getattr(settings, "BLOCKED_WORDS", []))


def blocked_word_in(text: str, *, shop_id: int | None = None) -> str | None:
    """The first word of the platform's list, or of the shop's, that `text` contains."""
    words = platform_blocked_words() + (shop_blocked_words(shop_id) if shop_id else [])
    return first_blocked_word(text, compile_blocked_words(words))
