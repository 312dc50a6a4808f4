"""ConvNeXt's names in torchvision (`torchvision.models.convnext.ConvNeXt`) and timm (`timm.models.convnext.ConvNeXt`).

The torchvision and timm layouts use these for a spec of `convnext` blocks (channels-last, as both references'
default):

- torchvision: `features.0.0`, `features.0.1` (stem conv, norm); stage S (from 0) is `features.{2S+1}`, its
  blocks `features.{2S+1}.B` with `layer_scale` (C, 1, 1) on the block, then `block.0` (depthwise conv),
  `block.2` (norm), `block.3`, `block.5` (the linear layers); the downsampling layer before stage S is
  `features.{2S}.0` (norm), `features.{2S}.1` (conv); `classifier.0` (norm), `classifier.2` (linear).
- timm: `stem.0`, `stem.1`; `stages.S.downsample.0`, `.1`; blocks `stages.S.blocks.B` with `gamma` (C) first,
  then `conv_dw`, `norm`, `mlp.fc1`, `mlp.fc2`; `head.norm`, `head.fc`.

Every conv here has a bias, which the ResNet layouts refuse: hence layouts of their own, which the torchvision and
timm layouts hand a ConvNeXt spec to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from archspec.arch.plan import Block, Layer
from archspec.nn.layouts.base import Counterpart, Layout
from archspec.spec.schema import ResNetSpec

STEM = {"conv": "0", "norm": "1"}
DOWNSAMPLE = {"norm": "0", "conv": "1"}
TORCHVISION_BLOCK = {
    "main.layer_scale": "", "main.conv1": "block.0", "main.norm1": "block.2", "main.fc1": "block.3",
    "main.fc2": "block.5",
}  # fmt: skip
TORCHVISION_HEAD = {"norm": "classifier.0", "fc": "classifier.2"}
TIMM_BLOCK = {
    "main.layer_scale": "", "main.conv1": "conv_dw", "main.norm1": "norm", "main.fc1": "mlp.fc1",
    "main.fc2": "mlp.fc2",
}  # fmt: skip
TIMM_HEAD = {"norm": "head.norm", "fc": "head.fc"}
LAYER_SCALE = "main.layer_scale"  # held by the block itself: torchvision's `layer_scale`, timm's `gamma`


def is_convnext(spec: ResNetSpec) -> bool:
    """Whether `spec` takes ConvNeXt's names: its stages are of convnext blocks."""
    return any(getattr(stage.block, "kind", None) == "convnext" for stage in spec.stages)


class TorchvisionConvNeXt(Layout):
    name = "torchvision"
    summary = "torchvision.models.convnext.ConvNeXt: features (stem, stages, downsampling layers), classifier"

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        return self.rename("stem", ((layer.name, layer) for layer in layers), STEM, "features.0.")

    def downsample(self, spec: ResNetSpec, stage: int, layers: Sequence[Layer], path: str) -> Iterable[Counterpart]:
        return self.rename(path, ((layer.name, layer) for layer in layers), DOWNSAMPLE, f"features.{2 * stage}.")

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        if block.kind != "convnext":
            return []
        return self.rename(path, block.layers, TORCHVISION_BLOCK, f"features.{2 * stage + 1}.{index}.",
                           conv1x1=(LAYER_SCALE,), tensors={LAYER_SCALE: "layer_scale"})  # fmt: skip

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        return self.rename("head", ((layer.name, layer) for layer in layers), TORCHVISION_HEAD, "")


class TimmConvNeXt(Layout):
    name = "timm"
    summary = "timm.models.convnext.ConvNeXt: stem, stages.S (downsample, blocks), head"

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        return self.rename("stem", ((layer.name, layer) for layer in layers), STEM, "stem.")

    def downsample(self, spec: ResNetSpec, stage: int, layers: Sequence[Layer], path: str) -> Iterable[Counterpart]:
        return self.rename(path, ((layer.name, layer) for layer in layers), DOWNSAMPLE, f"stages.{stage}.downsample.")

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        if block.kind != "convnext":
            return []
        return self.rename(path, block.layers, TIMM_BLOCK, f"stages.{stage}.blocks.{index}.",
                           tensors={LAYER_SCALE: "gamma"})  # fmt: skip

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        return self.rename("head", ((layer.name, layer) for layer in layers), TIMM_HEAD, "")
