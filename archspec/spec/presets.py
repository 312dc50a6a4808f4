"""The preset catalogue: bundled spec files inside the installed package (recipes: archspec.recipe.presets)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from archspec.config.sources import bundled_names


def preset_dir() -> Path:
    """The folder of bundled specs (inside the installed package)."""
    return Path(str(resources.files("archspec") / "specs"))


def preset_names() -> list[str]:
    return bundled_names(preset_dir())
