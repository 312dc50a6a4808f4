"""timm's layouts: `timm.models.resnet.ResNet` and, for pre-activation networks, `timm.models.resnetv2.ResNetV2`.

ResNet (resnet18d, resnet50d, seresnet50 ...): a one-conv stem is `conv1`, `bn1`; a deep stem is the
Sequential `conv1` (conv, bn, act, conv, bn, act, conv) then `bn1`; blocks `layerS.B` with `convK`,
`bnK`, the gate `se` after the last norm, and `downsample` as (conv, bn), or (pool, conv, bn) for the
average-pool shortcut (the pool an Identity at stride 1). Convolutions are bias-free.

ResNetV2 (resnetv2_50), chosen when the last stage is pre-activation: `stem.conv` (or conv1..3 of a
deep stem) without a norm, blocks `stages.S.blocks.B` with `downsample.conv` first, then `norm1`,
`conv1`, `norm2`, `conv2`, `norm3`, `conv3`; the final `norm`, and `head.fc`, a 1x1 conv.

RegNet (regnetx_004, regnety_008_tv ...), chosen when the bottlenecks set `group_width`: nn/layouts/regnet.py.
ConvNeXt (convnext_tiny ...), chosen for convnext blocks: nn/layouts/convnext.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from archspec.arch.plan import Block, Layer
from archspec.arch.primitives import Act, Conv, Norm
from archspec.nn.layouts import convnext, regnet
from archspec.nn.layouts.base import Counterpart, Layout
from archspec.spec.schema import ResNetSpec

RESNET_MAIN = {
    "main.conv1": "conv1", "main.norm1": "bn1", "main.conv2": "conv2", "main.norm2": "bn2",
    "main.conv3": "conv3", "main.norm3": "bn3", "main.squeeze_excite": "se",
}  # fmt: skip
RESNET_SHORTCUT = {"shortcut.conv": "downsample.0", "shortcut.norm": "downsample.1"}
RESNET_AVG_SHORTCUT = {
    "shortcut.pool": "downsample.0", "shortcut.conv": "downsample.1", "shortcut.norm": "downsample.2",
}  # fmt: skip
RESNETV2_BLOCK = {
    "shortcut.pool": "downsample.pool", "shortcut.conv": "downsample.conv",
    "pre.norm1": "norm1", "main.conv1": "conv1", "main.norm2": "norm2", "main.conv2": "conv2",
    "main.norm3": "norm3", "main.conv3": "conv3",
}  # fmt: skip
RESNETV2_STEM = {
    "conv": "conv", "conv1": "conv1", "norm1": "norm1", "conv2": "conv2", "norm2": "norm2", "conv3": "conv3",
}  # fmt: skip


class Timm(Layout):
    name = "timm"
    summary = "timm's ResNet (conv1, bn1, layerS.B, fc), or ResNetV2 (stem, stages.S.blocks.B, head.fc) if preact"

    def counterparts(self, spec: ResNetSpec) -> list[Counterpart]:
        if convnext.is_convnext(spec):  # timm's ConvNeXt: its own names, and biases
            return convnext.TIMM_LAYOUT.counterparts(spec)
        return super().counterparts(spec)

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        named = [(layer.name, layer) for layer in layers]
        if regnet.is_regnet(spec):
            return self.rename("stem", named, regnet.TIMM_STEM, "")
        if _preact(spec):  # the preact stem has no norm: the first block normalises its input
            return self.rename("stem", named, RESNETV2_STEM, "stem.")
        if "conv" in dict(named):
            return self.rename("stem", named, {"conv": "conv1", "norm": "bn1"}, "")
        # deep stem: positions in timm's Sequential of conv, norm and act, up to the last conv; its norm is bn1
        chain = [layer for layer in layers if isinstance(layer.op, Conv | Norm | Act)]
        last = max(i for i, layer in enumerate(chain) if isinstance(layer.op, Conv))
        names = {layer.name: f"conv1.{i}" for i, layer in enumerate(chain[: last + 1]) if not isinstance(layer.op, Act)}
        names.update({layer.name: "bn1" for layer in chain[last + 1 :] if isinstance(layer.op, Norm)})
        return self.rename("stem", named, names, "")

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        if regnet.is_regnet(spec):  # timm.models.regnet.RegNet: Bottleneck
            if block.kind != "bottleneck":
                return []
            return self.rename(path, block.layers, regnet.TIMM_BLOCK, regnet.timm_prefix(stage, index))
        if _preact(spec) != (block.kind == "preact"):  # ResNet has no preact block, ResNetV2 no other kind
            return []
        if block.kind == "preact":
            return self.rename(path, block.layers, RESNETV2_BLOCK, f"stages.{stage}.blocks.{index}.")
        kind = spec.stages[stage].block.shortcut.kind  # at stride 1 the plan cannot tell avg_conv_norm by its layers
        shortcut = RESNET_AVG_SHORTCUT if kind == "avg_conv_norm" else RESNET_SHORTCUT
        return self.rename(path, block.layers, {**RESNET_MAIN, **shortcut}, f"layer{stage + 1}.{index}.")

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        named = [(layer.name, layer) for layer in layers]
        if regnet.is_regnet(spec):
            return self.rename("head", named, {"fc": "head.fc"}, "")
        if _preact(spec):
            return self.rename("head", named, {"norm": "norm", "fc": "head.fc"}, "", conv1x1=("fc",))
        return self.rename("head", named, {"fc": "fc"}, "")

    def unfit(self, layer: Layer) -> str:
        if isinstance(layer.op, Conv) and layer.op.bias:
            return "timm's ResNet convolutions have no bias"
        return ""


def _preact(spec: ResNetSpec) -> bool:
    """ResNetV2's layout when the network ends pre-activated (its last stage is preact), as the head does."""
    return spec.stages[-1].block.kind == "preact"
