"""Hypothesis strategies for property-testing specs, yours included.

    from hypothesis import given
    from archspec.testing import specs, variants_of

    @given(specs(max_stages=3))
    def test_my_property(spec): ...

    @given(variants_of(archspec.load_spec("my-variant.yaml")))
    def test_my_family(spec): ...

`specs()` draws small random specs over the whole schema: every block kind, shortcut kind, stem kind
(the installed plugins' too, with the field strategies a plugin registers) and block option, stage
overrides and output_stride. `variants_of(spec)` draws the family around one
spec: fewer blocks, narrower widths, other strides, block options and input sizes, within bounds you
can narrow. Both draw specs small enough that building and running them is quick.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, get_args

from hypothesis import strategies as st

from archspec.arch.validate import checked
from archspec.config.merge import overlay
from archspec.errors import SpecError
from archspec.spec import kinds
from archspec.spec.blocks import Activation, BottleneckFields, ConvNeXtBlockSpec, NormKind
from archspec.spec.compose import scaled_width, stage_divisor
from archspec.spec.io import canonical_data
from archspec.spec.schema import ResNetSpec

# Vocabularies come from the schema's own Literals and the kinds registry, never restated.
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
NORMS: tuple[str, ...] = get_args(NormKind)
SHORTCUTS: tuple[str, ...] = kinds.names("shortcut")


def _own_fields(draw: st.DrawFn, kind: kinds.Kind) -> dict[str, Any]:
    """The fields a kind's registration says how to draw (`strategies="module:attribute"`), or none."""
    if not kind.strategies:
        return {}
    strategy = kinds.resolve(kind.strategies)
    fields = draw(strategy() if callable(strategy) and not isinstance(strategy, st.SearchStrategy) else strategy)
    return dict(fields)


@st.composite
def block_settings(draw: st.DrawFn, kind: str | None = None) -> dict[str, Any]:
    """A block settings mapping, as it would be written in YAML.

    Widths drawn by `spec_data` are even, so group norm with 2 groups fits wherever the
    bottleneck width is even too (groups 2 or width_per_group 128 make sure of it).
    """
    kind = kind or draw(st.sampled_from(kinds.names("block")))
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
    registered = kinds.get("block", kind)
    block.update(_own_fields(draw, registered))
    if issubclass(registered.target, ConvNeXtBlockSpec):
        block["kernel_size"] = draw(st.sampled_from([3, 7]))
        block["mlp_ratio"] = draw(st.sampled_from([1, 4]))
        block["norms"] = draw(st.sampled_from(get_args(ConvNeXtBlockSpec.model_fields["norms"].annotation)))
        block["activations"] = draw(st.sampled_from(get_args(ConvNeXtBlockSpec.model_fields["activations"].annotation)))
        block["channels_last"] = norm in ("layer", "none") and draw(st.booleans())  # batch norm runs channels-first
        block["layer_scale"] = None if block["zero_init"] else draw(st.sampled_from([None, 1e-6, 0.5]))
        block["depthwise"] = draw(st.sampled_from(get_args(ConvNeXtBlockSpec.model_fields["depthwise"].annotation)))
        if block["depthwise"] == "middle":  # the inverted bottleneck keeps a ResNet's norms and activations
            block.update(norms="every", activations="every", channels_last=False)
    if issubclass(registered.target, BottleneckFields):
        block["expansion"] = draw(st.sampled_from([1, 2, 4]))
        block["groups"] = draw(st.sampled_from([1, 2]))
        block["width_per_group"] = draw(st.sampled_from([64, 128]))
        if block.get("norm_groups") == 2 and block["groups"] == 1:
            block["width_per_group"] = 128  # an even bottleneck width for 2 norm groups
    return block


@st.composite
def stem_settings(draw: st.DrawFn) -> dict[str, Any]:
    """A stem mapping of any kind; its kernel never exceeds 7, so inputs of 7x7 and up fit."""
    kind = draw(st.sampled_from(kinds.names("stem")))
    stem: dict[str, Any] = {
        "kind": kind,
        "channels": draw(st.sampled_from([4, 8, 16])),
        "conv_bias": draw(st.booleans()),
        "norm": draw(st.sampled_from(NORMS)),
        "activation": draw(st.sampled_from((*ACTIVATIONS, "none"))),
    }
    if stem["norm"] == "group":
        stem["norm_groups"] = draw(st.sampled_from([1, 2]))
    registered = kinds.get("stem", kind)
    if registered.package != kinds.ARCHSPEC:  # a plugin's stem: the common fields and what it says to draw
        return {**stem, **_own_fields(draw, registered)}
    if kind == "cifar":
        return stem
    if kind == "patchify":
        stem["patch_size"] = draw(st.sampled_from([1, 2, 4]))
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
    return int(stem.get("stride", stem.get("patch_size", 1))) * (int(pool["stride"]) if pool else 1)


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
        if stage["stride"] == 2 and draw(st.integers(0, 3)) == 0:  # now and then a separate downsampling layer
            stage["downsample"] = {"norm": draw(st.sampled_from(["layer", "batch", "none"])),
                                   "conv_bias": draw(st.booleans())}  # fmt: skip
        stages.append(stage)
    settings = [block, *(stage["block"] for stage in stages if "block" in stage)]
    if any(b["shortcut"]["kind"] == "zero_pad" for b in settings):
        # zero padding only adds channels: make the widths grow along the network
        stem["channels"] = 4
        for stage, channels in zip(stages, sorted(stage["channels"] for stage in stages), strict=True):
            stage["channels"] = channels
    data = {
        "name": "drawn",
        "input": {
            "channels": draw(st.integers(1, 3)),
            "height": draw(st.integers(7, max_size)),
            "width": draw(st.integers(7, max_size)),
        },
        "stem": stem,
        "block": block,
        "stages": stages,
        # a downsampling layer cannot dilate: no output_stride with one
        "output_stride": None
        if any("downsample" in stage for stage in stages)
        else draw(st.sampled_from([None, *(n for n in (2, 4, 8) if n >= _stem_stride(stem))])),
        "head": {
            "pool": draw(st.sampled_from(["avg", "max"])),
            # a preact network already ends in a norm
            "norm": "none"
            if kinds.get("block", stages[-1].get("block", block)["kind"]).target.final_norm
            else draw(st.sampled_from(["none", "layer"])),
            "dropout": draw(st.sampled_from([0.0, 0.25])),
            "num_classes": draw(st.integers(1, 12)),
        },
    }
    if any("downsample" in stage for stage in stages):
        try:  # a kernel-2 stride-2 conv floors: on a 1-pixel side it leaves nothing, so keep it where it fits
            checked(ResNetSpec.model_validate(data))
        except SpecError:
            for stage in stages:
                stage.pop("downsample", None)
    return data


def specs(max_stages: int = 3, max_blocks: int = 2, max_size: int = 40) -> st.SearchStrategy[ResNetSpec]:
    """Valid ResNetSpecs: small random variants over the whole schema."""
    return spec_data(max_stages, max_blocks, max_size).map(lambda data: checked(ResNetSpec.model_validate(data)))


# --- variants of a given spec --------------------------------------------------------------------


@st.composite
def _variant(draw: st.DrawFn, spec: ResNetSpec, max_blocks: int, widths: tuple[float, ...],
             sizes: tuple[int, int], strides: bool, block_options: bool) -> ResNetSpec:  # fmt: skip
    base = canonical_data(spec)
    width = draw(st.sampled_from(widths))
    blocks = [draw(st.integers(1, max(1, min(stage.blocks, max_blocks)))) for stage in spec.stages]
    stage_strides = [
        draw(st.sampled_from(sorted({stage.stride, 1, 2}, key=lambda s: s != stage.stride))) if strides and i else
        stage.stride for i, stage in enumerate(spec.stages)
    ]  # fmt: skip
    options: dict[str, Any] = {}
    if block_options:
        own = spec.block
        if getattr(own, "layer_scale", None) is None:  # a layer scale refuses zero_init (it would learn nothing)
            options["zero_init"] = draw(st.booleans()) != own.zero_init
        options["drop_path"] = draw(st.sampled_from([own.drop_path, 0.1]))
        options["activation"] = draw(
            st.sampled_from([own.activation, *(a for a in ACTIVATIONS if a != own.activation)])
        )
        if draw(st.booleans()):
            options["squeeze_excite"] = None if own.squeeze_excite else {"ratio": 0.25}
    height, width_px = draw(st.integers(*sizes)), draw(st.integers(*sizes))

    def make(scale: float, size: tuple[int, int], stride_choice: Sequence[int]) -> ResNetSpec | None:
        data = copy.deepcopy(base)
        data["input"].update(height=size[0], width=size[1])
        data["block"].update(options)
        stem = data["stem"]
        for key in ("channels", "width"):
            if isinstance(stem.get(key), int) and scale != 1:
                stem[key] = scaled_width(stem[key], scale)
        for stage, count, stride in zip(data["stages"], blocks, stride_choice, strict=True):
            stage.update(blocks=count, stride=stride)
            if stride == 1:  # a stride-1 stage has nothing to downsample
                stage.pop("downsample", None)
            if scale != 1:
                divisor = stage_divisor(overlay(data["block"], stage.get("block", {})))
                stage["channels"] = scaled_width(stage["channels"], scale, divisor)
        try:
            return checked(ResNetSpec.model_validate(data))
        except (SpecError, ValueError):
            return None

    # The drawn choices where they fit; else, step by step, the spec's own width, input size and strides
    # (which fit: the spec is valid, and block counts and block options change no shape).
    own_size = (spec.input.height, spec.input.width)
    own_strides = [stage.stride for stage in spec.stages]
    for scale, size, stride_choice in ((width, (height, width_px), stage_strides),
                                       (1.0, (height, width_px), stage_strides), (1.0, own_size, stage_strides),
                                       (1.0, own_size, own_strides)):  # fmt: skip
        variant = make(scale, size, stride_choice)
        if variant is not None:
            return variant
    raise AssertionError(f"no valid variant of {spec.name}: the spec itself does not validate")


def variants_of(
    spec: ResNetSpec,
    *,
    max_blocks: int = 2,
    widths: Sequence[float] = (0.125, 0.25, 0.5),
    sizes: tuple[int, int] | None = None,
    strides: bool = True,
    block_options: bool = True,
) -> st.SearchStrategy[ResNetSpec]:
    """Valid variants of `spec`, the family around it, for property tests:

    - `max_blocks`: each stage gets 1 to min(its own count, max_blocks) blocks;
    - `widths`: every width is scaled by one of these (rounded as the spec's `width:` directive rounds);
    - `sizes`: (smallest, largest) input height and width; default from 8 up to the spec's own (at most 64);
    - `strides`: a stage after the first may switch between stride 1 and 2;
    - `block_options`: zero_init, drop_path, activation and squeeze-excitation may change.

    Narrow any of these to test what you care about (`widths=(1.0,)` keeps the spec's widths). A drawn
    combination that does not fit (a group-norm width, an input too small for the strides) falls back to the
    spec's own width, then its own input size, then its own strides, so every drawn spec is valid. Drawn
    variants shrink towards the smallest width, one block per stage and the spec's own options.
    """
    if max_blocks < 1 or not widths or any(not 0 < w <= 1 for w in widths):
        raise ValueError("variants_of: max_blocks >= 1 and widths in (0, 1]")
    own = max(spec.input.height, spec.input.width)
    low, high = sizes or (min(8, own), min(own, 64))
    if not 1 <= low <= high:
        raise ValueError(f"variants_of: sizes must be (smallest, largest) with 1 <= smallest <= largest, got {sizes}")
    return _variant(spec, max_blocks, tuple(sorted(widths)), (low, high), strides, block_options)
