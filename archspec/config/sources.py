"""Where a CLI-style source points: a file path, a bundled file by name, or inline YAML text."""

from __future__ import annotations

import difflib
from pathlib import Path

from archspec.config.text import clip
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
    if exists(path) or path.suffix in SUFFIXES or "/" in source:
        return path
    bundled = folder / f"{source}.yaml"
    if exists(bundled):
        return bundled
    names = bundled_names(folder)
    close = difflib.get_close_matches(source, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SpecError(f"{clip(source, 80)}: no such file, and no bundled {kind} of that name; bundled: "
                    f"{', '.join(names)}{hint}")  # fmt: skip


def exists(path: Path) -> bool:
    """Whether `path` exists; False (not an OSError traceback) for a name the system refuses (over 255 bytes)."""
    try:
        return path.exists()
    except OSError:
        return False
