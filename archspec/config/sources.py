"""What a source names: inline YAML text, a bundled file by name, a YAML file, a checkpoint file, a run folder or
an export file. `classify` is the one rule that every command, `extends:` and a sweep file's `spec:` and
`recipe:` follow; `find_source` adds the refusals (an unknown name, a missing file named inside a file).

Two contexts differ in one way each, and say so with `named_in`:
- on the command line (`named_in=None`), an existing path wins over a bundled name and a relative path is
  relative to the current folder; a missing file is left to the reader, whose error says why;
- inside a file (`named_in=` its folder), a bare word is always a bundled name, a path (it has a suffix or a
  `/`) is relative to that folder, and a missing file is refused here, so the error points at the line.

Run folders are known by archspec.artifacts.rundir.RunDir, a layer above: callers that accept them pass
`RunDir.is_run` as `is_run`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from archspec.config.text import clip, quote
from archspec.errors import SpecError

SUFFIXES = (".yaml", ".yml")  # YAML files: specs, recipes, sweeps
CHECKPOINT_SUFFIXES = (".pt",)
EXPORT_SUFFIXES = (".onnx", ".ts", ".pt2")
Kind = Literal["inline", "bundled", "file", "checkpoint", "run", "export", "unknown"]
YAML_KINDS = ("inline", "bundled", "file")


@dataclass(frozen=True)
class Source:
    """One classified source: what it is, the text as given and, except for inline YAML and an unknown name,
    the file or folder it names (a bundled name: `folder/<name>.yaml`)."""

    kind: Kind
    text: str
    path: Path | None = None

    @property
    def is_yaml(self) -> bool:
        """Inline YAML, a bundled file or a file taken as YAML (a spec, a recipe, a sweep)."""
        return self.kind in YAML_KINDS

    @property
    def is_checkpoint(self) -> bool:
        """A checkpoint file or a run folder (whose best checkpoint stands for it)."""
        return self.kind in ("checkpoint", "run")


def _no_runs(path: Path) -> bool:
    return False


def classify(
    source: str | Path, bundled: Path, named_in: Path | None = None, is_run: Callable[[Path], bool] = _no_runs
) -> Source:
    """What `source` is (see the module docstring for the rule); never raises, never reads a file."""
    if isinstance(source, Path):
        return _path_source(str(source), source, named_in, is_run)
    if "\n" in source or source.lstrip().startswith("{"):  # a block or a flow mapping such as `{name: x, ...}`
        return Source("inline", source)
    path = Path(source).expanduser()
    known = path.suffix in (*SUFFIXES, *CHECKPOINT_SUFFIXES, *EXPORT_SUFFIXES)
    if known or "/" in source or (named_in is None and exists(path)):
        return _path_source(source, path, named_in, is_run)
    file = bundled / f"{source}.yaml"
    return Source("bundled", source, file) if source and exists(file) else Source("unknown", source)


def _path_source(text: str, path: Path, named_in: Path | None, is_run: Callable[[Path], bool]) -> Source:
    if named_in is not None and not path.is_absolute():
        path = named_in / path
    try:
        run = is_run(path)
    except OSError:  # a name the system refuses (over 255 bytes): not a run folder; reading it says why
        run = False
    if run:
        return Source("run", text, path)
    if path.suffix in CHECKPOINT_SUFFIXES:
        return Source("checkpoint", text, path)
    return Source("export" if path.suffix in EXPORT_SUFFIXES else "file", text, path)


def find_source(
    source: str | Path, bundled: Path, what: str, named_in: Path | None = None,
    is_run: Callable[[Path], bool] = _no_runs, named_by: str = "the file that names it",
) -> Source:  # fmt: skip
    """`classify`, then refuse (SpecError, without a position: a caller inside a file adds its line) an
    unknown name, and a missing file named inside a file. `what` names the kind of source (spec, recipe,
    base); `named_by`, the file a relative path is relative to, as the error says it."""
    found = classify(source, bundled, named_in, is_run)
    if found.kind == "unknown":
        names = bundled_names(bundled)
        close = difflib.get_close_matches(found.text, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if named_in is None:
            raise SpecError(f"{clip(found.text, 80)}: no such file, and no bundled {what} of that name; bundled: "
                            f"{', '.join(names)}{hint}")  # fmt: skip
        raise SpecError(f"unknown {what} {quote(found.text)}; choose from {', '.join(names)}, or a path ending in "
                        f".yaml{hint}")  # fmt: skip
    if named_in is not None and found.path is not None and not exists(found.path):
        raise SpecError(f"unknown {what} {quote(found.text)}: no file {clip(str(found.path), 200)} (a path is "
                        f"relative to {named_by})")  # fmt: skip
    return found


def bundled_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def resolve_source(source: str | Path, folder: Path, kind: str) -> Path | None:
    """The file `source` names on the command line: a path, or `folder/<source>.yaml`; None for inline YAML.
    (`find_source` with the command line's rule; SpecError for an unknown name.)"""
    return find_source(source, folder, kind).path


def exists(path: Path) -> bool:
    """Whether `path` exists; False (not an OSError traceback) for a name the system refuses (over 255 bytes)."""
    try:
        return path.exists()
    except OSError:
        return False
