"""A diagram of a network drawn from its plan, not traced: `archspec draw SPEC|RUN`.

Stem, stages and head from `archspec.arch.plan.outline` (each stage's repeated blocks lowered once and
counted, so a ResNet-152 is a page, not a scroll), laid out by Graphviz's `dot` through the `graphviz`
package. Three depths:

    stage   one box per stem, stage and head: block kind and count, channels, stride, output shape, cost
    block   each stage a frame; each block its residual branch, its shortcut (the projection where there is
            one, else an identity edge) and the add, with output shape, parameters and MACs
    layer   the same with every primitive of the branch and the shortcut a box of its own

Figures come from the primitives' own rules (params, macs per sample); nothing is re-derived here.
A `.dot`/`.gv` file needs no Graphviz program; SVG and PNG do, and its absence is one line saying how
to install it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from archspec.arch.plan import (
    Act,
    Block,
    Layer,
    Norm,
    Run,
    Shape,
    StageOutline,
    outline,
)
from archspec.config.files import write_atomic
from archspec.errors import ArchspecError
from archspec.spec.schema import ResNetSpec

if TYPE_CHECKING:
    import graphviz

Depth = Literal["stage", "block", "layer"]
DEPTHS: tuple[Depth, ...] = ("stage", "block", "layer")
FORMATS = ("svg", "png", "pdf", "dot", "gv")  # by the output file's suffix
INSTALL = ("drawing an SVG or PNG needs Graphviz's dot program, which is not on PATH: apt-get install graphviz "
           "(Debian, Ubuntu), brew install graphviz (macOS), or see https://graphviz.org/download/; "
           "--out FILE.dot writes the diagram's source without it")  # fmt: skip

# colours: a branch box, a projection, the stem and head, the add
_BRANCH, _PROJECT, _ENDS, _FRAME = "#dbe9f6", "#fde2c8", "#e6e6e6", "#f7f7f7"


def _cost(layers: Iterable[Layer], times: int = 1) -> tuple[int, int]:
    """(params, MACs per image) of these layers, `times` over."""
    layers = list(layers)
    return (times * sum(layer.op.params for layer in layers),
            times * sum(layer.op.macs(layer.out_shape) for layer in layers))  # fmt: skip


def _block_layers(block: Block) -> list[Layer]:
    return [layer for _, layer in block.layers]


def _stage_cost(stage: StageOutline) -> tuple[int, int]:
    costs = [_cost(stage.downsample), *(_cost(_block_layers(run.block), run.count) for run in stage.runs)]
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def _short(value: int) -> str:
    """A count for a label: 11.2M, 864K, 640."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def _figures(params: int, macs: int) -> str:
    return f"{_short(params)} params · {_short(macs)} MACs"


def _shape(shape: Shape) -> str:
    return f"{shape.channels}" if shape.height == shape.width == 1 else str(shape)


def _words(layers: Iterable[Layer]) -> str:
    """Layers as one line each, a conv's norm and activation folded onto its line."""
    lines: list[str] = []
    for layer in layers:
        text = layer.op.label()
        if lines and isinstance(layer.op, Norm | Act) and lines[-1].startswith("conv"):
            lines[-1] += f" · {text}"
        else:
            lines.append(text)
    return "\n".join(lines)


def diagram(spec: ResNetSpec, depth: Depth = "block") -> graphviz.Digraph:
    """The Graphviz graph of `spec` at `depth` (raises a located SpecError where the spec cannot be lowered)."""
    import graphviz

    if depth not in DEPTHS:
        raise ArchspecError(f"unknown depth {depth!r}; choose from {', '.join(DEPTHS)}")
    plan = outline(spec)
    params, macs = _cost([*plan.stem, *plan.head])
    stages = [_stage_cost(stage) for stage in plan.stages]
    params += sum(c[0] for c in stages)
    macs += sum(c[1] for c in stages)
    graph = graphviz.Digraph(spec.name)
    graph.attr(rankdir="TB", fontname="Helvetica", fontsize="11", nodesep="0.3", ranksep="0.3",
               label=f"{spec.name}: {_figures(params, macs)} at {plan.input_shape}", labelloc="t")  # fmt: skip
    graph.attr("node", shape="box", style="rounded,filled", fillcolor=_BRANCH, fontname="Helvetica", fontsize="10")
    graph.attr("edge", fontname="Helvetica", fontsize="9", arrowsize="0.6")
    graph.node("input", f"input\n{plan.input_shape}", shape="oval", fillcolor="white")
    stem = plan.stem[-1].out_shape if plan.stem else plan.input_shape
    graph.node("stem", f"stem ({spec.stem.kind})\n{_words(plan.stem)}\n→ {_shape(stem)}\n"
               f"{_figures(*_cost(plan.stem))}", fillcolor=_ENDS)  # fmt: skip
    graph.edge("input", "stem")
    last = "stem"
    for index, (stage, cost) in enumerate(zip(plan.stages, stages, strict=True)):
        title = f"{stage.name}: {stage.blocks} × {spec.stages[index].block.kind}"
        if depth == "stage":
            stride = stage.stride
            graph.node(stage.name, f"{title}\n{stage.out_shape.channels} channels, stride {stride}\n"
                       f"→ {_shape(stage.out_shape)}\n{_figures(*cost)}")  # fmt: skip
            graph.edge(last, stage.name)
            last = stage.name
            continue
        with graph.subgraph(name=f"cluster_{stage.name}") as frame:
            frame.attr(label=f"{title}, {_figures(*cost)}", style="rounded,filled", fillcolor=_FRAME, color="#999999",
                       labeljust="l")  # fmt: skip
            first = 0
            if stage.downsample:  # a separate downsampling layer before the blocks (ConvNeXt)
                node = f"{stage.name}_downsample"
                frame.node(node, f"downsample\n{_words(stage.downsample)}\n{_figures(*_cost(stage.downsample))}",
                           fillcolor=_PROJECT)  # fmt: skip
                graph.edge(last, node)
                last = node
            for number, run in enumerate(stage.runs):
                last = _block(_Parts(frame, graph), f"{stage.name}_{number}", run, first, last, depth == "layer")
                first += run.count
    graph.node("head", f"head\n{_words(plan.head)}\n→ {_shape(plan.output_shape)}\n{_figures(*_cost(plan.head))}",
               fillcolor=_ENDS)  # fmt: skip
    graph.edge(last, "head")
    graph.node("output", f"{plan.output_shape.channels} classes", shape="oval", fillcolor="white")
    graph.edge("head", "output")
    return graph


class _Parts:
    """Nodes go into a stage's frame, edges into the whole graph: an edge written inside a Graphviz cluster pulls
    both its ends into it (the stem would be drawn inside stage 1)."""

    def __init__(self, frame: graphviz.Digraph, graph: graphviz.Digraph) -> None:
        self.node = frame.node
        self.edge = graph.edge


def _block(graph: _Parts, ident: str, run: Run, first: int, source: str, layers: bool) -> str:
    """Draw one block (standing for `run.count` alike) after node `source`; returns the node of its output."""
    block = run.block
    blocks = f"block {first + 1}" if run.count == 1 else f"blocks {first + 1}–{first + run.count} (× {run.count})"
    params, macs = _cost(_block_layers(block), run.count)
    add = f"{ident}_add"
    post = f" · {_words(block.post)}" if block.post else ""
    graph.node(add, f"+{post}\n→ {_shape(block.out_shape)}", shape="box", style="rounded", fillcolor="white")
    entry = source
    if block.pre:
        entry = f"{ident}_pre"
        graph.node(entry, _words(block.pre))
        graph.edge(source, entry)
    head = f"{blocks}: {block.kind}, stride {block.stride}\n{_figures(params, macs)}"
    if layers:
        previous = entry
        for index, layer in enumerate(block.main):
            node = f"{ident}_main{index}"
            graph.node(node, (head + "\n" if index == 0 else "") + layer.op.label())
            graph.edge(previous, node)
            previous = node
        graph.edge(previous, add)
    else:
        main = f"{ident}_main"
        graph.node(main, f"{head}\n{_words(block.main)}")
        graph.edge(entry, main)
        graph.edge(main, add)
    shortcut_from = entry if block.pre and block.shortcut else source  # a preact projection reads pre(x)
    if not block.shortcut:
        graph.edge(shortcut_from, add, label="identity", style="dashed")
        return add
    if layers:
        previous = shortcut_from
        for index, layer in enumerate(block.shortcut):
            node = f"{ident}_short{index}"
            graph.node(node, layer.op.label(), fillcolor=_PROJECT)
            graph.edge(previous, node, style="dashed")
            previous = node
        graph.edge(previous, add, style="dashed")
    else:
        node = f"{ident}_short"
        graph.node(node, f"projection\n{_words(block.shortcut)}", fillcolor=_PROJECT)
        graph.edge(shortcut_from, node, style="dashed")
        graph.edge(node, add, style="dashed")
    return add


def output_format(path: Path) -> str:
    """The format a file's suffix asks for (svg, png, pdf, dot); ArchspecError listing them otherwise."""
    suffix = path.suffix.lower().removeprefix(".")
    if suffix not in FORMATS:
        raise ArchspecError(f"{path}: cannot tell the format from its suffix; use one of "
                            f"{', '.join('.' + f for f in FORMATS)}")  # fmt: skip
    return suffix


def has_dot() -> bool:
    return shutil.which("dot") is not None


def render(spec: ResNetSpec, out: Path, depth: Depth = "block") -> Path:
    """Draw `spec` at `depth` into `out` (its suffix says the format); returns `out`."""
    import graphviz

    form = output_format(out)
    graph = diagram(spec, depth)
    if form in ("dot", "gv"):
        data = graph.source.encode()
    else:
        if not has_dot():
            raise ArchspecError(INSTALL)
        try:
            data = graph.pipe(format=form)
        except graphviz.ExecutableNotFound:
            raise ArchspecError(INSTALL) from None
        except graphviz.CalledProcessError as err:
            raise ArchspecError(f"Graphviz's dot failed drawing {spec.name}: {err}") from None
    write_atomic(out, data, ArchspecError)
    return out


__all__ = ["DEPTHS", "FORMATS", "Depth", "diagram", "has_dot", "render"]
