"""The analytic cost report agrees with torchinfo and with what autograd really keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchinfo
from helpers import buildable_presets
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from archspec import ResNetSpec, ResourceError, build, load_spec
from archspec.arch.complexity import complexity, totals
from archspec.arch.guard import Limits, check, parse_count
from archspec.arch.validate import spec_from_text, with_input
from archspec.testing import specs


def torchinfo_figures(model: nn.Module, spec: ResNetSpec, batch: int) -> tuple[int, int]:
    size = (batch, spec.input.channels, spec.input.height, spec.input.width)
    stats = torchinfo.summary(model, input_size=size, verbose=0, device="cpu")
    return stats.total_params, stats.total_mult_adds


def saved_tensor_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter tensors autograd keeps for backward."""
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(kept.values())


@pytest.mark.parametrize("name", buildable_presets())  # bigger ones: test_build's meta-device count
def test_presets_agree_with_torchinfo(name: str) -> None:
    spec = load_spec(name)
    spec = with_input(spec, spec.input.channels, 64, 64)  # the same rules as at 224, at a twelfth of the work
    report = complexity(spec)
    params, mult_adds = torchinfo_figures(build(spec), spec, batch=1)
    assert report.params == params
    assert report.torchinfo_mult_adds == mult_adds


@settings(max_examples=25, deadline=None)
@given(specs(), st.integers(1, 3))
def test_random_specs_agree_with_torchinfo_and_autograd(spec: ResNetSpec, st_batch: int) -> None:
    batch = st_batch + 1  # batch norm in training needs more than one value per channel
    model = build(spec).train()
    report = complexity(spec, batch_size=batch)
    params, mult_adds = torchinfo_figures(model, spec, batch)
    assert (report.params, report.torchinfo_mult_adds) == (params, mult_adds)
    x = torch.randn(batch, spec.input.channels, spec.input.height, spec.input.width)
    assert report.activation_bytes == saved_tensor_bytes(model, x)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_a_linear_after_a_permute_saves_its_own_copy(activation: str) -> None:
    # hypothesis found it: an in-place ReLU on the permuted view saves that view, and F.linear then saves a
    # contiguous copy of it beside (one tensor more than counting the view once)
    spec = spec_from_text(f"""
name: permuted
input: {{channels: 1, height: 7, width: 7}}
stem: {{channels: 4, kernel_size: 1, stride: 1, padding: 0, pool: null}}
block: {{kind: convnext, norm: none, kernel_size: 3, mlp_ratio: 1, activations: every, channels_last: true,
        activation: {activation}, layer_scale: null}}
stages: [{{channels: 4, blocks: 1, stride: 1}}]
head: {{pool: avg, num_classes: 1}}
""")
    x = torch.randn(2, 1, 7, 7)
    assert complexity(spec, batch_size=2).activation_bytes == saved_tensor_bytes(build(spec).train(), x)


@pytest.mark.parametrize("name", ["d2l-resnet18", "resnet50"])
def test_activation_memory_of_presets_matches_autograd(name: str) -> None:
    spec = load_spec(name)
    spec = with_input(spec, spec.input.channels, 64, 64)
    x = torch.randn(2, spec.input.channels, 64, 64)
    assert complexity(spec, batch_size=2).activation_bytes == saved_tensor_bytes(build(spec).train(), x)


def test_macs_are_weights_only_and_flops_are_twice() -> None:
    report = complexity(load_spec("resnet50"))
    assert report.macs == 4_089_184_256  # the widely quoted "4.1 GMACs" of ResNet-50
    assert report.flops == 2 * report.macs
    assert (
        report.torchinfo_mult_adds - report.macs
        == sum(layer.params for layer in report.layers if layer.op == "norm") + 1000
    )  # torchinfo adds BN parameters and the classifier bias


def test_stage_figures_add_up_and_follow_the_strides() -> None:
    report = complexity(load_spec("resnet18"))
    assert [s.name for s in report.stages] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert sum(s.params for s in report.stages) == report.params
    assert sum(s.macs for s in report.stages) == report.macs
    assert [s.stride for s in report.stages] == [4, 4, 8, 16, 32, 32]
    assert report.stages[4].receptive_field == 435  # ResNet-18's well-known theoretical receptive field
    assert report.stages[4].output == (512, 7, 7)


def test_input_size_override_scales_the_shapes() -> None:
    small = complexity(load_spec("resnet18"), input_size=(3, 112, 112))
    assert small.stages[4].output == (512, 4, 4)
    assert small.params == complexity(load_spec("resnet18")).params


def test_warnings_for_collapsed_and_odd_feature_maps() -> None:
    report = complexity(load_spec("d2l-resnet18"), input_size=(1, 28, 28))
    assert any("stages[3] (stage4): feature map is 1x1" in w for w in report.warnings)
    assert any("stages[1] (stage2): 7x7 is not divisible by its stride 2" in w for w in report.warnings)
    assert complexity(load_spec("d2l-resnet18")).warnings == ()


def test_json_report_has_the_documented_shape() -> None:
    data = complexity(load_spec("d2l-resnet18")).to_json()
    assert set(data["total"]) >= {"params", "macs", "flops", "activation_bytes"}
    assert data["total"]["params"] == 11_178_378
    assert [stage["name"] for stage in data["stages"]][:2] == ["stem", "stage1"]
    first = data["layers"][0]
    assert first["path"] == "stem.conv" and first["op"] == "conv" and first["output"] == [64, 48, 48]
    assert {"params", "macs", "flops", "other_ops", "activation_bytes"} <= set(first)
    assert json.loads(json.dumps(data)) == data
    documented = (Path(__file__).parents[2] / "docs" / "complexity.md").read_text()
    for key in [*data, *data["total"], *first, *data["stages"][0]]:
        assert f"`{key}`" in documented, f"docs/complexity.md does not document `{key}`"


HUGE = """\
name: huge
input: {channels: 3, height: 224, width: 224}
stem: {channels: 64}
block: {kind: basic}
stages:
  - {channels: 40000, blocks: 1, stride: 2}
  - {channels: 10000, blocks: 1, stride: 2}
head: {num_classes: 1000}
"""


def test_guard_refuses_huge_specs_and_admits_resnet152() -> None:
    check(complexity(load_spec("resnet152")))
    with pytest.raises(ResourceError, match=r"19,335,910,536 parameters exceeds the limit of 2,000,000,000; raise it"):
        build(spec_from_text(HUGE), limits=Limits())
    with pytest.raises(ResourceError, match="bytes of activations for the batch exceeds"):
        check(complexity(load_spec("resnet152"), batch_size=1024))
    check(complexity(spec_from_text(HUGE)), Limits(params=10**11, macs=10**14))
    # arch only computes: a Limits made in Python is refused in neutral words, naming no flag or variable
    with pytest.raises(ResourceError, match=r"limit of 10; raise it with a higher Limits\(params=\.\.\.\)$"):
        check(complexity(load_spec("resnet18")), Limits(params=10))


def test_counts_take_units() -> None:
    assert parse_count("16GiB", "x") == 16 << 30


def test_refusal_happens_before_torch_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(HUGE)
    code = (
        "import sys\nfrom archspec.cli import main\ncode = main(['summary', sys.argv[1]])\n"
        "sys.exit(10 + code if 'torch' in sys.modules else code)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr  # refused, and torch never imported (that would be 12)
    assert "--max-params or ARCHSPEC_MAX_PARAMS" in done.stderr


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ResourceError, match="at least 1"):
        parse_count("0.5", "--max-params")


def test_diff_tells_null_from_absent() -> None:
    from archspec.report import diff_report

    text = diff_report(load_spec("resnet50"), load_spec("seresnet50"))
    assert "block.squeeze_excite: null -> {ratio: 0.0625, divisor: 8}" in text  # null, not absent


def test_per_image_and_per_batch_figures_by_name() -> None:
    """`macs` is the batch's total (issue 22: the README said "totals" without saying of what); both are named."""
    spec = load_spec("cifar-resnet20")
    one, eight = complexity(spec, batch_size=1), complexity(spec, batch_size=8)
    assert eight.macs == eight.macs_per_batch == 8 * one.macs
    assert eight.macs_per_image == one.macs == one.macs_per_batch
    assert eight.flops_per_image == 2 * one.macs and eight.flops_per_batch == eight.flops
    assert eight.activation_bytes_per_batch == eight.activation_bytes and eight.params == one.params
    assert totals(spec, batch_size=8).macs_per_image == one.macs
