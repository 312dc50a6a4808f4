"""Write (or check) docs/complexity.md's RegNet table: pycls's published figures beside `archspec complexity`.

For every RegNet of the paper (tests/arch/pycls_regnet.json: pycls's design numbers and its
dev/model_complexity.json), the spec is `regnet_x_400mf_pycls` with those numbers (and RegNetY's gate), and
archspec's parameters and MACs are set beside pycls's params and flops. pycls's flops count each conv and linear
bias once per output element; archspec's MACs leave biases out (docs/complexity.md), so the table shows the
bias terms and the difference that remains (0 throughout). Then the torchvision presets, whose counts differ
from pycls's for three sizes.

    .venv/bin/python tools/regnet_table.py            # rewrite the table in docs/complexity.md
    .venv/bin/python tools/regnet_table.py --check    # fail if the docs are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archspec import complexity, load_spec, lower
from archspec.arch.primitives import Conv, Linear, SqueezeExcite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_section import update

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "arch" / "pycls_regnet.json"
DOC = REPO / "docs" / "complexity.md"
START, END = "<!-- regnet table: tools/regnet_table.py -->", "<!-- end of regnet table -->"
GATE = "{ratio: 0.25, divisor: 1, ratio_of: input, position: after_3x3}"
TORCHVISION = ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf",
               "regnet_x_16gf", "regnet_x_32gf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf",
               "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf"]  # fmt: skip
TORCHVISION_PARAMS = {  # torchvision 0.29.1's documented num_params (torchvision.models.RegNet_*_Weights)
    "regnet_x_400mf": 5_495_976, "regnet_x_800mf": 7_259_656, "regnet_x_1_6gf": 9_190_136,
    "regnet_x_3_2gf": 15_296_552, "regnet_x_8gf": 39_572_648, "regnet_x_16gf": 54_278_536,
    "regnet_x_32gf": 107_811_560, "regnet_y_400mf": 4_344_144, "regnet_y_800mf": 6_432_512,
    "regnet_y_1_6gf": 11_202_430, "regnet_y_3_2gf": 19_436_338, "regnet_y_8gf": 39_381_472,
    "regnet_y_16gf": 83_590_140, "regnet_y_32gf": 145_046_770, "regnet_y_128gf": 644_812_894,
}  # fmt: skip


def models() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(DATA.read_text())["models"]
    return data


def spec_text(model: dict[str, Any]) -> str:
    """The archspec spec of one of pycls's RegNets."""
    design = ", ".join(f"{key}: {model[key]}" for key in ("depth", "w0", "wa", "wm", "group_width"))
    gate = f"\nblock: {{squeeze_excite: {GATE}}}" if model["se"] else ""
    return f"extends: regnet_x_400mf_pycls\nname: {model['name']}\nstages: {{regnet: {{{design}}}}}{gate}\n"


def bias_terms(spec: Any) -> int:
    """What pycls's flops add to the MACs: one per output element of each conv and linear bias (at 224x224,
    the squeeze-excite convs and the classifier act on 1x1 maps)."""
    total = 0
    for _, layer in lower(spec).layers():
        op = layer.op
        if isinstance(op, SqueezeExcite):
            total += op.hidden + op.channels
        elif isinstance(op, Linear) and op.bias:
            total += op.out_features
        elif isinstance(op, Conv) and op.bias:
            total += layer.out_shape.numel
    return total


def rows() -> list[dict[str, Any]]:
    out = []
    for model in models():
        spec = load_spec(spec_text(model))
        cost = complexity(spec)
        bias = bias_terms(spec)
        out.append({**model, "archspec_params": cost.params, "macs": cost.macs, "bias": bias,
                    "left": model["flops"] - cost.macs - bias})  # fmt: skip
    return out


def render() -> str:
    lines = [
        START,
        "",
        "| pycls model | depth, w0, wa, wm, g | pycls params | archspec params | pycls flops | archspec MACs "
        "| bias terms | flops - MACs - bias |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows():
        design = f"{r['depth']}, {r['w0']}, {r['wa']}, {r['wm']}, {r['group_width']}"
        lines.append(f"| {r['name']} | {design} | {r['params']:,} | {r['archspec_params']:,} | {r['flops']:,} "
                     f"| {r['macs']:,} | {r['bias']:,} | {r['left']:,} |")  # fmt: skip
    lines += ["", "| torchvision preset | stages (channels x blocks) | torchvision params | archspec params "
              "| archspec MACs | pycls form (`rounding: pycls`) |",
              "| --- | --- | ---: | ---: | ---: | --- |"]  # fmt: skip
    for name in TORCHVISION:
        spec = load_spec(name)
        stages = ", ".join(f"{s.channels}x{s.blocks}" for s in spec.stages)
        cost = complexity(spec)
        pycls = f"`{name}_pycls`: {lower(load_spec(name + '_pycls')).params:,}" if name + "_pycls.yaml" in {
            p.name for p in (REPO / "archspec" / "specs").glob("*_pycls.yaml")} else "the same network"  # fmt: skip
        lines.append(f"| `{name}` | {stages} | {TORCHVISION_PARAMS[name]:,} | {cost.params:,} | {cost.macs:,} "
                     f"| {pycls} |")  # fmt: skip
    return "\n".join([*lines, "", END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/complexity.md's table is stale")
    args = parser.parse_args(argv)
    return update(DOC, START, END, render, args.check, "python tools/regnet_table.py")


if __name__ == "__main__":
    raise SystemExit(main())
