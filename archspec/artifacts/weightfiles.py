"""Weight files in other codebases' layouts <-> archspec checkpoints (`archspec weights import|export`).

`import_weights` converts exactly: every module of the spec needs a counterpart in the layout and every
tensor of the file a place in the spec, shapes equal, else a one-line error and nothing written. The
checkpoint it writes is an ordinary archspec checkpoint at epoch 0 (with the recipe to evaluate it by),
so `evaluate`, `export` and `train --init-from` take it. `export_weights` is the inverse: a checkpoint's
weights under the layout's names, in the reference's order, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archspec.artifacts.checkpoint import Checkpoint, checkpoint_file, checkpoint_model
from archspec.nn.build import build
from archspec.nn.weights import LoadReport, export, load, read_state_dict, save_state_dict
from archspec.recipe.schema import Recipe, dump_recipe
from archspec.spec.schema import ResNetSpec


@dataclass(frozen=True)
class Imported:
    path: Path
    report: LoadReport
    parameters: int  # numbers loaded, buffers included


def import_weights(source: Path, layout: str, spec: ResNetSpec, out: Path, recipe: Recipe) -> Imported:
    """Load the state dict in `source` (`layout`'s names) into `spec` exactly and write an archspec checkpoint."""
    state = read_state_dict(source)
    model = build(spec)
    report = load(model, state, spec, layout, strict=True, source=str(source))
    Checkpoint(
        model=model.state_dict(),
        spec=spec,
        recipe_text=dump_recipe(recipe),
        dataset=f"none (weights imported from {source}, {layout} layout)",
        imported={"source": str(source), "layout": layout},
    ).save(out)
    numbers = sum(state[e.source].numel() for e in report.entries if e.source is not None and e.status == "loaded")
    return Imported(out, report, numbers)


def export_weights(source: Path, layout: str, out: Path) -> int:
    """Write the weights of a checkpoint (or a run folder's best) under `layout`'s names; returns the tensor count."""
    model, spec = checkpoint_model(checkpoint_file(Path(source)))
    state = export(model, spec, layout)
    save_state_dict(state, out)
    return len(state)
