"""The swapped weight gradient (nn/conv_grad.py): the same gradients as nn.Conv2d's, the same module otherwise."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from archspec import build, load_spec
from archspec.arch.validate import with_input
from archspec.nn import conv_grad
from archspec.nn.conv_grad import SMALL_MAP_AREA, SmallMapConv2d, swap_weight_grad, weight_grad


@st.composite
def conv_cases(draw: st.DrawFn) -> tuple[nn.Conv2d, torch.Tensor]:
    kernel = (draw(st.integers(3, 5)), draw(st.integers(3, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = (draw(st.integers(kernel[0], 10)), draw(st.integers(kernel[1], 10)))
    conv = nn.Conv2d(draw(st.integers(1, 5)), draw(st.integers(1, 5)), kernel, stride, padding,
                     bias=draw(st.booleans())).double()  # fmt: skip
    x = torch.randn(draw(st.integers(1, 3)), conv.in_channels, *size, dtype=torch.float64)
    return conv, x


@settings(max_examples=50, deadline=None)
@given(conv_cases(), st.booleans())
def test_gradients_equal_the_native_ones_for_any_kernel_stride_padding_and_bias(
    case: tuple[nn.Conv2d, torch.Tensor], channels_last: bool
) -> None:
    conv, x = case
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)  # type: ignore[call-overload]
    swapped = copy.deepcopy(conv)
    assert swap_weight_grad(swapped) == 1
    grads = []
    for module in (conv, swapped):
        leaf = x.clone().requires_grad_(True)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(conv_grad, "SMALL_MAP_AREA", 10**6)  # every case through the swapped form
            out = module(leaf)
        assert (type(out.grad_fn).__name__ == "_SwappedConv2dBackward") == (module is swapped)
        (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out).sin()).sum().backward()
        grads.append([leaf.grad, module.weight.grad, None if module.bias is None else module.bias.grad])
    for native, ours in zip(*grads, strict=True):
        if native is None:
            assert ours is None
        else:
            torch.testing.assert_close(ours, native, rtol=1e-10, atol=1e-10)


def test_weight_grad_is_the_native_weight_gradient_with_the_stride_dilating_the_filters() -> None:
    torch.manual_seed(0)
    x, w = torch.randn(4, 3, 7, 6, dtype=torch.float64), torch.randn(5, 3, 3, 2, dtype=torch.float64)
    grad_out = torch.randn_like(F.conv2d(x, w, stride=(2, 3), padding=(1, 0)))
    native = torch.ops.aten.convolution_backward(grad_out, x, w, None, [2, 3], [1, 0], [1, 1], False, [0, 0], 1,
                                                 [False, True, False])[1]  # fmt: skip
    torch.testing.assert_close(weight_grad(x, grad_out, (3, 2), (2, 3), (1, 0)), native)


def test_bf16_autocast_gradients_match_the_native_kernel_within_bf16_rounding() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 32, 3, padding=1).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    swapped = copy.deepcopy(conv)
    swap_weight_grad(swapped)
    x = torch.randn(8, 64, 6, 6).contiguous(memory_format=torch.channels_last)
    outs = []
    for module in (conv, swapped):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(x)
        outs.append(out)
        out.float().square().sum().backward()
    assert outs[1].dtype == outs[0].dtype == torch.bfloat16
    torch.testing.assert_close(outs[1], outs[0])
    assert swapped.weight.grad is not None and conv.weight.grad is not None
    assert swapped.weight.grad.dtype == torch.float32  # the gradient reaches the fp32 weight through the cast
    scale = conv.weight.grad.abs().max()
    assert (swapped.weight.grad - conv.weight.grad).abs().max() <= 0.02 * scale


def test_only_plain_ungrouped_undilated_convs_change_and_the_network_stays_the_same_function() -> None:
    spec = with_input(load_spec("fashion-resnet"), 1, 28, 28)
    torch.manual_seed(0)
    model = build(spec)
    before = copy.deepcopy(model)
    convs = [m for m in model.modules() if type(m) is nn.Conv2d and m.kernel_size == (3, 3)]
    odd = nn.Sequential(
        nn.Conv2d(4, 4, 3, groups=2),
        nn.Conv2d(4, 4, 3, dilation=2),
        nn.Conv2d(4, 4, 3, padding="same"),
        nn.Conv2d(4, 4, 1),
    )
    assert swap_weight_grad(model) == len(convs) > 0
    assert swap_weight_grad(odd) == 0 and all(type(m) is nn.Conv2d for m in odd)
    assert all(type(m) is SmallMapConv2d for m in convs)
    assert list(model.state_dict()) == list(before.state_dict())
    x = torch.randn(3, 1, 28, 28)
    model.eval(), before.eval()
    torch.testing.assert_close(model(x), before(x))
    model.train(), before.train()
    torch.testing.assert_close(model(x), before(x))


def test_maps_over_the_area_and_eval_or_no_grad_take_nn_conv2d_itself() -> None:
    conv = nn.Conv2d(2, 2, 3, padding=1)
    swap_weight_grad(conv)
    side = int(SMALL_MAP_AREA**0.5)
    assert type(conv(torch.randn(1, 2, side, side)).grad_fn).__name__ == "_SwappedConv2dBackward"
    assert type(conv(torch.randn(1, 2, side + 1, side + 1)).grad_fn).__name__ != "_SwappedConv2dBackward"
    with torch.no_grad():
        assert conv(torch.randn(1, 2, side, side)).grad_fn is None
    conv.eval()
    assert type(conv(torch.randn(1, 2, side, side)).grad_fn).__name__ != "_SwappedConv2dBackward"
