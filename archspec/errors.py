"""One error hierarchy: the CLI catches ArchspecError, prints one line, exits 2."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem of a spec, recipe, sweep or data file: where it is and what is wrong, each part apart (for
    tools and editors).

    `message` is the whole one-line text (`file:line:col: field: text`); `text` is the problem alone.
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str = ""  # dotted path in the resolved data, such as `stages[1].stride`; "" for the whole file
    text: str = ""


def and_more(count: int) -> str:
    """What a one-line error adds when it stands for `count` problems: " (and 2 more; --all-errors lists them)"."""
    return f" (and {count - 1:,} more; --all-errors lists them)" if count > 1 else ""


class ArchspecError(Exception):
    """Root of every error archspec raises for bad user input.

    `errors` lists every problem found (at least one), structured; the message is the first of them, with how
    many more there are (`--all-errors` prints them all, one line each).
    """

    def __init__(self, message: str = "", errors: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.errors: tuple[Problem, ...] = tuple(errors) or (Problem(message, text=message),)


class SpecError(ArchspecError, ValueError):
    """A spec (or recipe) file or value is invalid; the message names file:line:col and field."""


class DataError(ArchspecError):
    """A data file is missing, truncated or corrupt."""


class CheckpointError(ArchspecError):
    """A checkpoint cannot be read or does not match its spec."""


class ResourceError(ArchspecError):
    """A spec would exceed a resource limit (parameters, MACs, memory)."""
