"""The preset catalogue: bundled spec and recipe files inside the installed package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from archspec.config.sources import bundled_names


def preset_dir() -> Path:
    """The folder of bundled specs (inside the installed package)."""
    return Path(str(resources.files("archspec") / "specs"))


def preset_names() -> list[str]:
    return bundled_names(preset_dir())


def recipe_dir() -> Path:
    """The folder of bundled recipes."""
    return preset_dir() / "recipes"


def recipe_names() -> list[str]:
    return bundled_names(recipe_dir())
