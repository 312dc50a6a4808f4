"""Fine-tuning: start a run from other weights (`--init-from`), freeze parts, give the head its own learning rate.

`prepare(source, spec, layout)` reads the weights (an archspec checkpoint or run folder, or a foreign
state dict in a named layout), matches them against the spec on the meta device and checks them, all
before a run folder exists; `Pretrained.apply(model, run_dir)` then copies them into the freshly
initialised model and records, in RUN/init-from.json, which tensors were loaded, adapted or new.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.arch.plan import lower
from archspec.artifacts.checkpoint import Checkpoint, checkpoint_file
from archspec.config.files import write_atomic
from archspec.errors import ArchspecError, CheckpointError
from archspec.nn.build import build_plan
from archspec.nn.layouts import NATIVE, get_layout, layout_names
from archspec.nn.weights import LoadReport, as_state_dict, copy_into, match, read_file
from archspec.recipe.schema import Recipe
from archspec.spec.schema import ResNetSpec


@dataclass(frozen=True)
class Pretrained:
    """Weights matched to a spec, ready to copy into a model built from it."""

    source: Path
    layout: str
    report: LoadReport
    values: dict[str, torch.Tensor]  # by archspec name, adapted where needed
    summary: str = ""  # the caller's rendering of `report`, logged when the weights are applied

    def apply(self, model: nn.Module, record: Path | None = None) -> None:
        """Copy the weights into `model` (after its own initialisation); write what happened to `record`
        (a run folder's RunDir.init_from_record)."""
        copy_into(model, self.values)
        if record is not None:
            write_atomic(record, self.record().encode(), ArchspecError)

    def record(self) -> str:
        """RUN/init-from.json: the source, the layout, and a table of every tensor and its status, a row a line."""
        columns = ["name", "status", "source", "shape", "source_shape", "note"]
        rows = [[e.name, "new" if e.status == "missing" else e.status, e.source, list(e.shape),
                 None if e.source_shape is None else list(e.source_shape), e.note]
                for e in self.report.entries]  # fmt: skip
        head = {"source": str(self.source), "layout": self.layout, "skipped": list(self.report.skipped)}
        lines = [f" {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
        lines.append(f' "columns": {json.dumps(columns)},')
        lines.append(' "tensors": [\n  ' + ",\n  ".join(json.dumps(row) for row in rows) + "\n ]")
        return "{\n" + "\n".join(lines) + "\n}\n"


def prepare(source: Path, spec: ResNetSpec, layout: str | None = None) -> Pretrained:
    """Read `source` (a weights file, an archspec checkpoint, or a run folder: its best.pt) and match it to `spec`.

    An archspec checkpoint needs no layout (its names are archspec's); any other file needs one. Tensors
    whose name and shape match are loaded, a first conv with other input channels is adapted, a classifier
    with another class count is new; any other shape mismatch, or nothing matching at all, is an error.
    """
    path = checkpoint_file(Path(source))
    obj = read_file(path)
    if Checkpoint.is_checkpoint(obj):
        if layout not in (None, NATIVE):
            raise CheckpointError(f"{path}: an archspec checkpoint; --layout {layout} applies to other state dicts")
        state, layout = as_state_dict(Checkpoint.from_state(obj, path).model, path), NATIVE
    elif layout is None:
        raise CheckpointError(
            f"{path}: not an archspec checkpoint; say how its tensors are named with --layout "
            f"({', '.join(layout_names())})"
        )
    else:
        get_layout(layout)
        state = as_state_dict(obj, path)
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        target = build_plan(lower(spec)).state_dict()
    report, values = match(target, state, spec, layout, adapt=True, source=str(path))
    return Pretrained(path, layout, report, values)


# --- freezing and the head's learning rate ------------------------------------------------------


def parts(spec: ResNetSpec) -> tuple[str, ...]:
    """The parts a recipe may freeze: the stem and each stage (the head always trains)."""
    return ("stem", *(stage.name for stage in lower(spec).stages))


def check_freeze(spec: ResNetSpec, recipe: Recipe) -> None:
    """Refuse a recipe that freezes a part the spec does not have."""
    known = parts(spec)
    for part in recipe.freeze:
        if part not in known:
            raise ArchspecError(f"recipe {recipe.name}: freeze: {spec.name} has no {part}; choose from "
                                f"{', '.join(known)}")  # fmt: skip


def freeze(model: nn.Module, names: Sequence[str]) -> None:
    """Stop training the parameters of the named parts; keep their norms' running statistics as they are."""
    for name in names:
        part = model.get_submodule(name)
        for parameter in part.parameters():
            parameter.requires_grad_(False)
        for module in part.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                # timm swaps in FrozenBatchNorm2d; a hook keeps the state-dict keys and the module types as built
                module.register_forward_pre_hook(_stay_in_eval)


def _stay_in_eval(module: nn.Module, inputs: Any) -> None:
    module.train(False)


def param_groups(model: nn.Module, recipe: Recipe, lr: float) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: trainable parameters, the head's apart when it has its own lr."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if recipe.head_lr_scale == 1.0:
        return [{"params": [p for _, p in trainable]}]
    body = [p for name, p in trainable if not name.startswith("head.")]
    head = [p for name, p in trainable if name.startswith("head.")]
    return [{"params": body}, {"params": head, "lr": lr * recipe.head_lr_scale}]
