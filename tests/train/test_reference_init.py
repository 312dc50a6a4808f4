"""Reference initialisation (recipe `init:`): each kind draws from the distribution its reference draws from.

The checks are statistical on layers with tens of thousands of weights: the sample standard deviation
within 3% of the intended one (its sampling error is about 0.3%), and the kurtosis telling a normal
draw (3) from a uniform one (1.8); fan_out and fan_in are told apart on a 1x1 conv whose widths differ.
"""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch

from archspec.arch.validate import load_spec, spec_from_text
from archspec.nn.build import build
from archspec.recipe.schema import InitKind
from archspec.train.init import INITS, init_weights


def kurtosis(x: torch.Tensor) -> float:
    x = x.flatten().double()
    centred = x - x.mean()
    return float((centred**4).mean() / (centred**2).mean() ** 2)


def initialised(name: str, kind: InitKind) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    spec = load_spec(name)
    torch.manual_seed(0)
    model = build(spec)
    init_weights(model, kind, spec)
    return model, model.state_dict()


def assert_normal(x: torch.Tensor, std: float) -> None:
    assert abs(float(x.mean())) < 0.05 * std
    assert float(x.std()) == pytest.approx(std, rel=0.03)
    assert kurtosis(x) == pytest.approx(3.0, abs=0.15)


def assert_uniform(x: torch.Tensor, bound: float) -> None:
    assert float(x.abs().max()) <= bound
    assert float(x.std()) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert kurtosis(x) == pytest.approx(1.8, abs=0.1)


def test_every_recipe_init_kind_has_an_implementation() -> None:
    assert set(INITS) == set(get_args(InitKind))


def test_torchvision_init_is_kaiming_normal_fan_out_with_unit_norms() -> None:
    model, state = initialised("resnet50", "torchvision")
    conv = state["stage2.0.main.conv3.weight"]  # 1x1, 128 -> 512: fan_out 512, fan_in 128
    assert_normal(conv, math.sqrt(2 / 512))
    assert_normal(state["stage3.1.main.conv2.weight"], math.sqrt(2 / (256 * 9)))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(bool((m.weight == 1).all()) and bool((m.bias == 0).all()) for m in norms)
    fc = state["head.fc.weight"]  # nn.Linear's own: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert_uniform(fc, 1 / math.sqrt(2048))


def test_timm_init_zeroes_the_last_norm_of_every_branch() -> None:
    _, state = initialised("resnet50", "timm")
    assert all(not state[f"stage{s}.{b}.main.norm3.weight"].any() for s, b in [(1, 0), (2, 3), (4, 2)])
    assert bool((state["stage1.0.main.norm2.weight"] == 1).all())
    assert bool((state["stage2.0.shortcut.norm.weight"] == 1).all())
    assert_normal(state["stage2.0.main.conv3.weight"], math.sqrt(2 / 512))
    _, basic = initialised("resnet18", "timm")
    assert not basic["stage3.1.main.norm2.weight"].any() and bool((basic["stage3.1.main.norm1.weight"] == 1).all())


def test_timm_init_of_a_preact_network_is_resnetv2s() -> None:
    _, state = initialised("resnetv2_50", "timm")
    assert_normal(state["head.fc.weight"], 0.01)
    assert not state["head.fc.bias"].any()
    assert_normal(state["stage1.0.main.conv3.weight"], math.sqrt(2 / 256))  # ResNetV2 zeroes nothing by default


def test_torchvision_init_of_a_regnet_draws_its_classifier_from_n_0_001() -> None:
    _, state = initialised("regnet_x_400mf", "torchvision")  # torchvision.models.regnet.RegNet.__init__
    assert_normal(state["head.fc.weight"], 0.01)
    assert not state["head.fc.bias"].any()
    assert_normal(state["stage4.0.main.conv1.weight"], math.sqrt(2 / 400))  # 1x1 conv to 400: fan_out 400


@pytest.mark.parametrize("kind", ["torchvision", "timm"])
def test_convnext_init_is_truncated_normal_002_in_both_references(kind: InitKind) -> None:
    _, state = initialised("convnext_tiny", kind)
    for name in ("stage3.4.main.fc1.weight", "stage4.0.main.fc2.weight", "head.fc.weight"):
        assert_normal(state[name], 0.02)
        assert float(state[name].abs().max()) <= 2.0  # trunc_normal_'s bounds, absolute: -2 and 2
    assert not state["stage3.4.main.fc1.bias"].any() and not state["stage2.downsample.conv.bias"].any()
    assert bool((state["stage2.downsample.norm.weight"] == 1).all())
    assert bool((state["stage1.0.main.layer_scale.weight"] == 1e-6).all())  # the spec's layer_scale, kept


def test_xavier_and_default_keep_their_distributions() -> None:
    _, state = initialised("resnet50", "xavier")
    fan_in, fan_out = 128, 512
    assert_uniform(state["stage2.0.main.conv3.weight"], math.sqrt(6 / (fan_in + fan_out)))
    _, default = initialised("resnet50", "default")  # PyTorch's kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in))
    assert_uniform(default["stage2.0.main.conv3.weight"], 1 / math.sqrt(fan_in))


@pytest.mark.parametrize("kind", get_args(InitKind))
def test_every_kind_keeps_the_specs_zero_init(kind: InitKind) -> None:
    """zero_init of the spec wins over the recipe: the last conv of a norm-free branch stays zero."""
    spec = spec_from_text(
        "{name: z, input: {channels: 1, height: 28, width: 28}, stem: {channels: 8, kernel_size: 3, stride: 1},"
        " block: {kind: basic, norm: none, zero_init: true}, stages: [{channels: 8, blocks: 2}],"
        " head: {num_classes: 10}}"
    )
    model = build(spec)
    init_weights(model, kind, spec)
    state = model.state_dict()
    assert not state["stage1.1.main.conv2.weight"].any() and state["stage1.1.main.conv1.weight"].any()
