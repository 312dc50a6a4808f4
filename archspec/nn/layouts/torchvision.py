"""torchvision's layout (torchvision.models.resnet.ResNet): conv1, bn1, layer1..N, fc; RegNet's, ConvNeXt's for theirs.

resnet18/34/50/101/152, resnext50_32x4d, wide_resnet50_2 and any spec built like them: one stem conv
and norm, BasicBlock or Bottleneck blocks (`convK`, `bnK`), a strided 1x1 conv and norm as the
projecting shortcut (`downsample.0`, `downsample.1`), bias-free convolutions, a linear classifier. A spec
whose bottlenecks set `group_width` takes torchvision.models.regnet.RegNet's names (nn/layouts/regnet.py); one of
convnext blocks torchvision.models.convnext.ConvNeXt's (nn/layouts/convnext.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from archspec.arch.plan import Block, Layer
from archspec.arch.primitives import Conv
from archspec.nn.layouts import convnext, regnet
from archspec.nn.layouts.base import Counterpart, Layout
from archspec.spec.schema import ResNetSpec

BLOCK = {
    "main.conv1": "conv1", "main.norm1": "bn1", "main.conv2": "conv2", "main.norm2": "bn2",
    "main.conv3": "conv3", "main.norm3": "bn3",
    "shortcut.conv": "downsample.0", "shortcut.norm": "downsample.1",
}  # fmt: skip


class Torchvision(Layout):
    name = "torchvision"
    summary = "torchvision.models.resnet.ResNet: conv1, bn1, layer1..N (BasicBlock/Bottleneck), fc"

    def counterparts(self, spec: ResNetSpec) -> list[Counterpart]:
        if convnext.is_convnext(spec):  # torchvision's ConvNeXt: its own names, and biases
            return convnext.TORCHVISION_LAYOUT.counterparts(spec)
        return super().counterparts(spec)

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        names = regnet.TORCHVISION_STEM if regnet.is_regnet(spec) else {"conv": "conv1", "norm": "bn1"}
        return self.rename("stem", ((layer.name, layer) for layer in layers), names, "")

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        if regnet.is_regnet(spec):  # torchvision.models.regnet.RegNet: ResBottleneckBlock
            if block.kind != "bottleneck":
                return []
            return self.rename(path, block.layers, regnet.TORCHVISION_BLOCK, regnet.torchvision_prefix(stage, index))
        if block.kind == "preact":
            return []
        return self.rename(path, block.layers, BLOCK, f"layer{stage + 1}.{index}.")

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        return self.rename("head", ((layer.name, layer) for layer in layers), {"fc": "fc"}, "")

    def unfit(self, layer: Layer) -> str:
        if isinstance(layer.op, Conv) and layer.op.bias:
            return "torchvision's convolutions have no bias"
        return ""
