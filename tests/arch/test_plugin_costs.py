"""A plugin primitive's analytic costs: the example plugin's ECA gate and blur pool (archspec-eca), on random
specs drawn by archspec.testing (its block and shortcut kinds and the field strategies it registers included),
have the parameters torchinfo counts and the MACs forward hooks count, layer by layer and for the whole network;
`archspec complexity` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugins import SPEC, install_example, python_with, run_with

PROPERTY = f"""
import torch, torchinfo
from hypothesis import given, settings, strategies as st
import archspec
from archspec.arch.complexity import complexity
from archspec.testing import specs, variants_of
from archspec.spec import kinds
from archspec.testing.properties import check_primitive, hook_macs

base = archspec.load_spec({str(SPEC)!r})
blurred = archspec.load_spec({str(SPEC)!r}, ["block.shortcut.kind=blur_conv_norm"])
drawn = {{"gates": 0, "blurs": 0, "kinds": set(), "kernels": set(), "own fields": 0}}
plugin_kinds = specs(max_stages=2).filter(lambda s: any(stage.block.kind.startswith("eca") for stage in s.stages))


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(st.one_of(variants_of(base, widths=(0.25, 1.0), sizes=(8, 28)), plugin_kinds, variants_of(blurred)))
def test(spec):
    plan = archspec.lower(spec)
    for path, layer in plan.layers():
        if kinds.primitive_kind(type(layer.op)).package == "archspec-eca":
            check_primitive(layer.op, layer.in_shape, where=path)  # torchinfo's params, hook-counted MACs
        if layer.op.op_name == "eca_gate":
            drawn["gates"] += 1
            drawn["kernels"].add(layer.op.kernel_size)
        drawn["blurs"] += layer.op.op_name == "blur_pool"
    drawn["kinds"].update(stage.block.kind for stage in spec.stages)
    eca = [stage.block.eca for stage in spec.stages if hasattr(stage.block, "eca")]
    drawn["own fields"] += any(gate.kernel_size is not None or gate.gamma != 2 for gate in eca)
    torch.manual_seed(0)
    model = archspec.build(spec).eval()
    x = torch.randn(2, spec.input.channels, spec.input.height, spec.input.width)
    report = complexity(spec)
    assert report.params == torchinfo.summary(model, input_data=x, verbose=0).total_params
    assert report.macs == hook_macs(model, x), (report.macs, hook_macs(model, x))


test()
assert drawn["gates"] > 25 and {{"eca_basic", "eca_bottleneck"}} <= drawn["kinds"], drawn
assert len(drawn["kernels"]) > 1 and drawn["own fields"], drawn  # adaptive k; the plugin's field strategies
assert drawn["blurs"] > 0, drawn  # the plugin's shortcut kind, drawn by specs() like archspec's own
print("ok", drawn["gates"])
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example(tmp_path_factory)


def test_gate_costs_equal_torchinfo_and_hook_counts_on_random_specs(site: Path) -> None:
    assert python_with(site, PROPERTY).stdout.startswith("ok")


def test_complexity_counts_the_gates(site: Path) -> None:
    (report,) = run_with(site, ["complexity", SPEC, "--format", "json"])
    import json

    layers = {layer["path"]: layer for layer in json.loads(report.stdout)["layers"]}
    gate = layers["stage3.0.main.eca"]  # 128 channels: k = odd(|(log2 128 + 1) / 2|) = 5
    assert (gate["op"], gate["params"], gate["macs"], gate["output"]) == ("eca_gate", 5, 5 * 128, [128, 7, 7])
    assert "torchinfo" not in gate  # the JSON report's documented keys only
