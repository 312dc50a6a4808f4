"""A faster weight gradient for convolutions on small feature maps: the same gradient, computed as a forward
convolution with the batch and channel axes swapped.

oneDNN's backward-weights kernel reduces over batch x output pixels; on the 3x3 and 6x6 maps at the end of a
ResNet that reduction is short and the kernel runs far below the machine's peak: on an AMX CPU in bf16,
d2l-resnet18's 512-channel 3x3 convolution took 18 ms for its weight gradient against 5 ms for its forward
pass. The identity

    dL/dW[o, i, a, b] = sum over n, y, x of  dL/dY[n, o, y, x] * X_padded[n, i, y*s + a, x*s + b]

is itself a convolution: of X with the batch as its channels (C_in, N, H, W), by dL/dY read as C_out filters
of N channels (C_out, N, OH, OW) dilated by the stride; the first (kh, kw) outputs are dW. On those small maps
it ran 1.4-7.8x faster for 3x3 kernels (docs/benchmarks.md, "Choosing precision and memory format"). The input
gradient stays oneDNN's. Whether to use it is training policy (runtime.resolve_conv_weight_grad); this module
only does it.

`swap_weight_grad` changes the class of eligible nn.Conv2d layers in place to `SmallMapConv2d`, a subclass
with no state of its own: parameters, state_dict keys, copies and the forward function are unchanged, and
outside training (eval mode or no gradients) it is exactly nn.Conv2d.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

SMALL_MAP_AREA = 36  # output pixels (6x6) up to which the swapped form was measured faster; 12x12 was 2.8x slower
MIN_KERNEL = 3  # 1x1 kernels (shortcuts, bottlenecks) were slower swapped


def weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int]) -> torch.Tensor:  # fmt: skip
    """dL/dW (C_out, C_in, kh, kw) of a zero-padded, undilated, ungrouped conv2d, as one forward convolution."""
    fmt = torch.channels_last
    by_channel = x.transpose(0, 1).contiguous(memory_format=fmt)  # (C_in, N, H, W)
    filters = grad_out.transpose(0, 1).contiguous(memory_format=fmt)  # (C_out, N, OH, OW)
    full = F.conv2d(by_channel, filters, padding=padding, dilation=stride)  # (C_in, C_out, >= kh, >= kw)
    return full[:, :, : kernel[0], : kernel[1]].transpose(0, 1)


class _SwappedConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, list(ctx.stride), list(ctx.padding), [1, 1], False, [0, 0], 1,
                [True, False, False],
            )[0]  # fmt: skip
        if need_w:
            grad_w = weight_grad(x, grad_out, (weight.shape[2], weight.shape[3]), ctx.stride, ctx.padding)
        if need_b and ctx.has_bias:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


class SmallMapConv2d(nn.Conv2d):
    """nn.Conv2d whose weight gradient is `weight_grad` when its output map has at most SMALL_MAP_AREA pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled() and self.weight.requires_grad and x.dim() == 4):
            return super().forward(x)
        stride, padding = self.stride, self.padding
        assert isinstance(padding, tuple)  # swap_weight_grad takes explicit paddings only
        out_h, out_w = ((x.shape[2 + i] + 2 * padding[i] - self.kernel_size[i]) // stride[i] + 1 for i in (0, 1))
        if out_h * out_w > SMALL_MAP_AREA:
            return super().forward(x)
        weight, bias = self.weight, self.bias
        device = x.device.type
        if torch.is_autocast_enabled(device):  # cast as autocast casts a convolution, then leave autocast out
            dtype = torch.get_autocast_dtype(device)
            x, weight = x.to(dtype), weight.to(dtype)
            bias = None if bias is None else bias.to(dtype)
        with torch.autocast(device, enabled=False):
            out: torch.Tensor = _SwappedConv2d.apply(x, weight, bias, stride, padding)  # type: ignore[no-untyped-call]
        return out


def swappable(module: nn.Module) -> bool:
    """An nn.Conv2d (not a subclass) that the identity covers (zero padding given as numbers, no dilation or
    groups) with a kernel of at least 3x3: for 1x1 kernels oneDNN's weight gradient is a plain matrix product,
    and the swapped form was slower (0.3-0.9x); 2x2 kernels were not measured and stay native."""
    return (
        type(module) is nn.Conv2d
        and min(module.kernel_size) >= MIN_KERNEL
        and module.groups == 1
        and module.dilation == (1, 1)
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)
    )


def swap_weight_grad(model: nn.Module) -> int:
    """Make every swappable convolution in `model` a SmallMapConv2d, in place; the number changed."""
    convs = [module for module in model.modules() if swappable(module)]
    for conv in convs:
        conv.__class__ = SmallMapConv2d
    return len(convs)
