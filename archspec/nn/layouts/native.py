"""archspec's own layout: every module keeps its name (`stage1.0.main.conv1`), in plan order.

What `archspec weights export --layout archspec` writes, and what fine-tuning from an archspec
checkpoint matches by: module names are stable, so another head or an added gate only changes
the modules that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from archspec.arch.plan import Block, Layer
from archspec.nn.layouts.base import Counterpart, Layout, needs_place
from archspec.spec.schema import ResNetSpec


class Native(Layout):
    name = "archspec"
    summary = "archspec's own module names (stem.conv, stage1.0.main.conv1, head.fc)"

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        return _same("stem", ((layer.name, layer) for layer in layers))

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        return _same(path, block.layers)

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        return _same("head", ((layer.name, layer) for layer in layers))


def _same(path: str, layers: Iterable[tuple[str, Layer]]) -> list[Counterpart]:
    return [Counterpart(f"{path}.{name}", layer, f"{path}.{name}") for name, layer in layers
            if needs_place(f"{path}.{name}", layer)]  # fmt: skip
