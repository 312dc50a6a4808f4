"""Backbone features: build(spec, features=True) gives every stage's output."""

from __future__ import annotations

import torch
from hypothesis import given, settings

from archspec import build, load_spec, lower
from archspec.nn.build import Features
from archspec.testing import specs


def test_resnet50_features_have_the_documented_channels_and_reductions() -> None:
    backbone = build(load_spec("resnet50"), features=True)
    assert isinstance(backbone, Features)
    assert [(f["name"], f["channels"], f["reduction"]) for f in backbone.feature_info] == [
        ("stage1", 256, 4),
        ("stage2", 512, 8),
        ("stage3", 1024, 16),
        ("stage4", 2048, 32),
    ]
    out = backbone(torch.randn(1, 3, 64, 96))
    assert {name: tuple(t.shape) for name, t in out.items()} == {
        "stage1": (1, 256, 16, 24),
        "stage2": (1, 512, 8, 12),
        "stage3": (1, 1024, 4, 6),
        "stage4": (1, 2048, 2, 3),
    }


def test_output_stride_keeps_the_resolution_of_late_stages() -> None:
    backbone = build(load_spec("resnet18", ["output_stride=8"]), features=True)
    assert [f["reduction"] for f in backbone.feature_info] == [4, 8, 8, 8]
    out = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(t.shape[2:]) for t in out.values()] == [(16, 16), (8, 8), (8, 8), (8, 8)]


def test_a_classifier_state_dict_loads_into_the_backbone() -> None:
    spec = load_spec("cifar-resnet20")
    classifier, backbone = build(spec), build(spec, features=True)
    missing, unexpected = backbone.load_state_dict(classifier.state_dict(), strict=False)
    assert not missing and all(key.startswith("head.") for key in unexpected)


@settings(max_examples=25, deadline=None)
@given(specs(max_size=24))
def test_random_backbones_match_the_plan(spec) -> None:  # type: ignore[no-untyped-def]
    plan = lower(spec)
    backbone = build(spec, features=True).eval()
    out = backbone(torch.randn(1, spec.input.channels, spec.input.height, spec.input.width))
    assert list(out) == [stage.name for stage in plan.stages]
    for stage, info in zip(plan.stages, backbone.feature_info, strict=True):
        shape = stage.out_shape
        assert tuple(out[stage.name].shape) == (1, shape.channels, shape.height, shape.width)
        assert info["channels"] == shape.channels
