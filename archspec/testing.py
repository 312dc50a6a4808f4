"""Hypothesis strategies for property-testing specs, yours included.

    from hypothesis import given
    from archspec.testing import specs

    @given(specs(max_stages=3))
    def test_my_property(spec): ...

Drawn specs are small (few channels, small inputs) so that building and running them is quick.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from archspec.schema import ResNetSpec

ACTIVATIONS = ("relu", "silu", "gelu")


@st.composite
def block_settings(draw: st.DrawFn, kind: str | None = None) -> dict[str, Any]:
    """A block settings mapping, as it would be written in YAML."""
    kind = kind or draw(st.sampled_from(["basic", "bottleneck"]))
    block: dict[str, Any] = {
        "kind": kind,
        "conv_bias": draw(st.booleans()),
        "norm": draw(st.sampled_from(["batch", "none"])),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "shortcut": {
            "kind": draw(st.sampled_from(["conv_norm", "conv"])),
            "when": draw(st.sampled_from(["shape_change", "stage_start"])),
        },
    }
    if kind == "bottleneck":
        block["expansion"] = draw(st.sampled_from([1, 2, 4]))
    return block


@st.composite
def spec_data(draw: st.DrawFn, max_stages: int = 3, max_blocks: int = 2, max_size: int = 40) -> dict[str, Any]:
    """A valid spec as plain data (what `yaml.safe_load` of a spec file returns)."""
    block = draw(block_settings())
    stem_kernel = draw(st.sampled_from([1, 3, 5, 7]))
    stem: dict[str, Any] = {
        "channels": draw(st.sampled_from([4, 8, 16])),
        "kernel_size": stem_kernel,
        "stride": draw(st.integers(1, 2)),
        "conv_bias": draw(st.booleans()),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
    }
    if draw(st.booleans()):
        stem["pool"] = {"kind": draw(st.sampled_from(["max", "avg"])), "kernel_size": 3, "stride": 2, "padding": 1}
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
    return {
        "name": "drawn",
        "input": {
            "channels": draw(st.integers(1, 3)),
            "height": draw(st.integers(stem_kernel, max_size)),
            "width": draw(st.integers(stem_kernel, max_size)),
        },
        "stem": stem,
        "block": block,
        "stages": stages,
        "head": {
            "pool": draw(st.sampled_from(["avg", "max"])),
            "dropout": draw(st.sampled_from([0.0, 0.25])),
            "num_classes": draw(st.integers(1, 12)),
        },
    }


def specs(max_stages: int = 3, max_blocks: int = 2, max_size: int = 40) -> st.SearchStrategy[ResNetSpec]:
    """Valid ResNetSpecs: small random variants over the whole schema."""
    return spec_data(max_stages, max_blocks, max_size).map(ResNetSpec.model_validate)
