"""archspec.weights: reading weight files safely, loading them by layout, adapting, exporting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import archspec
from archspec.arch.validate import load_spec, spec_from_text
from archspec.errors import CheckpointError
from archspec.nn.build import build
from archspec.nn.layouts import LayoutError
from archspec.nn.weights import adapt_input_conv, export, load, read_state_dict, save_state_dict

TINY = "{name: tiny, input: {channels: %d, height: 28, width: 28}, stem: {channels: 8, kernel_size: 3, stride: 1},\
 block: {kind: basic}, stages: [{channels: 8, blocks: 1}, {channels: 16, blocks: 1, stride: 2}],\
 head: {num_classes: %d}}"


def tiny(channels: int = 1, classes: int = 10) -> archspec.ResNetSpec:
    return spec_from_text(TINY % (channels, classes))


def model_of(spec: archspec.ResNetSpec, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build(spec)


def test_archspec_weights_is_the_public_api() -> None:
    assert archspec.weights.load is load and "weights" in archspec.__all__


def test_torchvision_state_dict_loads_and_exports_unchanged(tmp_path: Path) -> None:
    spec = tiny()
    source = export(model_of(spec, 1), spec, "torchvision")
    path = tmp_path / "tv.pth"
    save_state_dict(source, path)
    model = model_of(spec, 2)
    report = load(model, read_state_dict(path), spec, "torchvision", strict=True)
    assert len(report.loaded) == len(source) and not report.missing and not report.skipped
    back = export(model, spec, "torchvision")
    assert list(back) == list(source)
    assert all(torch.equal(back[key], source[key]) and back[key].dtype == source[key].dtype for key in source)


def test_safetensors_and_wrapped_checkpoints_read_as_state_dicts(tmp_path: Path) -> None:
    state = {"conv1.weight": torch.randn(2, 3, 1, 1), "fc.bias": torch.zeros(2)}
    save_file(state, tmp_path / "w.safetensors")
    assert read_state_dict(tmp_path / "w.safetensors").keys() == state.keys()
    torch.save({"state_dict": state, "epoch": 3, "arch": "resnet"}, tmp_path / "timm-train.pth")
    assert read_state_dict(tmp_path / "timm-train.pth").keys() == state.keys()
    torch.save({f"module.{key}": value for key, value in state.items()}, tmp_path / "ddp.pth")
    assert read_state_dict(tmp_path / "ddp.pth").keys() == state.keys()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ([1, 2, 3], "not a state dict (a mapping of tensor names to tensors): holds a list"),
        ({"weight": torch.ones(1), "note": "hello"}, "entry 'note' is a str"),
        ({}, "holds an empty mapping"),
    ],
)
def test_what_is_not_a_state_dict_is_named(tmp_path: Path, content: object, fragment: str) -> None:
    path = tmp_path / "x.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=f"^{path}: ") as caught:
        read_state_dict(path)
    assert fragment in str(caught.value)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.ones(1), "x": _Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="refused: unpickling it would run code") as caught:
        read_state_dict(path)
    assert "weights_only=False" not in str(caught.value) and not marker.exists()


def test_truncated_safetensors_and_garbage_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"a": torch.randn(100, 100)}, path)
    path.write_bytes(path.read_bytes()[:20_000])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        read_state_dict(path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"PK\x03\x04 certainly not a zip")
    with pytest.raises(CheckpointError, match=r"not a readable torch\.save file") as caught:
        read_state_dict(junk)
    assert "\n" not in str(caught.value)


def test_first_shape_mismatch_is_named_and_the_model_is_left_untouched() -> None:
    spec, wider = tiny(), spec_from_text((TINY % (1, 10)).replace("{channels: 16", "{channels: 24"))
    state = export(model_of(wider, 1), wider, "torchvision")
    model = model_of(spec, 2)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"layer2\.0\.conv1\.weight has shape \(24, 8, 3, 3\), but tiny needs "
                       r"\(16, 8, 3, 3\) there \(stage2\.0\.main\.conv1\.weight, torchvision layout\)"):  # fmt: skip
        load(model, state, spec, "torchvision")
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())


def test_strict_load_refuses_missing_and_extra_tensors() -> None:
    spec = tiny()
    state = export(model_of(spec, 1), spec, "torchvision")
    with pytest.raises(CheckpointError, match=r"lacks layer2\.0\.bn2\.bias \(stage2\.0\.main\.norm2\.bias of tiny"):
        load(model_of(spec, 2), {k: v for k, v in state.items() if k != "layer2.0.bn2.bias"}, spec, "torchvision",
             strict=True)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"layer3\.0\.conv1\.weight has no place in tiny .* another architecture"):
        load(model_of(spec, 2), {**state, "layer3.0.conv1.weight": torch.ones(1)}, spec, "torchvision", strict=True)
    # not strict: the same files load what they can and say what they left
    report = load(model_of(spec, 2), {**state, "layer3.0.conv1.weight": torch.ones(1)}, spec, "torchvision")
    assert report.skipped == ("layer3.0.conv1.weight",)


def test_a_state_dict_of_another_layout_or_network_is_refused() -> None:
    spec = tiny()
    d2l_names = {"0.0.weight": torch.ones(8, 1, 3, 3), "7.bias": torch.ones(10)}
    with pytest.raises(CheckpointError, match=r"no tensor fits tiny in the torchvision layout .* another --layout"):
        load(model_of(spec, 2), d2l_names, spec, "torchvision")


def test_a_layout_that_does_not_fit_is_one_line() -> None:
    spec = load_spec("resnet18d")
    with pytest.raises(LayoutError, match=r"^resnet18d: stem\.conv1 \(3x3 conv\) has no counterpart in the d2l"):
        export(build(spec), spec, "d2l")


def test_first_conv_adapts_to_other_input_channels_as_timm_does() -> None:
    rgb = torch.randn(8, 3, 3, 3)
    grey = torch.rand(1, 1, 6, 6)
    # RGB -> 1: a grey image as equal R, G, B gives the same response as the summed kernel on the grey image
    one = adapt_input_conv(rgb, 1)
    torch.testing.assert_close(torch.conv2d(grey, one), torch.conv2d(grey.expand(1, 3, 6, 6), rgb))
    # 1 -> 3: a grey image copied into three channels gives the same response as the single-channel kernel
    mono = torch.randn(8, 1, 3, 3)
    three = adapt_input_conv(mono, 3)
    torch.testing.assert_close(torch.conv2d(grey.expand(1, 3, 6, 6), three), torch.conv2d(grey, mono))
    # 3 -> 4 (timm: repeat, cut, scale by 3/4)
    four = adapt_input_conv(rgb, 4)
    torch.testing.assert_close(four, torch.cat([rgb, rgb[:, :1]], 1) * 0.75)


def test_fine_tuning_load_adapts_the_stem_and_renews_another_head() -> None:
    source_spec, target_spec = tiny(3, 1000), tiny(1, 10)
    source = model_of(source_spec, 1).state_dict()
    model = model_of(target_spec, 2)
    head_before = model.state_dict()["head.fc.weight"].clone()
    report = load(model, source, target_spec, adapt=True)
    assert report.adapted == ("stem.conv.weight",)
    assert report.missing == ("head.fc.weight", "head.fc.bias")
    assert len(report.loaded) == len(source) - 3 and not report.skipped
    state = model.state_dict()
    torch.testing.assert_close(state["stem.conv.weight"], source["stem.conv.weight"].sum(1, keepdim=True))
    assert torch.equal(state["stage2.0.main.conv2.weight"], source["stage2.0.main.conv2.weight"])
    assert torch.equal(state["head.fc.weight"], head_before)
    with pytest.raises(CheckpointError, match=r"stem\.conv\.weight has shape"):  # without adapt: an error
        load(model_of(target_spec, 2), source, target_spec)
