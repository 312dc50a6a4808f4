"""Weight layouts: archspec's module names <-> those of torchvision, timm and d2l, derived from the plan.

The registry below is the one vocabulary of layout names (the CLI's `--layout` choices read it).
No torch import: a key map needs only tensor names and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspec.errors import SpecError
from archspec.nn.layouts.base import Counterpart, KeyMap, Layout, LayoutError, TensorPair
from archspec.nn.layouts.base import key_map as _key_map
from archspec.nn.layouts.d2l import D2L
from archspec.nn.layouts.native import Native
from archspec.nn.layouts.timm import Timm
from archspec.nn.layouts.torchvision import Torchvision
from archspec.spec.schema import ResNetSpec

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (Native(), Torchvision(), Timm(), D2L())}
NATIVE = Native.name


def layout_names() -> tuple[str, ...]:
    return tuple(LAYOUTS)


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise SpecError(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def key_map(spec: ResNetSpec, state: Mapping[str, Any], layout: str | Layout) -> KeyMap:
    """Each tensor of `state` (an archspec model's state dict, or anything with shapes) and its name in `layout`."""
    return _key_map(spec, state, get_layout(layout) if isinstance(layout, str) else layout)


__all__ = [
    "LAYOUTS",
    "NATIVE",
    "Counterpart",
    "KeyMap",
    "Layout",
    "LayoutError",
    "TensorPair",
    "get_layout",
    "key_map",
    "layout_names",
]
