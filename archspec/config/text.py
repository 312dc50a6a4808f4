"""How an error quotes user input: on one line, clipped, printable. Used by every module that writes an error,
so it imports nothing (config/document.py, config/files.py and config/diagnostics.py all need it)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

QUOTE_LIMIT = 60  # characters of a user's value an error message quotes


def printable(text: str) -> str:
    """`text` with every character that is not printable (line breaks, control characters, U+2028, ...)
    escaped as Python writes it: what is left cannot break a line or a terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 file', '3 files', '1,200 files' (`plural` where adding an s is wrong)."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "; did you mean 'width'?" for the nearest of `choices` to a typo'd `word`, or "" when none is near."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` on one line (see `printable`) and at most about `limit` characters: what every error quotes of
    user input."""
    text = printable(text)
    return text if len(text) <= limit else f"{text[: max(limit - 18, 8)]}... ({len(text):,} chars)"


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, clipped (see `clip`)."""
    return clip(repr(value), limit)


def kind_of(value: Any) -> str:
    """What a wrong value is, in YAML's words."""
    if value is None:
        return "nothing (an empty value)"
    names = {str: "a string", bool: "true/false", int: "a number", float: "a number", list: "a list"}
    return f"{names.get(type(value), type(value).__name__)} {quote(value)}"
