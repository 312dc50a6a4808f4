"""What every dataset kind of the registry (archspec.data.DataSource) shares: the mean/std check
of DataBase, and `kind` leading each kind's fields."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from archspec.data import DataSource

KINDS = get_args(get_args(DataSource)[0])


@pytest.mark.parametrize("kind", KINDS, ids=lambda model: model.__name__)
def test_every_dataset_kind_checks_mean_and_std_and_leads_with_kind(kind: type[Any]) -> None:
    """A kind that forgot to declare mean and std would fail here (the base declares them to the type checker
    only, so that they come last)."""
    base = {"kind": get_args(kind.model_fields["kind"].annotation)[0], "root": "somewhere"}
    fields = list(kind.model_fields)
    assert fields[0] == "kind" and fields[-2:] == ["mean", "std"]
    assert next(iter(kind.model_json_schema()["properties"])) == "kind"
    with pytest.raises(ValidationError, match="give mean and std together, or neither"):
        kind(**base, mean=[0.5])
    with pytest.raises(ValidationError, match="has 2 values but mean has 1; give one per channel"):
        kind(**base, mean=[0.5], std=[0.2, 0.3])
    assert kind(**base, mean=[0.5], std=[0.2]).std == [0.2]
