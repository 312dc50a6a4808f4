"""`archspec upgrade RUN|FILE`: rewrite files of an earlier format in the current one, atomically.

Reading needs no upgrade (every reader migrates on load: archspec.artifacts.migrations); upgrading makes
the files readable by the migrations' end state alone, for tools of one's own and for archives. Every
file is read and checked first and only then are the outdated ones rewritten, each to a temporary file
renamed over the old one: a file that does not read leaves every file as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from archspec.artifacts.checkpoint import Checkpoint
from archspec.artifacts.metadata import FORMAT_KEY, ModelFileError, parse_metadata
from archspec.artifacts.migrations import CHECKPOINT, EXPORT, RUN_INFO, run_info_version
from archspec.artifacts.rundir import RunDir
from archspec.config.files import write_atomic
from archspec.errors import ArchspecError

ARCHIVES = (".ts", ".pt2")  # TorchScript and torch.export: their extra files cannot be rewritten in place


@dataclass(frozen=True)
class Upgraded:
    """One file: the format it was in and the one it is in now (the same: nothing to do)."""

    path: Path
    before: int
    after: int
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade(path: Path) -> list[Upgraded]:
    """Upgrade a run folder (its run.json and every checkpoint), a checkpoint file or an ONNX export."""
    if path.is_dir():
        if not RunDir.is_run(path):
            raise ArchspecError(f"{path}: a folder, but not a run folder (no checkpoints/ or recipe.yaml in it)")
        return _run_folder(RunDir(path))
    if not path.is_file():
        raise ArchspecError(f"{path}: no such run folder, checkpoint or export")
    if path.suffix == ".onnx":
        return [_onnx(path)]
    if path.suffix in ARCHIVES:
        raise ArchspecError(f"{path}: TorchScript and torch.export archives cannot be rewritten in place (their "
                            "metadata is read as it is); export the checkpoint again for the current one")  # fmt: skip
    checkpoint = Checkpoint.load(path)
    _save(path, checkpoint)
    return [Upgraded(path, checkpoint.read_format, CHECKPOINT.current)]


def _run_folder(run: RunDir) -> list[Upgraded]:
    checkpoints = [(file, Checkpoint.load(file)) for file in sorted(run.checkpoints.glob("*.pt"))]
    info = run.read_info()  # migrated (and checked) before anything is written
    raw = json.loads(run.info_file.read_text()) if run.info_file.is_file() else None
    results = []
    for file, checkpoint in checkpoints:
        _save(file, checkpoint)
        results.append(Upgraded(file, checkpoint.read_format, CHECKPOINT.current))
    if raw is not None:
        before = run_info_version(raw) or RUN_INFO.current
        if before < RUN_INFO.current:
            run.write_info({key: value for key, value in info.items() if key not in ("format", "archspec")})
        results.append(Upgraded(run.info_file, before, RUN_INFO.current))
    return results


def _save(path: Path, checkpoint: Checkpoint) -> None:
    if checkpoint.outdated:
        checkpoint.save(path)


def _onnx(path: Path) -> Upgraded:
    try:
        import onnx
    except ImportError:
        raise ArchspecError(f"{path}: upgrading an ONNX export needs onnx: pip install 'archspec[onnx]'") from None
    try:
        model = onnx.load_model_from_string(path.read_bytes())
    except Exception as err:  # onnx raises its own DecodeError, and others, for a file that is not a model
        raise ModelFileError(f"{path}: not a readable ONNX model ({str(err).splitlines()[0][:200]})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    before = int(meta[FORMAT_KEY]) if meta.get(FORMAT_KEY, "").isdigit() else 1
    metadata = parse_metadata(meta, str(path))  # checked, and refused when newer
    if before < EXPORT.current:
        others = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("archspec_")]
        del model.metadata_props[:]
        for key, value in [*others, *metadata.as_strings().items()]:
            model.metadata_props.add(key=key, value=value)
        write_atomic(path, model.SerializeToString(), ModelFileError)
    return Upgraded(path, before, EXPORT.current)


__all__ = ["Upgraded", "upgrade"]
