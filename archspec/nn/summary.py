"""Human-readable views of a built model: torchinfo's summary and d2l's layer trace."""

from __future__ import annotations

import re

import torch
import torchinfo
from torch import nn

from archspec.arch.complexity import complexity
from archspec.spec.schema import ResNetSpec


def summarize(model: nn.Module, spec: ResNetSpec, depth: int = 3, batch_size: int = 1) -> str:
    """torchinfo's table for one forward pass at the spec's input size, with honest units.

    torchinfo 1.8.0 on Python 3.11 labels mult-adds as `(Units.MEGABYTES)`; we print the count itself.
    """
    size = (batch_size, spec.input.channels, spec.input.height, spec.input.width)
    was_training = model.training
    stats = torchinfo.summary(
        model,
        input_size=size,
        depth=depth,
        verbose=0,
        col_names=("output_size", "num_params", "mult_adds"),
        row_settings=("var_names",),
        device="cpu",
    )
    model.train(was_training)
    macs = stats.total_mult_adds
    line = f"Total mult-adds: {macs:,} ({macs / 1e6:,.2f} M; FLOPs = 2 x mult-adds) for batch {batch_size}"
    text = re.sub(r"^Total mult-adds \(.*\): .*$", line, str(stats), flags=re.MULTILINE)
    return f"{text}\n{summary_convention(spec, batch_size)}"


def summary_convention(spec: ResNetSpec, batch_size: int = 1) -> str:
    """The one line that says how torchinfo's figures relate to `archspec complexity`'s."""
    macs = complexity(spec, batch_size=batch_size).macs
    return (f"Convention: torchinfo's mult-adds count conv weights and biases per output position and norm and "
            f"linear parameters once; `archspec complexity` counts conv and linear weights only ({macs:,} MACs "
            "here). Its pass sizes add up every module's output; complexity's activations are what autograd "
            "keeps.")  # fmt: skip


def trace(model: nn.Sequential, spec: ResNetSpec, batch_size: int = 1) -> list[tuple[str, str, tuple[int, ...]]]:
    """Output shape after each part, as d2l's `for layer in net: X = layer(X)` print (head expanded).

    Run on the meta device (each part with meta copies of its parameters and buffers, the model itself left
    as it is): shapes without activations, so no memory grows with the input size."""
    x = torch.empty(batch_size, spec.input.channels, spec.input.height, spec.input.width, device="meta")
    rows = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for name, part in model.named_children():
            children = list(part.named_children()) if name == "head" else [(name, part)]
            for child_name, child in children:
                tensors = {**dict(child.named_parameters()), **dict(child.named_buffers())}
                x = torch.func.functional_call(child, {key: t.to("meta") for key, t in tensors.items()}, (x,))
                label = f"head.{child_name}" if name == "head" else child_name
                rows.append((label, type(child).__name__, tuple(x.shape)))
    model.train(was_training)
    return rows


def format_trace(rows: list[tuple[str, str, tuple[int, ...]]]) -> str:
    return "\n".join(f"{name:<14} {kind:<18} output shape: {list(shape)}" for name, kind, shape in rows)
