"""Recipes: how to train (data, schedule, optimizer, precision, augmentation), read from YAML like specs.

    schema.py   the recipe's Pydantic models, load/dump, the training workload for the resource guard
    presets.py  the bundled recipes

No torch here: training (archspec.train), quantization's calibration (archspec.deploy) and sweeps
(archspec.search) read recipes, so they sit below all three.
"""

from __future__ import annotations

from archspec.recipe.schema import (
    Recipe,
    dump_recipe,
    load_recipe,
    recipe_from_text,
    split_overrides,
    training_workload,
)

__all__ = ["Recipe", "dump_recipe", "load_recipe", "recipe_from_text", "split_overrides", "training_workload"]
