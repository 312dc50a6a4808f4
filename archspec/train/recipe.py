"""Kept for code written against archspec 0.1, which documented `from archspec.train.recipe import load_recipe`:
recipes live in archspec.recipe now (they sit below training, deployment and sweeps, which all read them)."""

from __future__ import annotations

from archspec.recipe.schema import Recipe, dump_recipe, load_recipe, recipe_from_text, training_workload

__all__ = ["Recipe", "dump_recipe", "load_recipe", "recipe_from_text", "training_workload"]
