"""What a weight layout is: for each module of a plan, the name of its counterpart in another codebase.

A layout walks the plan of a spec (archspec.arch.plan) and names, in the reference's state-dict order,
the reference module of every archspec module that holds tensors (convs, norms, squeeze-excite gates,
the classifier) or that the reference must also have for the same function (a shortcut's pool or zero
padding). Tensors follow their module: `stage1.0.main.conv1.weight` is `layer1.0.conv1.weight` in
torchvision's layout because `stage1.0.main.conv1` is `layer1.0.conv1`. Nothing is listed per preset,
so any spec whose structure the reference can express gets a key map, and one that it cannot gets a
one-line error naming the first module without a counterpart.

No torch import: the key map needs only tensor names and shapes (a state dict, or a meta-device one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from archspec.arch.plan import Block, Layer, lower
from archspec.arch.primitives import Pool, ZeroPad
from archspec.errors import SpecError
from archspec.spec.schema import ResNetSpec


class LayoutError(SpecError):
    """A spec that a layout cannot express."""


@dataclass(frozen=True)
class Counterpart:
    """Where one archspec module lives in a reference layout; `reference` None means nowhere."""

    path: str  # archspec module path, e.g. stage2.0.shortcut.conv
    layer: Layer
    reference: str | None  # reference module path, e.g. layer2.0.downsample.0
    why: str = ""  # for reference None: what the reference lacks, in words
    # the reference holds this weight with two trailing 1x1 dimensions: a linear layer as a 1x1 conv (out, in, 1,
    # 1), a layer scale as (C, 1, 1) (torchvision's ConvNeXt)
    conv1x1: bool = False
    # the reference holds this 1x1 conv as a linear layer (out, in): a channels-first ConvNeXt block's 1x1 layers
    # in torchvision, which has only the channels-last form
    linear: bool = False
    tensor: str | None = None  # the reference keeps this module's one weight as `reference.<tensor>` (a gamma)


@dataclass(frozen=True)
class TensorPair:
    name: str  # archspec state-dict key
    reference: str  # the reference's key
    shape: tuple[int, ...]
    reference_shape: tuple[int, ...]  # differs from `shape` only for a 1x1-conv head


@dataclass(frozen=True)
class KeyMap:
    """Every archspec tensor with its reference name, in the reference's state-dict order."""

    layout: str
    spec: str  # the spec's name, for messages
    pairs: tuple[TensorPair, ...]
    unmatched: tuple[Counterpart, ...]  # modules without a counterpart, in plan order
    unmatched_tensors: tuple[str, ...]  # the archspec tensors of those modules

    def require_complete(self) -> KeyMap:
        """This map, if every module has a counterpart; else LayoutError naming the first that has none."""
        if self.unmatched:
            first = self.unmatched[0]
            detail = f" ({first.why})" if first.why else ""
            raise LayoutError(
                f"{self.spec}: {first.path} ({first.layer.op.noun()}) has no counterpart in the {self.layout} "
                f"layout{detail}"
            )
        return self


def needs_place(path: str, layer: Layer) -> bool:
    """Whether the reference must have this module: it holds tensors, or it is a shortcut's pool or padding."""
    if layer.op.params > 0:
        return True
    return isinstance(layer.op, ZeroPad) or (isinstance(layer.op, Pool) and ".shortcut." in path)


Names = Mapping[str, str]  # archspec local name (e.g. main.conv1) -> reference local name, in reference order


class Layout:
    """A reference codebase's module names. Subclasses name the stem, each block and the head."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line: the reference class and its parts

    def stem(self, spec: ResNetSpec, layers: Sequence[Layer]) -> Iterable[Counterpart]:
        raise NotImplementedError

    def block(self, spec: ResNetSpec, stage: int, index: int, block: Block, path: str) -> Iterable[Counterpart]:
        raise NotImplementedError

    def head(self, spec: ResNetSpec, layers: Sequence[Layer], stages: int) -> Iterable[Counterpart]:
        raise NotImplementedError

    def unfit(self, layer: Layer) -> str:
        """Why the reference has no module like `layer` anywhere (e.g. a conv with a bias), or ''."""
        return ""

    def rename(self, path: str, layers: Iterable[tuple[str, Layer]], names: Names, prefix: str,
               conv1x1: Iterable[str] = (), tensors: Mapping[str, str] | None = None,
               linear: Iterable[str] = ()) -> list[Counterpart]:  # fmt: skip
        """The counterparts of `layers` (local name, layer) under `path`: `names` in its order, `prefix` prepended.

        `tensors` names the modules (local name -> tensor name) whose one weight the reference holds directly
        on the module `names` gives (torchvision's `layer_scale`, timm's `gamma`)."""
        found, tensors = dict(layers), tensors or {}
        conv1x1, linear = set(conv1x1), set(linear)
        out = []
        for local, reference in names.items():
            layer = found.get(local)
            if layer is not None and not self.unfit(layer):
                target = prefix + reference if reference else prefix.rstrip(".")  # "": the module at `prefix`
                out.append(Counterpart(f"{path}.{local}", layer, target, conv1x1=local in conv1x1,
                                       tensor=tensors.get(local), linear=local in linear))  # fmt: skip
        return out

    def downsample(self, spec: ResNetSpec, stage: int, layers: Sequence[Layer], path: str) -> Iterable[Counterpart]:
        """A stage's separate downsampling layer; none in a ResNet layout."""
        return []

    def counterparts(self, spec: ResNetSpec) -> list[Counterpart]:
        """Every module that needs a place, placed ones first in the reference's order, then the unplaced ones."""
        plan = lower(spec)
        placed = list(self.stem(spec, plan.stem))
        for s, stage in enumerate(plan.stages):
            placed += self.downsample(spec, s, stage.downsample, f"{stage.name}.downsample")
            for b, block in enumerate(stage.blocks):
                placed += self.block(spec, s, b, block, f"{stage.name}.{b}")
        placed += self.head(spec, plan.head, len(plan.stages))
        known = {c.path for c in placed}
        missing = [Counterpart(path, layer, None, self.unfit(layer)) for path, layer in plan.layers()
                   if needs_place(path, layer) and path not in known]  # fmt: skip
        return placed + missing


def key_map(spec: ResNetSpec, state: Mapping[str, Any], layout: Layout) -> KeyMap:
    """The tensor-level map of `spec` under `layout`; `state` is the archspec model's state dict (or shapes).

    Each value of `state` needs only a `.shape`; a meta-device model's state dict is enough.
    """
    counterparts = layout.counterparts(spec)
    modules = {c.path: c for c in counterparts}
    tensors: dict[str, list[tuple[str, str]]] = {path: [] for path in modules}  # module -> [(key, suffix)]
    for key in state:
        module, suffix = _module_of(key, modules)
        tensors[module].append((key, suffix))
    pairs = []
    for c in counterparts:
        if c.reference is None:
            continue
        for key, suffix in tensors[c.path]:
            shape = tuple(int(n) for n in state[key].shape)
            reference_shape = shape
            if c.conv1x1 and suffix == "weight":
                reference_shape = (*shape, 1, 1)
            elif c.linear and suffix == "weight":
                reference_shape = shape[:2]
            pairs.append(TensorPair(key, f"{c.reference}.{c.tensor or suffix}", shape, reference_shape))
    order = {path: i for i, path in enumerate(path for path, _ in lower(spec).layers())}
    unmatched = sorted((c for c in counterparts if c.reference is None), key=lambda c: order[c.path])
    unmatched_tensors = tuple(key for c in unmatched for key, _ in tensors[c.path])
    return KeyMap(layout.name, spec.name, tuple(pairs), tuple(unmatched), unmatched_tensors)


def _module_of(key: str, modules: Mapping[str, Counterpart]) -> tuple[str, str]:
    """(module path, tensor suffix) of a state-dict key: `a.b.squeeze_excite.fc1.weight` -> (`a.b.squeeze_excite`,
    `fc1.weight`)."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        if module in modules:
            return module, ".".join(parts[cut:])
    raise AssertionError(f"state-dict key {key} belongs to no module of the plan")
