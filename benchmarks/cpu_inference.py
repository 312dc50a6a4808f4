"""CPU inference of trained checkpoints: torch fp32, onnxruntime fp32 and int8, OpenVINO, side by side in one run.

    python benchmarks/cpu_inference.py RUN [RUN ...] [--calibrate 1000] [--batch-size 64] [--pt2e]

For each run folder (or checkpoint) it quantizes the checkpoint with `archspec quantize`'s library function
(no accuracy limit here: the table reports the drop), then times every variant in interleaved rounds
(archspec.deploy.bench.bench_runtimes): throughput at --batch-size and batch-1 latency percentiles, each as a
ratio to eager fp32, and the test accuracy of every variant on the run's test split. `--pt2e` adds PyTorch's
PT2E int8 (torchao's X86InductorQuantizer + torch.compile with freezing) to compare the two int8 methods;
it needs `pip install torchao`, which archspec does not depend on. `--s8` adds the same ORT quantization
with int8 activations (the choice quantize makes is uint8).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from machine import machine  # benchmarks/machine.py, beside this script

from archspec.artifacts.checkpoint import checkpoint_file, checkpoint_model, load_checkpoint
from archspec.deploy.bench import bench_runtimes, load_warning
from archspec.deploy.export import export_source
from archspec.deploy.inference import optimize_for_inference
from archspec.deploy.quantize import QuantizeData, accuracy, quantize_checkpoint, quantize_data, quantize_onnx
from archspec.deploy.runtimes import Runtime, load_onnx, load_openvino, openvino_available, torch_runtime
from archspec.report import table
from archspec.runtime import bf16_is_fast


def runtime_versions() -> list[str]:
    """torch's, onnxruntime's and (when installed) OpenVINO's versions, for the machine line."""
    import onnxruntime

    versions = [f"torch {torch.__version__} ({torch.get_num_threads()} threads)"]
    versions.append(f"onnxruntime {onnxruntime.__version__}")
    if openvino_available():
        import openvino

        versions.append(f"openvino {openvino.__version__.split('-')[0]}")
    return versions


def pt2e_runtime(model: torch.nn.Module, calibration: torch.Tensor) -> Runtime:
    """PyTorch's PT2E static int8 (torchao X86InductorQuantizer, per-channel weights) compiled by inductor."""
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    batch = torch.export.Dim("batch", min=1, max=4096)
    graph = torch.export.export(model.eval(), (calibration[:2],), dynamic_shapes=({0: batch},)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(graph, quantizer)  # type: ignore[arg-type]
    with torch.no_grad():
        for chunk in torch.split(calibration, 64):
            prepared(chunk)
    converted = convert_pt2e(prepared)
    torch._inductor.config.freezing = True  # type: ignore[attr-defined]
    compiled = torch.compile(converted, dynamic=False)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out: torch.Tensor = compiled(x)
        return out

    started = time.perf_counter()
    for size in (1, 64):  # compile the shapes the bench uses before timing starts
        run(calibration[:size])
    return Runtime(
        "pt2e int8 (inductor)", run, note=f"compiling batch 1 and 64 took {time.perf_counter() - started:.0f} s"
    )


def variants(path: Path, folder: Path, data: QuantizeData, int8: Path, args: argparse.Namespace) -> list[Runtime]:
    model, _ = checkpoint_model(path)
    fp32 = export_source(path, "onnx", folder / "fp32.onnx").path
    found = [
        torch_runtime("eager fp32", model),
        torch_runtime("folded + channels_last", optimize_for_inference(model)),
    ]
    if bf16_is_fast():
        found.append(torch_runtime("folded + channels_last + bf16", optimize_for_inference(model, bf16=True)))
    threads = args.threads
    found += [load_onnx(fp32, threads, "onnxruntime fp32", check=False), load_onnx(int8, threads, "onnxruntime int8")]
    if args.s8:  # the same quantization with int8 instead of uint8 activations
        s8 = folder / "int8-s8.onnx"
        quantize_onnx(fp32, s8, data.calibration(), activations="int8")
        found.append(load_onnx(s8, threads, "onnxruntime int8, s8 activations", check=False))
    if openvino_available():
        found += [load_openvino(fp32, threads), load_openvino(int8, threads, "openvino int8 (QDQ file)")]
    if args.pt2e:
        found.append(pt2e_runtime(model, torch.cat(list(data.calibration()))))
    return found


def bench_run(source: Path, args: argparse.Namespace) -> None:
    path = checkpoint_file(source)
    state = load_checkpoint(path)
    with tempfile.TemporaryDirectory(prefix="cpu-inference-") as work:
        folder = Path(work)
        started = time.perf_counter()
        done = quantize_checkpoint(path, folder / "int8.onnx", args.calibrate, 100.0, args.data_dir, args.max_test)
        print(f"\n{done.spec.name} ({source}): quantized in {time.perf_counter() - started:.0f} s "
              f"(calibration {args.calibrate} images); data: {done.data}")  # fmt: skip
        data = quantize_data(state, path, args.calibrate, args.data_dir, args.max_test)  # the same images
        runtimes = variants(path, folder, data, done.path, args)
        shape = (done.spec.input.channels, done.spec.input.height, done.spec.input.width)
        warning = load_warning()
        load = os.getloadavg()[0]
        results = bench_runtimes(runtimes, shape, args.batch_size, args.seconds, args.latency_runs, args.rounds)
        load_after = os.getloadavg()[0]
        accuracies = [accuracy(runtime, data) for runtime in runtimes]
    base, base_acc = results[0], accuracies[0]
    rows = [(f"variant ({shape[1]}x{shape[2]})", f"img/s b{args.batch_size}", "vs eager", "p50 ms", "p90 ms",
             "p99 ms", "p50 vs eager", "test acc", "vs eager")]  # fmt: skip
    for result, acc in zip(results, accuracies, strict=True):
        lat, ref = result.latency, base.latency
        assert lat is not None and ref is not None
        rows.append((result.variant, f"{result.images_per_second:.1f}",
                     f"{result.images_per_second / base.images_per_second:.2f}x", f"{lat.p50 * 1e3:.2f}",
                     f"{lat.p90 * 1e3:.2f}", f"{lat.p99 * 1e3:.2f}", f"{ref.p50 / lat.p50:.2f}x", f"{acc:.2%}",
                     f"{100 * (acc - base_acc):+.2f}"))  # fmt: skip
    print("\n".join(table(rows, right=range(1, 9))))
    calls = base.latency.runs if base.latency else 0
    print(f"test accuracy on {len(data.test_labels):,} test images; latency over {calls} batch-1 calls; "
          f"load average {load:.2f} before timing, {load_after:.2f} after")  # fmt: skip
    for result in results:
        if result.note:
            print(f"  {result.variant}: {result.note}")
    if warning:
        print(warning)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or checkpoint files")
    parser.add_argument("--calibrate", type=int, default=1000, help="calibration images (default 1000)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=6.0, help="throughput timing per variant, over all rounds")
    parser.add_argument("--latency-runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", help="the runs' data folder, if not where they were trained from")
    parser.add_argument("--max-test", type=int, help="evaluate on the first N test images only")
    parser.add_argument("--pt2e", action="store_true", help="also PT2E int8 + inductor (needs torchao)")
    parser.add_argument("--s8", action="store_true", help="also onnxruntime int8 with int8 (not uint8) activations")
    parser.add_argument("--threads", type=int, help="threads for every runtime (default: the cores available)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine(*runtime_versions()))
    for run in args.runs:
        bench_run(run, args)


if __name__ == "__main__":
    main()
