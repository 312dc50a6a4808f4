"""The recipe catalogue: bundled recipe files inside the installed package (beside the bundled specs)."""

from __future__ import annotations

from pathlib import Path

from archspec.config.sources import bundled_names
from archspec.spec.presets import preset_dir


def recipe_dir() -> Path:
    """The folder of bundled recipes."""
    return preset_dir() / "recipes"


def recipe_names() -> list[str]:
    return bundled_names(recipe_dir())
