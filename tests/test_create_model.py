"""archspec.create_model: a preset, file, YAML text or ResNetSpec to a torch model in one call, with the head,
input channels and any spec field set, and weights from a state dict in a named layout or a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC

import archspec
from archspec.errors import ArchspecError, SpecError


def test_fields_are_set_as_set_would() -> None:
    model = archspec.create_model("resnet18", num_classes=7, in_channels=1, width=0.25, **{"stages[1].blocks": 1})
    assert model.head.fc.out_features == 7 and model.stem.conv.in_channels == 1
    assert len(model.stage2) == 1 and model.stage1[0].main.conv1.out_channels == 16
    assert model.training


def test_a_spec_object_file_and_text_build_alike(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    spec = archspec.load_spec(TINY_SPEC)
    counts = {sum(p.numel() for p in archspec.create_model(source).parameters()) for source in (spec, path, TINY_SPEC)}
    assert counts == {archspec.lower(spec).params}


def test_weights_in_a_layout_load_and_a_new_head_stays_new(tmp_path: Path) -> None:
    source = archspec.create_model("resnet18", width=0.25)
    state = archspec.weights.export(source, archspec.load_spec("resnet18", ["width=0.25"]), "torchvision")
    torch.save(state, tmp_path / "tv.pth")
    model = archspec.create_model("resnet18", width=0.25, num_classes=3, weights=tmp_path / "tv.pth",
                                  layout="torchvision")  # fmt: skip
    assert torch.equal(model.stage3[1].main.conv2.weight, source.stage3[1].main.conv2.weight)
    assert model.head.fc.out_features == 3


def test_refusals() -> None:
    with pytest.raises(SpecError, match="width"):
        archspec.create_model("resnet18", width=-1)
    with pytest.raises(ArchspecError, match="weights="):
        archspec.create_model("resnet18", layout="torchvision")
