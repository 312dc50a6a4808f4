"""Building torch models: the seed network exactly, every preset, random specs."""

from __future__ import annotations

import pytest
import torch
from helpers import buildable_presets
from torch import nn
from torch.nn import functional as F

from archspec import build, load_spec, lower, preset_names
from archspec.arch.plan import Shape
from archspec.arch.validate import with_input


class D2LResidual(nn.Module):
    """The seed's `Residual`, written as in d2l (the reference, not archspec code)."""

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        y += x
        return F.relu(y)


def d2l_resnet18() -> nn.Sequential:
    def resnet_block(input_channels: int, num_channels: int, num_residuals: int, first_block: bool = False):
        return [
            D2LResidual(input_channels, num_channels, use_1x1conv=True, strides=2)
            if i == 0 and not first_block
            else D2LResidual(num_channels, num_channels)
            for i in range(num_residuals)
        ]

    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))  # fmt: skip
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(b1, b2, b3, b4, b5, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, 10))


def _d2l_key_to_archspec(key: str) -> str:
    """Map the seed's state_dict names onto archspec's module names."""
    part, rest = key.split(".", 1)
    if part == "0":
        index, name = rest.split(".", 1)
        return {"0": "stem.conv.", "1": "stem.norm."}[index] + name
    if part == "7":
        return "head.fc." + rest
    block, layer, name = rest.split(".")
    new = {"conv1": "main.conv1", "bn1": "main.norm1", "conv2": "main.conv2", "bn2": "main.norm2",
           "conv3": "shortcut.conv"}[layer]  # fmt: skip
    return f"stage{int(part)}.{block}.{new}.{name}"


def test_seed_network_is_reproduced_exactly() -> None:
    torch.manual_seed(0)
    reference = d2l_resnet18()
    model = build(load_spec("d2l-resnet18"))
    assert sum(p.numel() for p in reference.parameters()) == 11_178_378
    mapped = {_d2l_key_to_archspec(k): v for k, v in reference.state_dict().items()}
    model.load_state_dict(mapped, strict=True)  # same tensors, same shapes, nothing left over
    x = torch.randn(4, 1, 96, 96)
    for train in (True, False):
        reference.train(train)
        model.train(train)
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_seed_shapes_at_224_match_d2l_in_the_plan_and_the_model() -> None:
    spec = with_input(load_spec("d2l-resnet18"), 1, 224, 224)
    plan = lower(spec)
    assert plan.stem[-1].out_shape == Shape(64, 56, 56)
    assert [stage.out_shape for stage in plan.stages] == [
        Shape(64, 56, 56), Shape(128, 28, 28), Shape(256, 14, 14), Shape(512, 7, 7),
    ]  # fmt: skip
    assert [layer.out_shape for layer in plan.head] == [Shape(512, 1, 1), Shape(512), Shape(10)]
    model = build(spec)
    x = torch.rand(1, 1, 224, 224)
    shapes = []
    for name, part in model.named_children():
        for child in part.children() if name == "head" else [part]:
            x = child(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 56, 56), (64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7), (512, 1, 1), (512,), (10,)]


def test_model_is_a_plain_sequential_with_named_parts() -> None:
    model = build(load_spec("resnet18"))
    assert isinstance(model, nn.Sequential)
    assert [name for name, _ in model.named_children()] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]


@pytest.mark.parametrize("name", sorted(set(preset_names()) - set(buildable_presets())))
def test_a_preset_too_big_to_build_here_has_its_plans_parameters_on_the_meta_device(name: str) -> None:
    spec = load_spec(name)
    with torch.device("meta"):
        model = build(spec)
    assert sum(p.numel() for p in model.parameters()) == lower(spec).params


@pytest.mark.parametrize("name", buildable_presets())
def test_every_preset_trains_one_step_with_finite_values(name: str) -> None:
    spec = load_spec(name)
    spec = with_input(spec, spec.input.channels, 32, 32)  # small input: the point is the graph, not the size
    model = build(spec)
    assert sum(p.numel() for p in model.parameters()) == lower(spec).params, "a kind's lowering and its module drifted"
    x = torch.randn(2, spec.input.channels, 32, 32)
    out = model(x)
    assert out.shape == (2, spec.head.num_classes)
    out.logsumexp(dim=1).mean().backward()
    assert torch.isfinite(out).all()
    for param in model.parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all()


def test_build_is_pure() -> None:
    spec = load_spec("resnet18")
    a, b = build(spec), build(spec)
    assert a is not b
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
