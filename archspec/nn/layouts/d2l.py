"""d2l's layout ("Dive into Deep Learning", chapter "Residual Networks"): an nn.Sequential of b1..b5.

`0` is the stem (`0.0` conv, `0.1` batch norm, then ReLU and max pool), `1`..`N` the stages of
`Residual` blocks (`conv1`, `conv2`, the shortcut's 1x1 conv `conv3`, then `bn1`, `bn2`, in that
registration order), then pooling, flattening and the linear layer at index N + 3. Every conv has a bias.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from archspec.arch.plan import Block, Layer
from archspec.arch.primitives import Conv
from archspec.nn.layouts.base import Counterpart, Layout
from archspec.spec.schema import ResNetSpec

BLOCK = {
    "main.conv1": "conv1", "main.conv2": "conv2", "shortcut.conv": "conv3", "main.norm1": "bn1", "main.norm2": "bn2",
}  # fmt: skip


class D2L(Layout):
    name = "d2l"
    summary = "d2l's nn.Sequential(b1, b2..bN+1, pool, flatten, linear) of Residual blocks"

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        return self.rename("stem", ((layer.name, layer) for layer in layers), {"conv": "0", "norm": "1"}, "0.")

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        if block.kind != "basic":
            return []
        return self.rename(path, block.layers, BLOCK, f"{stage + 1}.{index}.")

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        return self.rename("head", ((layer.name, layer) for layer in layers), {"fc": str(stages + 3)}, "")

    def unfit(self, layer: Layer) -> str:
        if isinstance(layer.op, Conv) and not layer.op.bias:
            return "d2l's convolutions have a bias"
        return ""
