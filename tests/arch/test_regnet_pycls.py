"""`archspec complexity` reproduces pycls's published RegNet figures (dev/model_complexity.json) for every size of
the paper: parameters exactly, flops up to the conv and linear bias terms that archspec's MACs leave out.

tests/arch/pycls_regnet.json holds pycls's design numbers and figures; tools/regnet_table.py turns the same
comparison into docs/complexity.md's table, which must be up to date.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from archspec import complexity, load_spec

ROOT = Path(__file__).resolve().parents[2]
MODELS: list[dict[str, Any]] = json.loads((Path(__file__).with_name("pycls_regnet.json")).read_text())["models"]


def table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regnet_table", ROOT / "tools" / "regnet_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", MODELS, ids=[m["name"] for m in MODELS])
def test_pycls_figures_are_reproduced(model: dict[str, Any]) -> None:
    tool = table()
    spec = load_spec(tool.spec_text(model))
    cost = complexity(spec)
    assert cost.params == model["params"], f"{model['name']}: {cost.params:,} parameters, pycls {model['params']:,}"
    assert cost.macs + tool.bias_terms(spec) == model["flops"], (
        f"{model['name']}: {cost.macs:,} MACs + {tool.bias_terms(spec):,} bias terms, pycls {model['flops']:,} flops"
    )


def test_the_paper_has_twelve_sizes_of_each() -> None:
    assert [m["name"] for m in MODELS if not m["se"]] == [m["name"].replace("Y", "X") for m in MODELS if m["se"]]
    assert len(MODELS) == 24


def test_the_docs_table_is_current() -> None:
    assert table().main(["--check"]) == 0, "docs/complexity.md is stale: run python tools/regnet_table.py"
