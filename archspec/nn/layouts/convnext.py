"""ConvNeXt's names in torchvision (`torchvision.models.convnext.ConvNeXt`) and timm (`timm.models.convnext.ConvNeXt`).

The torchvision and timm layouts use these for a spec of `convnext` blocks:

- torchvision: `features.0.0`, `features.0.1` (stem conv, norm); stage S (from 0) is `features.{2S+1}`, its
  blocks `features.{2S+1}.B` with `layer_scale` (C, 1, 1) on the block, then `block.0` (depthwise conv),
  `block.2` (norm), `block.3`, `block.5` (the linear layers); the downsampling layer before stage S is
  `features.{2S}.0` (norm), `features.{2S}.1` (conv); `classifier.0` (norm), `classifier.2` (linear).
- timm: `stem.0`, `stem.1`; `stages.S.downsample.0`, `.1`; blocks `stages.S.blocks.B` with `gamma` (C) first,
  then `conv_dw`, `norm`, `mlp.fc1`, `mlp.fc2`; `head.norm`, `head.fc`.

A channels-first block (`channels_last: false`: a channels-first norm and 1x1 convs) is timm's `conv_mlp` form,
whose `mlp.fc1` and `mlp.fc2` are 1x1 convs under the same names; torchvision has only the channels-last form, so
there its 1x1 convs are `block.3` and `block.5` held as linear layers (out, in).

Every conv here has a bias, which the ResNet layouts refuse: hence layouts of their own, which the torchvision and
timm layouts hand a ConvNeXt spec to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from archspec.arch.plan import Block, Layer
from archspec.nn.layouts.base import Counterpart, Layout
from archspec.spec.schema import ResNetSpec

STEM = {"conv": "0", "norm": "1"}
DOWNSAMPLE = {"norm": "0", "conv": "1"}
MLP_CONVS = ("main.conv2", "main.conv3")  # a channels-first block's 1x1 layers (channels-last: main.fc1, fc2)
LAYER_SCALE = "main.layer_scale"  # held by the block itself: torchvision's `layer_scale`, timm's `gamma`


@dataclass(frozen=True)
class Names:
    """One reference's ConvNeXt names: `{s}` a stage's index from 0, `{b}` a block's, `{odd}` 2s + 1 and `{even}` 2s
    (torchvision numbers the stages and the downsampling layers between them in one Sequential)."""

    stem: str
    downsample: str
    block: str
    block_names: dict[str, str]
    head: dict[str, str]
    layer_scale: str  # the block's own tensor
    layer_scale_1x1: bool  # held as (C, 1, 1)
    mlp_linear: bool  # a channels-first block's 1x1 convs are held as linear layers (out, in)


TORCHVISION = Names(
    "features.0.", "features.{even}.", "features.{odd}.{b}.",
    {"main.layer_scale": "", "main.conv1": "block.0", "main.norm1": "block.2", "main.fc1": "block.3",
     "main.conv2": "block.3", "main.fc2": "block.5", "main.conv3": "block.5"},
    {"norm": "classifier.0", "fc": "classifier.2"}, "layer_scale", True, True,
)  # fmt: skip
TIMM = Names(
    "stem.", "stages.{s}.downsample.", "stages.{s}.blocks.{b}.",
    {"main.layer_scale": "", "main.conv1": "conv_dw", "main.norm1": "norm", "main.fc1": "mlp.fc1",
     "main.conv2": "mlp.fc1", "main.fc2": "mlp.fc2", "main.conv3": "mlp.fc2"},
    {"norm": "head.norm", "fc": "head.fc"}, "gamma", False, False,
)  # fmt: skip


def is_convnext(spec: ResNetSpec) -> bool:
    """Whether `spec` takes ConvNeXt's names: its stages are of convnext blocks."""
    return any(getattr(stage.block, "kind", None) == "convnext" for stage in spec.stages)


class ConvNeXtLayout(Layout):
    """The ConvNeXt names of the reference that `names` describes."""

    names: ClassVar[Names]

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        return self.rename("stem", ((layer.name, layer) for layer in layers), STEM, self.names.stem)

    def downsample(self, spec: ResNetSpec, stage: int, layers: Sequence[Layer], path: str) -> Iterable[Counterpart]:
        prefix = self.names.downsample.format(s=stage, even=2 * stage)
        return self.rename(path, ((layer.name, layer) for layer in layers), DOWNSAMPLE, prefix)

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        if block.kind != "convnext":
            return []
        names = self.names
        prefix = names.block.format(s=stage, b=index, odd=2 * stage + 1)
        return self.rename(path, block.layers, names.block_names, prefix, tensors={LAYER_SCALE: names.layer_scale},
                           conv1x1=(LAYER_SCALE,) if names.layer_scale_1x1 else (),
                           linear=MLP_CONVS if names.mlp_linear else ())  # fmt: skip

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        return self.rename("head", ((layer.name, layer) for layer in layers), self.names.head, "")


class TorchvisionConvNeXt(ConvNeXtLayout):
    name = "torchvision"
    summary = "torchvision.models.convnext.ConvNeXt: features (stem, stages, downsampling layers), classifier"
    names = TORCHVISION


class TimmConvNeXt(ConvNeXtLayout):
    name = "timm"
    summary = "timm.models.convnext.ConvNeXt: stem, stages.S (downsample, blocks), head"
    names = TIMM


TORCHVISION_LAYOUT, TIMM_LAYOUT = TorchvisionConvNeXt(), TimmConvNeXt()
