"""The fast inference copy computes what the eager model computes."""

from __future__ import annotations

import pytest
import torch
from helpers import cli
from hypothesis import given, settings
from torch import nn

from archspec import ResNetSpec, build, load_spec
from archspec.arch.validate import with_input
from archspec.deploy.inference import optimize_for_inference
from archspec.nn.fold import fold_batchnorm
from archspec.testing import specs


def trained_looking(model: nn.Module) -> nn.Module:
    """Give every batch norm non-trivial statistics and affine parameters, as training would."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1, generator=generator)  # type: ignore[union-attr]
            module.running_var.uniform_(0.5, 2, generator=generator)  # type: ignore[union-attr]
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.uniform_(-0.5, 0.5, generator=generator)
    return model.eval()


@settings(max_examples=25, deadline=None)
@given(specs(max_size=24))
def test_folded_channels_last_model_equals_eager(spec: ResNetSpec) -> None:
    model = trained_looking(build(spec))
    x = torch.randn(3, spec.input.channels, spec.input.height, spec.input.width)
    fast = optimize_for_inference(model)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)


def test_folding_removes_every_conv_batchnorm_pair_and_keeps_module_paths() -> None:
    model = trained_looking(build(load_spec("resnet18")))
    names = [name for name, _ in model.named_modules()]
    folded = fold_batchnorm(build(load_spec("resnet18")).eval())
    assert [name for name, _ in folded.named_modules()] == names
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())


def test_original_model_is_untouched() -> None:
    model = trained_looking(build(load_spec("d2l-resnet18")))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimize_for_inference(model, bf16=True)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_bf16_copy_agrees_within_bf16_rounding() -> None:
    spec = with_input(load_spec("d2l-resnet18"), 1, 32, 32)
    model = trained_looking(build(spec))
    x = torch.randn(8, 1, 32, 32)
    with torch.inference_mode():
        reference, fast = model(x), optimize_for_inference(model, bf16=True)(x)
    assert fast.dtype == torch.float32
    torch.testing.assert_close(fast, reference, rtol=5e-2, atol=5e-2)
    assert (fast.argmax(1) == reference.argmax(1)).float().mean() >= 0.75


@pytest.mark.slow
def test_compiled_copy_equals_eager() -> None:
    spec = load_spec("cifar-resnet20")
    spec = with_input(spec, 3, 16, 16)
    model = trained_looking(build(spec))
    x = torch.randn(4, 3, 16, 16)
    fast = optimize_for_inference(model, compile=True)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_bench_command_prints_every_variant_with_ratios() -> None:
    done = cli("bench", "cifar-resnet20", "--batch-size", "4", "--seconds", "0.05", "--latency-runs", "10",
               "--input-size", "3", "16", "16", "--train")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "eager fp32" in done.stdout and "folded + channels_last" in done.stdout
    assert "1.00x" in done.stdout
    assert "training step (SGD):" in done.stdout
