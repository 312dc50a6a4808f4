"""The base of every typed YAML model: unknown keys forbidden, frozen, strict; `fail()` for located errors."""

from __future__ import annotations

from typing import NoReturn

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]


class Model(BaseModel):
    # strict: YAML already gives typed scalars, so `true` or "64" for a count is a mistake, not a 1 or 64.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def fail(loc: Loc, message: str) -> NoReturn:
    """Raise a validation error located at `loc`, relative to the model being validated."""
    raise PydanticCustomError("archspec", message, {"archspec_loc": loc})
