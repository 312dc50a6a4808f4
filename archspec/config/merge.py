"""How one mapping goes on top of another: the one merge rule, and the one kind-switch rule.

Used by `extends`, by a stage's block overrides, by width scaling and by `--set`: mappings merge key
by key, anything else (lists included) is replaced, and a mapping that names another `kind` than the
one below it replaces it whole, because fields of one kind do not carry over to another (a deep stem
has no kernel_size; AdamW has no momentum).
"""

from __future__ import annotations

from typing import Any


def merges(base: Any, override: Any) -> bool:
    """Whether `override` merges into `base` key by key (rather than replacing it): the kind-switch rule."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return False
    return "kind" not in override or override["kind"] == base.get("kind")


def overlay(base: Any, override: Any) -> Any:
    """`override` on top of `base`: a merged mapping where `merges` says so, else `override` itself."""
    if not merges(base, override):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = overlay(merged.get(key), value) if key in merged else value
    return merged


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override`'s keys on top of `base`'s, whatever their kinds (the top level of two files)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = overlay(merged[key], value) if key in merged else value
    return merged
