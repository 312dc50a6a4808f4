"""Every table and text report archspec prints, built on one table helper (`table`).

The library computes (archspec.arch.complexity, archspec.arch.diff, archspec.deploy.bench ...);
this module only lays the results out. The CLI prints what it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archspec.arch.complexity import Complexity, complexity
from archspec.arch.diff import ABSENT, StageDelta, field_changes, stage_deltas
from archspec.spec.schema import ResNetSpec

if TYPE_CHECKING:  # bench imports torch; complexity and diff reports must not
    from archspec.deploy.bench import Result
    from archspec.train.sweep.leaderboard import Leaderboard

Row = Sequence[str]


def table(rows: Sequence[Row], right: Sequence[int] = (), rules: Sequence[int] = (), indent: str = "") -> list[str]:
    """Rows as aligned text lines: columns in `right` right-aligned, a rule of dashes after each row in `rules`."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(width) if i in right else cell.ljust(width) for i, (cell, width) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append((indent + "  ".join(cells)).rstrip())
        if index in rules:
            lines.append(indent + "  ".join("-" * width for width in widths))
    return lines


def count(value: int) -> str:
    return f"{value:,}"


def size_bytes(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def shape(dims: Sequence[int]) -> str:
    return "x".join(map(str, dims))


# --- complexity ---------------------------------------------------------------------------------


def complexity_table(report: Complexity, layers: bool = False) -> str:
    """What `archspec complexity` prints: per stage (or per layer) params, MACs, activations, stride, RF."""
    c, h, w = report.input
    rows: list[Row] = [("part", "output", "params", "MACs", "activations", "stride", "RF")]
    if layers:
        rows += [(x.path, shape(x.output), count(x.params), count(x.macs), size_bytes(x.activation_bytes), "", "")
                 for x in report.layers]  # fmt: skip
    else:
        rows += [(s.name, shape(s.output), count(s.params), count(s.macs), size_bytes(s.activation_bytes),
                  str(s.stride), str(s.receptive_field)) for s in report.stages]  # fmt: skip
    rows.append(("total", "", count(report.params), count(report.macs), size_bytes(report.activation_bytes), "", ""))
    lines = [f"{report.name} at {c}x{h}x{w}, batch {report.batch_size}"]
    lines += table(rows, right=range(2, 7), rules=(0, len(rows) - 2))
    lines.append(f"MACs = multiply-accumulates of conv and linear weights; FLOPs = 2 x MACs = {report.flops:,}.")
    lines.append(f"Other element ops (bias, norm, activation, pooling, residual add): {report.other_ops:,}.")
    lines.append("Activations: bytes autograd keeps for backward in fp32 training. RF: receptive field in pixels.")
    return "\n".join(lines)


def complexity_csv_rows(report: Complexity) -> list[list[Any]]:
    head = ["path", "op", "channels", "height", "width", "params", "macs", "flops", "other_ops", "activation_bytes"]
    return [head] + [[x.path, x.op, *x.output, x.params, x.macs, x.flops, x.other_ops, x.activation_bytes]
                     for x in report.layers]  # fmt: skip


# --- diff ---------------------------------------------------------------------------------------


def diff_text(a_name: str, b_name: str, changes: Sequence[Any], a: Complexity, b: Complexity) -> str:
    """What `archspec diff` prints: changed fields, then params and MACs per part side by side."""
    lines = [f"--- {a_name}", f"+++ {b_name}", "fields:"]
    lines += [f"  {c.path}: {_show(c.before)} -> {_show(c.after)}" for c in changes] or ["  (none)"]
    rows: list[Row] = [("part", f"params {a_name}", f"params {b_name}", "delta", f"MACs {a_name}", f"MACs {b_name}",
                        "delta")]  # fmt: skip
    for delta in [*stage_deltas(a, b), StageDelta("total", (a.params, a.macs), (b.params, b.macs))]:
        before, after = delta.before or (0, 0), delta.after or (0, 0)
        rows.append((delta.name, _pair(delta.before, 0), _pair(delta.after, 0), f"{after[0] - before[0]:+,}",
                     _pair(delta.before, 1), _pair(delta.after, 1), f"{after[1] - before[1]:+,}"))  # fmt: skip
    lines.append("cost per part (MACs per sample at each spec's own input size):")
    lines += table(rows, right=range(1, 7), indent="  ")
    return "\n".join(lines)


def diff_report(a: ResNetSpec, b: ResNetSpec) -> str:
    """The diff of two specs (field changes and costs), as text."""
    return diff_text(a.name, b.name, field_changes(a, b), complexity(a), complexity(b))


def _pair(pair: tuple[int, int] | None, index: int) -> str:
    return "-" if pair is None else f"{pair[index]:,}"


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)


# --- bench --------------------------------------------------------------------------------------


def bench_table(results: Sequence[Result], title: str) -> str:
    """Images/s of each variant and its ratio to the first (eager fp32)."""
    base = results[0].images_per_second
    rows: list[Row] = [("variant", "images/s", "vs eager fp32")]
    for r in results:
        note = f"  ({r.note})" if r.note else ""
        rows.append((r.variant, f"{r.images_per_second:.1f}", f"{r.images_per_second / base:.2f}x{note}"))
    return "\n".join([title, *table(rows, right=(1,))])


# --- sweep leaderboard --------------------------------------------------------------------------


def leaderboard_table(board: Leaderboard, limit: int | None = None, note_width: int = 60) -> str:
    """What `archspec sweep report` prints: complete trials ranked by test accuracy, then the others."""
    counts = board.counts
    sweep = board.sweep.settings
    rows: list[Row] = [("rank", "trial", "state", "test acc", "epochs", "params", "MACs", "spec hash", "note")]
    shown = board.entries if limit is None else board.entries[:limit]
    for e in shown:
        note = ("* " if e.pareto else "") + e.note
        note = note if len(note) <= note_width else note[: note_width - 3] + "..."
        rows.append((str(e.rank or "-"), str(e.trial), e.state, "-" if e.accuracy is None else f"{e.accuracy:.4f}",
                     "-" if e.epochs is None else str(e.epochs), "-" if e.params is None else count(e.params),
                     "-" if e.macs is None else count(e.macs), (e.spec_hash or "-").removeprefix("sha256:"),
                     note))  # fmt: skip
    lines = [f"sweep {sweep.name}: {counts.trained} of {sweep.n_trials} trained ({counts.complete} complete, "
             f"{counts.pruned} pruned), {counts.rejected} rejected, {counts.invalid} invalid, "
             f"{counts.duplicate} duplicate, {counts.failed} failed, {counts.crashed} crashed, "
             f"{counts.running} running, {counts.waiting} queued"]  # fmt: skip
    lines += table(rows, right=(0, 1, 3, 4, 5, 6), rules=(0,))
    if limit is not None and len(board.entries) > limit:
        lines.append(f"... {len(board.entries) - limit} more in leaderboard.csv")
    lines.append("* on the Pareto front of test accuracy against MACs")
    best = board.best
    if best is not None:
        lines.append(f"best: trial {best.trial}, {' '.join(best.sets)}")
    return "\n".join(lines)
