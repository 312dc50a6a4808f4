"""Rewrite (or check) the generated part of a docs file: the text between two marker lines, which a tool renders.

What the tools that write tables into the docs share (tools/regnet_table.py, tools/convnext_roadmap.py); each test
that runs a tool with --check fails when its part of the docs is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def update(doc: Path, start: str, end: str, render: Callable[[], str], check: bool, tool: str) -> int:
    """Put `render()` (which begins with `start` and ends with `end`) in place of `doc`'s marked part; with `check`,
    write nothing and return 1 if that would change the file. `tool` is the command that rewrites it."""
    text = doc.read_text()
    if start not in text or end not in text:
        print(f"{doc}: no '{start}' ... '{end}' markers", file=sys.stderr)
        return 1
    before, rest = text.split(start, 1)
    new = before + render() + rest.split(end, 1)[1]
    if check:
        if new != text:
            print(f"{doc}: its generated part is stale; run {tool}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(new)
    print(f"wrote the generated part of {doc}")
    return 0
