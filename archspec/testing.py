"""Hypothesis strategies for property-testing specs, yours included.

    from hypothesis import given
    from archspec.testing import specs

    @given(specs(max_stages=3))
    def test_my_property(spec): ...

Drawn specs are small (few channels, small inputs) so that building and running them is quick,
and range over the whole schema: every block kind, shortcut kind, stem kind and block option,
stage overrides and output_stride.
"""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import strategies as st

from archspec.arch.validate import checked
from archspec.spec.blocks import BLOCK_KINDS, BLOCK_MODELS, Activation, BottleneckFields, NormKind
from archspec.spec.schema import STEM_KINDS, ResNetSpec
from archspec.spec.shortcuts import ShortcutKind

# Vocabularies come from the schema's own Literals and registries, never restated.
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
NORMS: tuple[str, ...] = get_args(NormKind)
SHORTCUTS: tuple[str, ...] = get_args(ShortcutKind)


@st.composite
def block_settings(draw: st.DrawFn, kind: str | None = None) -> dict[str, Any]:
    """A block settings mapping, as it would be written in YAML.

    Widths drawn by `spec_data` are even, so group norm with 2 groups fits wherever the
    bottleneck width is even too (groups 2 or width_per_group 128 make sure of it).
    """
    kind = kind or draw(st.sampled_from(BLOCK_KINDS))
    norm = draw(st.sampled_from(NORMS))
    block: dict[str, Any] = {
        "kind": kind,
        "conv_bias": draw(st.booleans()),
        "norm": norm,
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "shortcut": {
            "kind": draw(st.sampled_from(SHORTCUTS)),
            "when": draw(st.sampled_from(["shape_change", "stage_start"])),
        },
        "drop_path": draw(st.sampled_from([0.0, 0.2])),
        "zero_init": draw(st.booleans()),
    }
    if norm == "group":
        block["norm_groups"] = draw(st.sampled_from([1, 2]))
    if draw(st.booleans()):
        block["squeeze_excite"] = {
            "ratio": draw(st.sampled_from([0.25, 0.5])),
            "divisor": draw(st.sampled_from([1, 4])),
        }
    if issubclass(BLOCK_MODELS[kind], BottleneckFields):
        block["expansion"] = draw(st.sampled_from([1, 2, 4]))
        block["groups"] = draw(st.sampled_from([1, 2]))
        block["width_per_group"] = draw(st.sampled_from([64, 128]))
        if block.get("norm_groups") == 2 and block["groups"] == 1:
            block["width_per_group"] = 128  # an even bottleneck width for 2 norm groups
    return block


@st.composite
def stem_settings(draw: st.DrawFn) -> dict[str, Any]:
    """A stem mapping of any kind; its kernel never exceeds 7, so inputs of 7x7 and up fit."""
    kind = draw(st.sampled_from(STEM_KINDS))
    stem: dict[str, Any] = {
        "kind": kind,
        "channels": draw(st.sampled_from([4, 8, 16])),
        "conv_bias": draw(st.booleans()),
        "norm": draw(st.sampled_from(NORMS)),
        "activation": draw(st.sampled_from((*ACTIVATIONS, "none"))),
    }
    if stem["norm"] == "group":
        stem["norm_groups"] = draw(st.sampled_from([1, 2]))
    if kind == "cifar":
        return stem
    if kind == "conv":
        stem["kernel_size"] = draw(st.sampled_from([1, 3, 5, 7]))
    elif draw(st.booleans()):
        stem["width"] = draw(st.sampled_from([2, 4]))
    stem["stride"] = draw(st.integers(1, 2))
    if draw(st.booleans()):
        stem["pool"] = {"kind": draw(st.sampled_from(["max", "avg"])), "kernel_size": 3, "stride": 2, "padding": 1}
    return stem


def _stem_stride(stem: dict[str, Any]) -> int:
    """The stem's total stride: output_stride may not be smaller."""
    pool = stem.get("pool")
    return int(stem.get("stride", 1)) * (int(pool["stride"]) if pool else 1)


@st.composite
def spec_data(draw: st.DrawFn, max_stages: int = 3, max_blocks: int = 2, max_size: int = 40) -> dict[str, Any]:
    """A valid spec as plain data (what `yaml.safe_load` of a spec file returns)."""
    block = draw(block_settings())
    stem = draw(stem_settings())
    stages = []
    for _ in range(draw(st.integers(1, max_stages))):
        stage: dict[str, Any] = {
            "channels": draw(st.sampled_from([4, 8, 12, 16])),
            "blocks": draw(st.integers(1, max_blocks)),
            "stride": draw(st.sampled_from([1, 2])),
        }
        if draw(st.integers(0, 3)) == 0:  # now and then a stage overrides the block settings
            stage["block"] = draw(block_settings())
        stages.append(stage)
    settings = [block, *(stage["block"] for stage in stages if "block" in stage)]
    if any(b["shortcut"]["kind"] == "zero_pad" for b in settings):
        # zero padding only adds channels: make the widths grow along the network
        stem["channels"] = 4
        for stage, channels in zip(stages, sorted(stage["channels"] for stage in stages), strict=True):
            stage["channels"] = channels
    return {
        "name": "drawn",
        "input": {
            "channels": draw(st.integers(1, 3)),
            "height": draw(st.integers(7, max_size)),
            "width": draw(st.integers(7, max_size)),
        },
        "stem": stem,
        "block": block,
        "stages": stages,
        "output_stride": draw(st.sampled_from([None, *(n for n in (2, 4, 8) if n >= _stem_stride(stem))])),
        "head": {
            "pool": draw(st.sampled_from(["avg", "max"])),
            "dropout": draw(st.sampled_from([0.0, 0.25])),
            "num_classes": draw(st.integers(1, 12)),
        },
    }


def specs(max_stages: int = 3, max_blocks: int = 2, max_size: int = 40) -> st.SearchStrategy[ResNetSpec]:
    """Valid ResNetSpecs: small random variants over the whole schema."""
    return spec_data(max_stages, max_blocks, max_size).map(lambda data: checked(ResNetSpec.model_validate(data)))
