"""Write (or check) docs/convnext-roadmap.md's generated part: the ConvNeXt roadmap's cost per step and its diffs.

Every spec in docs/examples/convnext-roadmap/ (one per step of Liu et al. 2022's figure 2, each extending the step
before) is validated and costed by archspec's own complexity API at 224x224 and set beside the paper's published
GFLOPs and ImageNet-1K top-1 (figure 2 and section 2 of the paper, as printed there: not recomputed); then the
`archspec diff` of each step against the one before.

    .venv/bin/python tools/convnext_roadmap.py            # rewrite the generated part of docs/convnext-roadmap.md
    .venv/bin/python tools/convnext_roadmap.py --check    # fail if it is stale
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

from archspec import complexity, load_spec
from archspec.report import diff_report
from archspec.spec.schema import ResNetSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_section import update

REPO = Path(__file__).resolve().parent.parent
FOLDER = REPO / "docs" / "examples" / "convnext-roadmap"
DOC = REPO / "docs" / "convnext-roadmap.md"
START, END = "<!-- roadmap: tools/convnext_roadmap.py -->", "<!-- end of roadmap -->"
# Liu et al. 2022, "A ConvNet for the 2020s", figure 2 (GFLOPs: fvcore's count, one per multiply-add) and the text
# of its section 2 (ImageNet-1K top-1 of each step, trained with the paper's recipe), by step file
PAPER: dict[str, tuple[str, float, float]] = {
    "01-resnet50": ("ResNet-50 (modernised training)", 4.1, 78.8),
    "02-stage-ratio": ("stage ratio", 4.5, 79.4),
    "03-patchify": ('"patchify" stem', 4.4, 79.5),
    "04-depthwise": ("depthwise conv", 2.4, 78.3),
    "05-width-96": ("width 64 -> 96", 5.3, 80.5),
    "06-inverted-bottleneck": ("inverting dims", 4.6, 80.6),
    "07-move-up-depthwise": ("move up depthwise conv", 4.1, 79.9),
    "08-kernel-7": ("kernel size -> 7", 4.2, 80.6),
    "09-gelu": ("ReLU -> GELU", 4.2, 80.6),
    "10-fewer-activations": ("fewer activations", 4.2, 81.3),
    "11-fewer-norms": ("fewer norms", 4.2, 81.4),
    "12-layer-norm": ("BN -> LN", 4.2, 81.5),
    "13-downsampling-layers": ("separate downsampling layers (ConvNeXt-T)", 4.5, 82.0),
}


def steps() -> list[tuple[Path, ResNetSpec]]:
    """Every step's file and its validated spec (shapes checked), in order."""
    return [(path, load_spec(path)) for path in sorted(FOLDER.glob("*.yaml"))]


def render() -> str:
    found = steps()
    names = [path.stem for path, _ in found]
    if names != list(PAPER):
        raise SystemExit(f"the roadmap folder holds {names}; PAPER in {__file__} names {list(PAPER)}")
    lines = [
        START,
        "",
        "| step | file | paper's change | params | GMACs (archspec) | paper GFLOPs | paper top-1 |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for number, (path, spec) in enumerate(found, 1):
        change, gflops, top1 = PAPER[path.stem]
        cost = complexity(spec)
        lines.append(f"| {number} | `{path.name}` | {change} | {cost.params:,} | {cost.macs / 1e9:.2f} | {gflops} "
                     f"| {top1} |")  # fmt: skip
    for (before_path, before), (path, spec) in pairwise(found):
        lines += ["", f"### {before_path.stem} -> {path.stem}", "", "```text",
                  f"$ archspec diff {before_path.name} {path.name}", diff_report(before, spec), "```"]  # fmt: skip
    return "\n".join([*lines, "", END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/convnext-roadmap.md is stale")
    args = parser.parse_args(argv)
    return update(DOC, START, END, render, args.check, "python tools/convnext_roadmap.py")


if __name__ == "__main__":
    raise SystemExit(main())
