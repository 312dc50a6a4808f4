"""The base of every typed YAML model: unknown keys forbidden, frozen, strict; `fail()` for located errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from archspec.config.document import Document
from archspec.errors import SpecError

Loc = tuple[str | int, ...]


class Model(BaseModel):
    # strict: YAML already gives typed scalars, so `true` or "64" for a count is a mistake, not a 1 or 64.
    # No .nan or .inf in any float: nothing downstream means anything by them.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def fail(loc: Loc, message: str) -> NoReturn:
    """Raise a validation error located at `loc`, relative to the model being validated."""
    raise PydanticCustomError("archspec", message, {"archspec_loc": loc})


class LocatedError(SpecError):
    """A problem found after validation (a shape that cannot fit, say), with the field path `loc` to blame."""

    def __init__(self, loc: Loc, message: str) -> None:
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
        super().__init__(f"{where}: {message}" if loc else message)
        self.loc = loc
        self.message = message


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Resolved(Generic[M]):
    """A model read from a source (files, `extends`, overrides applied) and the located document it was
    validated from: what a later check (a shape, a recipe against its spec) needs to point at the line."""

    model: M
    document: Document
