"""The ConvNeXt roadmap folder (docs/examples/convnext-roadmap/): every step validates and extends the step before,
costs what the paper's figure 2 says to within its rounding, ends at convnext_tiny, and docs/convnext-roadmap.md's
generated table and diffs are current."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import yaml

from archspec import complexity, load_spec
from archspec.spec.io import spec_hash

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "convnext_roadmap.py"


def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("convnext_roadmap", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_each_step_validates_and_extends_the_one_before() -> None:
    roadmap = tool()
    steps = roadmap.steps()
    assert [path.stem for path, _ in steps] == list(roadmap.PAPER)
    bases = [yaml.safe_load(path.read_text())["extends"] for path, _ in steps]
    assert bases == ["resnet50", *(path.name for path, _ in steps[:-1])]
    assert len({spec_hash(spec) for _, spec in steps}) == len(steps)  # every step changes the network


def test_the_costs_follow_the_papers_figure() -> None:
    roadmap = tool()
    for path, spec in roadmap.steps():
        gmacs = complexity(spec).macs / 1e9
        assert abs(gmacs - roadmap.PAPER[path.stem][1]) < 0.06, (path.name, gmacs)


def test_the_last_step_is_convnext_tiny_and_the_first_resnet50() -> None:
    steps = tool().steps()
    assert spec_hash(steps[-1][1]) == spec_hash(load_spec("convnext_tiny"))
    assert spec_hash(steps[0][1]) == spec_hash(load_spec("resnet50"))


def test_the_roadmap_doc_is_current() -> None:
    assert tool().main(["--check"]) == 0, "docs/convnext-roadmap.md is stale: run python tools/convnext_roadmap.py"
