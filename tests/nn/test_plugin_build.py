"""A plugin primitive in the torch layer: with the example plugin (archspec-eca) installed, build() makes its
gate from the registered factory under the plan's names, the archspec weight layout maps its tensors, and
summary and trace show it."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugins import SPEC, install_example, python_with

BUILD = f"""
import torch
import archspec
from archspec.nn.layouts import key_map
from archspec.nn.summary import summarize, trace

spec = archspec.load_spec({str(SPEC)!r})
model = archspec.build(spec)
gate = model.get_submodule("stage2.0.main.eca")
assert type(gate).__module__ == "archspec_eca.nn" and gate.conv.weight.shape == (1, 1, 3), gate
state = model.state_dict()
pairs = {{pair.name: pair.reference for pair in key_map(spec, state, "archspec").require_complete().pairs}}
assert pairs["stage3.0.main.eca.conv.weight"] == "stage3.0.main.eca.conv.weight"
assert set(pairs) == set(state)
features = archspec.build(spec, features=True)(torch.randn(2, 1, 28, 28))
assert features["stage3"].shape == (2, 128, 7, 7)
assert "Eca (eca)" in summarize(model, spec, depth=4)
assert [row[0] for row in trace(model, spec)][:2] == ["stem", "stage1"]
print("ok")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example(tmp_path_factory)


def test_build_names_weights_and_summary_of_a_plugin_gate(site: Path) -> None:
    assert python_with(site, BUILD).stdout.strip() == "ok"
