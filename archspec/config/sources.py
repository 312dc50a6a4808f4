"""Where a CLI-style source points: a file path, a bundled file by name, or inline YAML text."""

from __future__ import annotations

from pathlib import Path

from archspec.errors import SpecError

SUFFIXES = (".yaml", ".yml")


def bundled_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def resolve_source(source: str | Path, folder: Path, kind: str) -> Path | None:
    """The file `source` names: an existing path, or `folder/<source>.yaml`. None for inline YAML text.

    Text is inline YAML when it holds a newline or starts with `{` (a flow mapping such as
    `{name: x, ...}`); anything else must name a file or a bundled `kind`.
    """
    if isinstance(source, Path):
        return source
    if "\n" in source or source.lstrip().startswith("{"):
        return None
    path = Path(source)
    if path.exists() or path.suffix in SUFFIXES or "/" in source:
        return path
    bundled = folder / f"{source}.yaml"
    if bundled.exists():
        return bundled
    names = ", ".join(bundled_names(folder))
    raise SpecError(f"{source}: no such file, and no bundled {kind} of that name; bundled: {names}")
