"""The RegNet generator: `stages: {regnet: {depth, w0, wa, wm, group_width, ...}}` expanded into explicit stages.

Radosavovic et al. 2020, "Designing Network Design Spaces" (pycls): block j of `depth` gets the width
`w0 + wa x j`, which is snapped to `w0 x wm^k` (k the nearest whole exponent) and to a multiple of 8; blocks of
one width form a stage (each stage halves the resolution at its first block). Each stage's bottleneck width
(channels / bottleneck_ratio) is then made a multiple of its group width, the group width being first cut to
the bottleneck width where it is wider.

That last step is where pycls and torchvision part (`rounding`): pycls rounds to the nearest multiple with
Python 3's round(), ties to even (pycls's `adjust_block_compatibility`, timm's `quantize_float`); torchvision
uses MobileNet's `_make_divisible`, ties up and never more than 10% down (timm's `group_min_ratio=0.9`, its
`_tv` models). For regnet_x_400mf, regnet_y_800mf and regnet_y_8gf the two give other widths, hence
torchvision's other parameter counts (docs/complexity.md, "RegNet").

The widths are computed in float64 (pycls uses numpy's float64; torchvision and timm torch's float32): for
every published RegNet the two agree (tests/spec/test_regnet.py checks them against torchvision's stages).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from archspec.config.model import Model, fail
from archspec.spec.bounds import MAX_BLOCKS, MAX_CHANNELS, MAX_EXPANSION

QUANTUM = 8  # every block width is a multiple of this (pycls's q)
GENERATORS = ("regnet",)  # what `stages` may be instead of a list
BOTTLENECK_KINDS = ("bottleneck", "bottleneck_v1", "preact")


class RegNetStages(Model):
    depth: int = Field(le=MAX_BLOCKS, description="Blocks in all (pycls's DEPTH, the paper's d); at least 1.")
    w0: int = Field(
        le=MAX_CHANNELS, description="Width of the first block (the paper's w_0), a positive multiple of 8."
    )
    wa: float = Field(
        le=MAX_CHANNELS, description="Slope: block j has the width w0 + wa x j before quantisation (w_a >= 0)."
    )
    wm: float = Field(le=MAX_CHANNELS, description="Width multiplier between stages (the paper's w_m), above 1.")
    group_width: int = Field(
        le=MAX_CHANNELS,
        description="Channels per group of every 3x3 conv (the paper's g); cut to a stage's bottleneck width "
        "where that is narrower.",
    )
    bottleneck_ratio: int = Field(
        1, le=MAX_EXPANSION, description="Stage channels / bottleneck width (the paper's b; 1 for RegNetX and Y)."
    )
    rounding: Literal["pycls", "torchvision"] = Field(
        "pycls",
        description="How a bottleneck width is made a multiple of the group width: 'pycls' rounds to the "
        "nearest multiple, ties to even (pycls, the paper's published figures, timm's regnetx_004); "
        "'torchvision' rounds ties up and never more than 10% down (torchvision's _make_divisible, timm's "
        "_tv models). They differ for regnet_x_400mf, regnet_y_800mf and regnet_y_8gf.",
    )

    @model_validator(mode="after")
    def _valid_design(self) -> RegNetStages:
        if self.depth < 1:
            fail(("depth",), f"must be at least 1 (blocks in all), got {self.depth}; nearest valid: 1")
        if self.w0 < QUANTUM or self.w0 % QUANTUM:
            near = max(QUANTUM, round(self.w0 / QUANTUM) * QUANTUM)
            low = self.w0 // QUANTUM * QUANTUM
            nearest = f"{low} or {low + QUANTUM}" if low and self.w0 - low == QUANTUM // 2 else str(near)
            fail(("w0",), f"must be a positive multiple of {QUANTUM}, got {self.w0}; nearest valid: {nearest}")
        if self.wa < 0:
            fail(("wa",), f"must be at least 0 (widths grow along the network), got {self.wa}; nearest valid: 0")
        if self.wm <= 1:
            fail(("wm",), f"must be greater than 1 (stage widths grow by powers of it), got {self.wm}; nearest "
                 "valid: just above 1, such as 1.5 (the paper's RegNets use 2.0 to 2.9)")  # fmt: skip
        if self.group_width < 1:
            fail(("group_width",), f"must be at least 1, got {self.group_width}; nearest valid: 1")
        if self.bottleneck_ratio < 1:
            fail(("bottleneck_ratio",), f"must be at least 1, got {self.bottleneck_ratio}; nearest valid: 1")
        widest = max(self.block_widths()) // self.bottleneck_ratio
        if widest < 1:
            fail(("bottleneck_ratio",), f"{self.bottleneck_ratio} leaves no channel in the widest stage "
                 f"({max(self.block_widths())}); nearest valid: {max(self.block_widths())}")  # fmt: skip
        if self.group_width > widest:
            fail(("group_width",), f"{self.group_width} divides no stage: the widest bottleneck is {widest} "
                 f"channels; nearest valid: {widest}")  # fmt: skip
        return self

    def block_widths(self) -> list[int]:
        """Each block's width, quantised to powers of wm and multiples of 8 (pycls's generate_regnet)."""
        widths = []
        for j in range(self.depth):
            exponent = round(math.log((self.w0 + self.wa * j) / self.w0) / math.log(self.wm))  # ties to even
            widths.append(round(self.w0 * self.wm**exponent / QUANTUM) * QUANTUM)
        return widths

    def stages(self) -> list[tuple[int, int, int]]:
        """(channels, blocks, group width) of each stage, widths made compatible with the group widths."""
        widths = self.block_widths()
        out = []
        for width in sorted(set(widths)):
            bottleneck = max(1, width // self.bottleneck_ratio)
            group = min(self.group_width, bottleneck)
            out.append((self._compatible(bottleneck, group) * self.bottleneck_ratio, widths.count(width), group))
        return out

    def _compatible(self, width: int, group: int) -> int:
        """`width` made a multiple of `group`, as `rounding` says."""
        if self.rounding == "pycls":
            return max(group, round(width / group) * group)
        rounded = max(group, int(width + group / 2) // group * group)
        return rounded + group if rounded < 0.9 * width else rounded

    def stage_data(self) -> list[dict[str, Any]]:
        """The stages as spec data: stride 2 each; a stage's block says its group width only where it is cut."""
        return [
            {"channels": channels, "blocks": blocks, "stride": 2,
             **({"block": {"group_width": group}} if group != self.group_width else {})}
            for channels, blocks, group in self.stages()
        ]  # fmt: skip


def expand_stages(data: dict[str, Any]) -> dict[str, Any]:
    """Spec data whose `stages` is a generator mapping, with the stages it generates; other data unchanged.

    The generator's bottleneck_ratio and group_width become the spec block's expansion and group_width.

    Raises a located validation error (at `stages.regnet.<field>`) for a generator that gives no network.
    """
    stages = data.get("stages")
    if not isinstance(stages, dict):
        return data
    if list(stages) != ["regnet"]:
        fail(("stages",), f"must be a valid list of stages, or a generator mapping ({', '.join(GENERATORS)}); got "
             f"a mapping of {', '.join(map(str, stages)) or 'nothing'}")  # fmt: skip
    block = data.get("block")
    if isinstance(block, BaseModel):
        block = block.model_dump()
    kind = block.get("kind") if isinstance(block, dict) else None
    if isinstance(block, dict) and kind not in BOTTLENECK_KINDS:
        fail(("block", "kind"), f"the regnet generator needs a bottleneck-shaped block "
             f"({', '.join(BOTTLENECK_KINDS)}), got {kind}")  # fmt: skip
    try:
        generator = RegNetStages.model_validate(stages["regnet"])
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        ctx = first.get("ctx") or {}
        loc = ("stages", "regnet", *first["loc"], *ctx.get("archspec_loc", ()))
        fail(loc, first["msg"].replace("Input should", "must"))
    if isinstance(block, dict):  # else the schema reports the block itself
        block = {**block, "expansion": generator.bottleneck_ratio, "group_width": generator.group_width}
    return {**data, "block": block, "stages": generator.stage_data()}
