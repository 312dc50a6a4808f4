"""Plan primitives: the layers a plan is made of. Each owns every rule about itself.

Pure Python, no torch. A primitive knows its output shape (`out_shape`), parameters (`params`),
multiply-accumulates (`macs`, per sample: convolution and linear weights only, squeeze-excitation's
gate included), other element operations (`other_ops`), what autograd keeps of it for the backward pass
(`kept`), and how it widens the receptive field (`receptive`). The plan, the complexity report and the
torch builder read these; none of them re-derives a rule or branches on the primitive's type.

Each primitive is registered in the kinds registry (archspec/spec/kinds.py, as a plugin's primitive is) with
the function of archspec/nn/layers.py that makes its torch module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from archspec.spec.kinds import ARCHSPEC, primitive_kind, register_primitive

FP32_BYTES = 4
INDEX_BYTES = 8  # max-pool indices are int64
MASK_BYTES = 4  # dropout keeps a float mask on the CPU


@dataclass(frozen=True)
class Shape:
    """Shape of one sample: channels x height x width (height = width = 1 after flattening)."""

    channels: int
    height: int = 1
    width: int = 1

    @property
    def numel(self) -> int:
        return self.channels * self.height * self.width

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


class Kept(NamedTuple):
    """What PyTorch's autograd keeps of one primitive for backward, in fp32 training on the CPU."""

    saves_input: bool = False
    saves_output: bool = False
    bytes_per_sample: int = 0  # extra tensors kept per sample (masks, indices, statistics)
    fixed_bytes: int = 0  # extra tensors kept once per batch (batch norm's per-channel statistics)
    view: bool = False  # the output is a view of the input (no new tensor)
    in_place: bool = False  # runs in place where allowed (ReLU): the output is the input tensor
    keeps_strides: bool = False  # an elementwise op: its new output is laid out as its input (permuted or not)
    permutes: bool | None = None  # Permute: the output is a permuted, non-contiguous view (True) or not (False)
    copies_strided_input: bool = False  # saves its input as a matrix: a copy of it where the input is permuted


class Primitive:
    """Defaults: no parameters, no mult-adds, shape unchanged, one element op per output value, nothing kept."""

    params = 0
    op_name = ""

    def out_shape(self, shape: Shape) -> Shape:
        return shape

    def window(self) -> str:
        """Kernel, padding and stride, for the message when a feature map would shrink below 1x1."""
        return ""

    def macs(self, out: Shape) -> int:
        return 0

    def other_ops(self, out: Shape) -> int:
        return out.numel

    def kept(self, out: Shape) -> Kept:
        return Kept()

    def receptive(self, size: int, jump: int) -> tuple[int, int]:
        """(receptive field, cumulative stride) after this primitive, given them before it."""
        return size, jump

    def torchinfo_mult_adds(self, out: Shape) -> int:
        """What torchinfo (1.8) counts as this layer's mult-adds per sample: (weight + bias elements) x output
        positions for a convolution module, the parameter count for any other module with parameters."""
        return self.params

    def label(self) -> str:
        """The primitive in a few words for a picture of the network (archspec draw): `conv 3x3/2 64→128`,
        `batch norm`, `relu`. A plugin's primitive that says nothing of itself: its name and package."""
        kind = primitive_kind(type(self))
        if kind is not None and kind.package != ARCHSPEC:
            return f"{kind.name} ({kind.package})"
        return type(self).__name__.lower()

    def noun(self) -> str:
        """What its module is, for messages about weights: '3x3 conv', 'batch norm', 'squeeze-excite gate'."""
        kind = primitive_kind(type(self))
        if kind is not None and kind.package != ARCHSPEC:
            return f"{kind.name}, a primitive of the plugin {kind.package}"
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Conv(Primitive):
    """A 2D convolution (grouped, dilated, with or without a bias)."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    bias: bool = False
    groups: int = 1
    dilation: int = 1
    zero_init: bool = False  # weight (and bias) start at zero: the last layer of a zero-init residual branch
    op_name = "conv"

    def out_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.dilation * (self.kernel_size - 1) - 1) // self.stride + 1

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(self.out_channels, self.out_size(shape.height), self.out_size(shape.width))

    def window(self) -> str:
        return f"kernel {self.kernel_size}, padding {self.padding}, stride {self.stride}"

    @property
    def params(self) -> int:  # type: ignore[override]
        weight = self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2
        return weight + (self.out_channels if self.bias else 0)

    def macs(self, out: Shape) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2 * out.height * out.width

    def other_ops(self, out: Shape) -> int:
        return out.numel if self.bias else 0

    def kept(self, out: Shape) -> Kept:
        return Kept(saves_input=True)

    def receptive(self, size: int, jump: int) -> tuple[int, int]:
        return size + self.dilation * (self.kernel_size - 1) * jump, jump * self.stride

    def torchinfo_mult_adds(self, out: Shape) -> int:
        return self.params * out.height * out.width

    def label(self) -> str:
        stride = f"/{self.stride}" if self.stride > 1 else ""
        extra = (f", groups {self.groups}" if self.groups > 1 else "") + (
            f", dilation {self.dilation}" if self.dilation > 1 else "")  # fmt: skip
        return f"conv {self.kernel_size}x{self.kernel_size}{stride} {self.in_channels}→{self.out_channels}{extra}"

    def noun(self) -> str:
        return f"{self.kernel_size}x{self.kernel_size} conv" + (" with bias" if self.bias else "")


@dataclass(frozen=True)
class Norm(Primitive):
    """Batch, group or layer normalisation with an affine weight and bias.

    Layer norm normalises each position over its channels (ConvNeXt's, eps 1e-6): on a channels-first tensor
    (`channels_last` False: LayerNorm2d, as torchvision's and timm's stems and downsampling layers), or on a
    channels-last one (`nn.LayerNorm`, inside a ConvNeXt block between its permutes).
    """

    kind: str  # "batch", "group" or "layer"
    channels: int
    groups: int = 1  # group norm's groups; unused by batch norm
    zero_init: bool = False  # affine weight starts at zero: the last norm of a zero-init residual branch
    channels_last: bool = False  # layer norm only: the tensor is (N, H, W, C) here
    op_name = "norm"

    @property
    def params(self) -> int:  # type: ignore[override]
        return 2 * self.channels  # affine weight and bias; running stats are buffers

    def kept(self, out: Shape) -> Kept:
        # norms also keep their statistics: per sample and group (group), per position (layer), per channel (batch)
        if self.kind == "group":
            return Kept(saves_input=True, bytes_per_sample=2 * self.groups * FP32_BYTES)
        if self.kind == "layer":
            return Kept(saves_input=True, bytes_per_sample=2 * out.height * out.width * FP32_BYTES)
        return Kept(saves_input=True, fixed_bytes=2 * out.channels * FP32_BYTES)

    def label(self) -> str:
        return f"{self.kind} norm" + (f" ({self.groups} groups)" if self.kind == "group" else "")

    def noun(self) -> str:
        return f"{self.kind} norm"


@dataclass(frozen=True)
class Permute(Primitive):
    """(N, C, H, W) <-> (N, H, W, C): where a ConvNeXt block's layer norm and 1x1 layers run channels-last
    (torchvision's CNBlock `Permute`). The plan's shapes stay channels x height x width throughout."""

    channels_last: bool  # True: to (N, H, W, C); False: back to (N, C, H, W)
    op_name = "permute"

    def other_ops(self, out: Shape) -> int:
        return 0

    def kept(self, out: Shape) -> Kept:
        return Kept(view=True, permutes=self.channels_last)

    def label(self) -> str:
        return "to channels-last" if self.channels_last else "to channels-first"


@dataclass(frozen=True)
class LayerScale(Primitive):
    """x times a learnable per-channel gamma that starts at `init` (CaiT's layer scale, ConvNeXt's 1e-6)."""

    channels: int
    init: float
    op_name = "layerscale"

    @property
    def params(self) -> int:  # type: ignore[override]
        return self.channels

    def kept(self, out: Shape) -> Kept:
        return Kept(saves_input=True, keeps_strides=True)  # gamma's gradient needs x

    def label(self) -> str:
        return f"layer scale {self.channels} (init {self.init:g})"

    def noun(self) -> str:
        return "layer scale"


@dataclass(frozen=True)
class Act(Primitive):
    """An activation: ReLU (in place), SiLU or GELU."""

    kind: str
    op_name = "act"

    def kept(self, out: Shape) -> Kept:
        # ReLU runs in place and keeps its output; SiLU and GELU keep their input
        relu = self.kind == "relu"
        return Kept(saves_input=not relu, saves_output=relu, in_place=relu, keeps_strides=True)

    def label(self) -> str:
        return self.kind


@dataclass(frozen=True)
class Pool(Primitive):
    """Max or average pooling over a window."""

    kind: str
    kernel_size: int
    stride: int
    padding: int
    ceil_mode: bool = False  # ResNet-D's shortcut pool: keeps the last partial window, as a strided conv does
    op_name = "pool"

    def out_size(self, size: int) -> int:
        span = size + 2 * self.padding - self.kernel_size
        if not self.ceil_mode:
            return span // self.stride + 1
        out = math.ceil(span / self.stride) + 1
        # torch drops a last window that would start in the right padding
        return out - 1 if (out - 1) * self.stride >= size + self.padding else out

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(shape.channels, self.out_size(shape.height), self.out_size(shape.width))

    def window(self) -> str:
        return f"kernel {self.kernel_size}, padding {self.padding}, stride {self.stride}"

    def kept(self, out: Shape) -> Kept:  # max pools also keep their int64 indices
        return Kept(saves_input=True, bytes_per_sample=out.numel * INDEX_BYTES if self.kind == "max" else 0)

    def receptive(self, size: int, jump: int) -> tuple[int, int]:
        return size + (self.kernel_size - 1) * jump, jump * self.stride

    def label(self) -> str:
        return f"{self.kind} pool {self.kernel_size}x{self.kernel_size}/{self.stride}"

    def noun(self) -> str:
        return f"{self.kind} pool"


@dataclass(frozen=True)
class GlobalPool(Primitive):
    """Global average or max pooling to 1x1."""

    kind: str
    op_name = "global_pool"

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(shape.channels, 1, 1)

    def kept(self, out: Shape) -> Kept:
        if self.kind == "avg":  # a mean: backward needs only the shape
            return Kept()
        return Kept(saves_input=True, bytes_per_sample=out.numel * INDEX_BYTES)

    def label(self) -> str:
        return f"global {self.kind} pool"


@dataclass(frozen=True)
class Flatten(Primitive):
    """Flatten all but the batch dimension."""

    op_name = "flatten"

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(shape.numel)

    def other_ops(self, out: Shape) -> int:
        return 0

    def kept(self, out: Shape) -> Kept:
        return Kept(view=True)


@dataclass(frozen=True)
class Dropout(Primitive):
    """Dropout of single values with probability p, in training."""

    p: float
    op_name = "dropout"

    def other_ops(self, out: Shape) -> int:
        return 0

    def kept(self, out: Shape) -> Kept:
        return Kept(bytes_per_sample=out.numel * MASK_BYTES)

    def label(self) -> str:
        return f"dropout {self.p:g}"


@dataclass(frozen=True)
class DropPath(Primitive):
    """Stochastic depth: in training, zero a sample's residual branch with probability p (scaled by 1/(1-p))."""

    p: float
    op_name = "droppath"

    def kept(self, out: Shape) -> Kept:  # a per-sample keep mask; identity when p is 0
        return Kept(bytes_per_sample=FP32_BYTES) if self.p > 0 else Kept(view=True)

    def label(self) -> str:
        return f"drop path {self.p:.3g}"


@dataclass(frozen=True)
class ZeroPad(Primitive):
    """Parameter-free shortcut: keep every stride-th pixel, append zero channels (He et al. 2016, option A)."""

    in_channels: int
    out_channels: int
    stride: int
    op_name = "zeropad"

    def out_size(self, size: int) -> int:
        return -(-size // self.stride)  # x[..., ::stride] keeps ceil(size / stride)

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(self.out_channels, self.out_size(shape.height), self.out_size(shape.width))

    def window(self) -> str:
        return f"stride {self.stride}"

    def other_ops(self, out: Shape) -> int:
        return 0  # slicing and padding: no arithmetic

    def label(self) -> str:
        return f"subsample /{self.stride}, zero-pad {self.in_channels}→{self.out_channels}"

    def noun(self) -> str:
        return "zero-pad shortcut"


@dataclass(frozen=True)
class SqueezeExcite(Primitive):
    """x * sigmoid(fc2(act(fc1(avgpool(x))))): a channel gate with two biased 1x1 convs (Hu et al. 2018).

    One primitive rather than a sub-block: the gate multiplies into its own input, which a chain of
    layers cannot say, and its cost is two small matrix products whatever the feature map size.
    """

    channels: int
    hidden: int
    activation: str
    op_name = "squeezeexcite"

    @property
    def params(self) -> int:  # type: ignore[override]
        return 2 * self.channels * self.hidden + self.hidden + self.channels

    def macs(self, out: Shape) -> int:
        return 2 * self.channels * self.hidden  # the two 1x1 convs act on the pooled 1x1 map

    def kept(self, out: Shape) -> Kept:
        # input (for the gating product), pooled vector, hidden vector(s), sigmoid gate; ReLU runs in place
        hidden = self.hidden * (1 if self.activation == "relu" else 2)
        return Kept(saves_input=True, bytes_per_sample=(2 * self.channels + hidden) * FP32_BYTES)

    def label(self) -> str:
        return f"squeeze-excite {self.channels}→{self.hidden}→{self.channels}"

    def noun(self) -> str:
        return "squeeze-excite gate"


@dataclass(frozen=True)
class Linear(Primitive):
    """A fully connected layer: the classifier, or a 1x1 layer of a channels-last ConvNeXt block, applied at
    every position (`nn.Linear` acts on the last dimension)."""

    in_features: int
    out_features: int
    bias: bool = True
    zero_init: bool = False  # weight and bias start at zero: the last layer of a zero-init residual branch
    op_name = "linear"

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(self.out_features, shape.height, shape.width)

    @property
    def params(self) -> int:  # type: ignore[override]
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, out: Shape) -> int:
        return self.in_features * self.out_features * out.height * out.width

    def other_ops(self, out: Shape) -> int:
        return out.numel if self.bias else 0

    def kept(self, out: Shape) -> Kept:
        return Kept(saves_input=True, copies_strided_input=True)  # F.linear flattens its input to a matrix

    def label(self) -> str:
        return f"fc {self.in_features}→{self.out_features}"

    def noun(self) -> str:
        return "linear layer"


Op = Primitive  # any registered primitive: archspec's own below, or a plugin's

for _cls, _factory in ((Conv, "conv"), (Norm, "norm"), (Act, "act"), (Pool, "pool"), (GlobalPool, "global_pool"),
                       (Flatten, "flatten"), (Dropout, "dropout"), (DropPath, "drop_path"), (ZeroPad, "zero_pad"),
                       (SqueezeExcite, "squeeze_excite"), (Linear, "linear"), (Permute, "permute"),
                       (LayerScale, "layer_scale")):  # fmt: skip
    register_primitive(_cls, torch=f"archspec.nn.layers:{_factory}")


@dataclass(frozen=True)
class Layer:
    """One primitive with its name (the module's attribute name) and per-sample shapes."""

    name: str
    op: Op
    in_shape: Shape
    out_shape: Shape
