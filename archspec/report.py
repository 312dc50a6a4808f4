"""Every table and text report archspec prints, built on one table helper (`table`).

The library computes (archspec.arch.complexity, archspec.arch.diff, archspec.deploy.bench ...);
this module only lays the results out. The CLI prints what it returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archspec.arch.complexity import Complexity, complexity
from archspec.arch.diff import ABSENT, StageDelta, field_changes, stage_deltas
from archspec.spec.io import spec_hash
from archspec.spec.schema import ResNetSpec

if TYPE_CHECKING:  # bench and predict import torch; complexity and diff reports must not
    from archspec.deploy.bench import Result
    from archspec.deploy.predict import Prediction
    from archspec.nn.weights import LoadReport
    from archspec.recipe.schema import Recipe
    from archspec.runs.compare import Comparison
    from archspec.runs.folders import RunSummary
    from archspec.search.leaderboard import Leaderboard

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
        rows += [(x.path, shape(x.output), count(x.params), count(x.macs), size_bytes(x.activation_bytes),
                  str(x.stride), str(x.receptive_field)) for x in report.layers]  # fmt: skip
    else:
        rows += [(s.name, shape(s.output), count(s.params), count(s.macs), size_bytes(s.activation_bytes),
                  str(s.stride), str(s.receptive_field)) for s in report.stages]  # fmt: skip
    rows.append(("total", "", count(report.params), count(report.macs), size_bytes(report.activation_bytes), "", ""))
    lines = [f"{report.name} at {c}x{h}x{w}, batch {report.batch_size}"]
    lines += table(rows, right=range(2, 7), rules=(0, len(rows) - 2))
    lines.append(f"MACs = multiply-accumulates of conv and linear weights; FLOPs = 2 x MACs = {report.flops:,}.")
    lines.append(f"Other element ops (bias, norm, activation, pooling, residual add): {report.other_ops:,}.")
    lines.append("Activations: bytes autograd keeps for backward in fp32 training. RF: receptive field in pixels.")
    lines.append(complexity_convention(report))
    return "\n".join(lines)


def complexity_convention(report: Complexity) -> str:
    """The one line that says how these figures relate to `archspec summary`'s (torchinfo's)."""
    return (f"Convention: MACs count conv and linear weights only; `archspec summary` (torchinfo) also counts "
            f"conv biases and norm and linear parameters, {report.torchinfo_mult_adds:,} mult-adds here; its pass "
            "size adds up every module's output, not what autograd keeps.")  # fmt: skip


def complexity_csv_rows(report: Complexity) -> list[list[Any]]:
    head = ["path", "op", "channels", "height", "width", "params", "macs", "flops", "other_ops", "activation_bytes",
            "stride", "receptive_field"]  # fmt: skip
    return [head] + [[x.path, x.op, *x.output, x.params, x.macs, x.flops, x.other_ops, x.activation_bytes,
                      x.stride, x.receptive_field] for x in report.layers]  # fmt: skip


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
    sizes = {a.input, b.input}
    at = f"input {shape(a.input)}" if len(sizes) == 1 else "each spec's own input size"
    lines.append(f"cost per part (MACs per sample at {at}):")
    lines += table(rows, right=range(1, 7), indent="  ")
    return "\n".join(lines)


def diff_report(a: ResNetSpec, b: ResNetSpec) -> str:
    """The diff of two specs (field changes and costs), as text; one line where they build the same network."""
    if spec_hash(a) == spec_hash(b):
        differ = [change.path for change in field_changes(a, b)]
        also = f"; they differ only in {' and '.join(differ)}" if differ else ""
        return f"{a.name} and {b.name} are the same network (spec hash {spec_hash(a)}){also}"
    return diff_text(a.name, b.name, field_changes(a, b), complexity(a), complexity(b))


def _pair(pair: tuple[int, int] | None, index: int) -> str:
    return "-" if pair is None else f"{pair[index]:,}"


def _show(value: Any) -> str:
    """A spec value as the YAML flow style writes it (strings quoted, so '' shows)."""
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_show(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)


# --- bench --------------------------------------------------------------------------------------


def bench_table(results: Sequence[Result], title: str, batch_size: int | None = None) -> str:
    """Images/s of each variant at the batch size and its ratio to the first (eager fp32); where measured, batch-1
    latency percentiles in milliseconds and the p50 ratio (eager's p50 over the variant's: above 1 is faster)."""
    base = results[0]
    timed = all(r.latency is not None for r in results)
    at = f" (batch {batch_size})" if batch_size else ""
    head = ("variant", f"images/s{at}", "vs eager fp32")
    rows: list[Row] = [head + (("p50 ms", "p90 ms", "p99 ms", "p50 vs eager") if timed else ())]
    notes = []
    for r in results:
        ratio = r.images_per_second / base.images_per_second
        cells: tuple[str, ...] = (r.variant, f"{r.images_per_second:.1f}", f"{ratio:.2f}x")
        if timed and r.latency is not None and base.latency is not None:
            lat = r.latency
            cells += (f"{lat.p50 * 1e3:.2f}", f"{lat.p90 * 1e3:.2f}", f"{lat.p99 * 1e3:.2f}",
                      f"{base.latency.p50 / lat.p50:.2f}x")  # fmt: skip
        if r.note:
            notes.append(f"  {r.variant}: {r.note}")
        rows.append(cells)
    lines = [title, *table(rows, right=range(1, len(rows[0])))]
    if timed and base.latency is not None:
        lines.append(f"latency: one image per call, percentiles over {base.latency.runs} calls per variant")
    return "\n".join(lines + notes)


# --- evaluate and predict -----------------------------------------------------------------------


def evaluation_table(accuracy: float, matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """What `archspec evaluate` prints: the test accuracy, then each class's accuracy and image count."""
    correct = sum(matrix[i][i] for i in range(len(classes)))
    total = sum(sum(row) for row in matrix)
    rows: list[Row] = [("class", "acc", "images")]
    for i, name in enumerate(classes):
        count = sum(matrix[i])
        rows.append((name, f"{matrix[i][i] / max(count, 1):.3f}", f"{count:,}"))
    return "\n".join([f"test acc {accuracy:.4f} ({correct:,}/{total:,})", *table(rows, right=(1, 2), indent="  ")])


def prediction_table(predictions: Sequence[Prediction]) -> str:
    """What `archspec predict` prints: each image's top classes with their probabilities."""
    rows: list[Row] = [("image", "rank", "class", "probability")]
    for prediction in predictions:
        for rank, (name, probability) in enumerate(prediction.top, start=1):
            rows.append((str(prediction.path) if rank == 1 else "", str(rank), name, f"{probability:.4f}"))
    return "\n".join(table(rows, right=(1, 3)))


# --- weights ------------------------------------------------------------------------------------


def load_table(report: LoadReport, source: str) -> str:
    """What loading weights did: loaded / adapted / new tensors per part, then every adapted and new tensor."""
    counts: dict[str, dict[str, int]] = {}
    for entry in report.entries:
        part = counts.setdefault(entry.name.split(".")[0], {"loaded": 0, "adapted": 0, "missing": 0})
        part[entry.status] += 1
    lines = [
        f"weights from {source} ({report.layout} layout): {len(report.loaded)} tensors loaded, "
        f"{len(report.adapted)} adapted, {len(report.missing)} new, {len(report.skipped)} in the file unused"
    ]
    rows: list[Row] = [("part", "loaded", "adapted", "new")]
    rows += [(part, str(c["loaded"]), str(c["adapted"]), str(c["missing"])) for part, c in counts.items()]
    lines += table(rows, right=(1, 2, 3), rules=(0,), indent="  ")
    changed: list[Row] = [(e.name, "new" if e.status == "missing" else e.status, shape(e.shape) or "scalar",
                           "-" if e.source_shape is None else shape(e.source_shape), e.note)
                          for e in report.entries if e.status != "loaded"]  # fmt: skip
    if changed:
        lines += table([("tensor", "status", "shape", "in file", "why"), *changed], rules=(0,), indent="  ")
    if report.skipped:
        more = f" and {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""
        lines.append(f"  unused in the file: {', '.join(report.skipped[:3])}{more}")
    return "\n".join(lines)


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


def design_spaces_table(boards: Sequence[Leaderboard]) -> str:
    """What `archspec sweep report A B` prints: per sweep, its complete candidates' test error (%) at the
    shares 0.1, 0.25 and 0.5 of its EDF (the error that share of candidates beats), and their MACs."""
    rows: list[Row] = [("sweep", "complete", "best err %", "EDF 10%", "EDF 25%", "median", "MACs", "band")]
    for board in boards:
        done = [e for e in board.entries if e.state == "complete" and e.accuracy is not None]
        errors = sorted(100.0 * (1.0 - (e.accuracy or 0.0)) for e in done)
        macs = [e.macs for e in done if e.macs is not None]
        limits = board.sweep.settings.constraints
        band = f"{_maybe_count(limits.min_macs)} - {_maybe_count(limits.max_macs)}"

        def at(share: float, errors: list[float] = errors) -> str:
            return f"{errors[max(0, math.ceil(share * len(errors)) - 1)]:.2f}" if errors else "-"

        spread = f"{count(min(macs))} - {count(max(macs))}" if macs else "-"
        rows.append((board.sweep.settings.name, str(len(done)), at(0.0), at(0.1), at(0.25), at(0.5), spread, band))
    return "\n".join(table(rows, right=(1, 2, 3, 4, 5), rules=(0,)))


# --- recipes ------------------------------------------------------------------------------------


def recipes_table(recipes: Sequence[Recipe]) -> str:
    """What `archspec list --recipes` prints: each bundled recipe, the spec it was tuned for, its description."""
    rows: list[Row] = [("recipe", "tuned for", "epochs", "description")]
    rows += [(r.name, r.tuned_for or "-", str(r.epochs), r.description) for r in recipes]
    return "\n".join(table(rows, right=(2,)))


# --- runs ---------------------------------------------------------------------------------------


def _fixed(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _maybe_count(value: int | None) -> str:
    return "-" if value is None else count(value)


def duration(seconds: float) -> str:
    """Seconds as 42.0 s, 12.5 min or 3.2 h."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def runs_table(summaries: Sequence[RunSummary]) -> str:
    """What `archspec runs list` prints: a row per run folder (sweep trials included)."""
    if not summaries:
        return "no run folders"
    rows: list[Row] = [("run", "status", "spec", "hash", "recipe", "epochs", "best acc", "params", "MACs", "wall",
                        "note")]  # fmt: skip
    for s in summaries:
        epochs = f"{s.epochs}/{s.total_epochs}" if s.total_epochs is not None else "-"
        status = f"{s.status} (pid {s.writer})" if s.writer else s.status
        rows.append((s.name, status, s.spec or "-", (s.spec_hash or "-").removeprefix("sha256:")[:12],
                     s.recipe or "-", epochs, _fixed(s.best_acc), _maybe_count(s.params), _maybe_count(s.macs),
                     duration(s.wall_seconds) if s.epochs else "-", s.note))  # fmt: skip
    return "\n".join(table(rows, right=(5, 6, 7, 8, 9), rules=(0,)))


def comparison_table(comparison: Comparison) -> str:
    """What `archspec runs compare` prints: the spec and recipe fields that differ, then the final metrics, a
    column per run."""
    from archspec.runs.compare import METRICS, metric

    names = comparison.names
    rows: list[Row] = [("", *names)]
    rules = [0]
    for part in ("spec", "recipe"):
        found = [d for d in comparison.differences if d.part == part]
        rows.append((f"{part}:", *([""] * len(names))))
        rows += [(f"  {d.path}", *(_show(v) for v in d.values)) for d in found] or [("  (no differences)",
                                                                                     *([""] * len(names)))]  # fmt: skip
    rules.append(len(rows) - 1)
    rows.append(("metrics:", *([""] * len(names))))
    for label, key in METRICS:
        rows.append((f"  {label}", *(_metric(metric(run, key), key) for run in comparison.runs)))
    return "\n".join(table(rows, rules=rules))


def _metric(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if key == "wall_seconds":
        return duration(value)
    if key in ("params", "macs"):
        return count(value)
    if key == "spec_hash":
        return str(value).removeprefix("sha256:")[:12]
    if key == "examples_per_sec":
        return f"{value:.1f}"
    return _fixed(value) if isinstance(value, float) else str(value)
