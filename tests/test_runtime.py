"""archspec.runtime: devices this machine lacks are one-line errors listing what it has; bf16 that is only
emulated is warned about; torch's threads follow --threads, $ARCHSPEC_THREADS, or the cores other work leaves
free (with a one-line warning)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC, assert_one_line_error, cli

from archspec import runtime
from archspec.cli import main
from archspec.cli.threads import THREADS_ENV
from archspec.errors import ArchspecError
from archspec.runtime import (
    available_devices,
    precision_warning,
    resolve_channels_last,
    resolve_conv_weight_grad,
    resolve_device,
    resolve_precision,
)


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda", "cuda:7", "xpu", "meta"])
def test_unavailable_device_lists_what_this_machine_has(name: str) -> None:
    if name in available_devices() or (name == "cuda" and torch.cuda.is_available()):
        pytest.skip(f"this machine has {name}")
    with pytest.raises(ArchspecError) as info:
        resolve_device(name)
    message = str(info.value)
    assert message.startswith(f"--device {name}: ") and "this machine has cpu" in message and "\n" not in message


def test_cpu_is_always_there() -> None:
    assert resolve_device("cpu") == torch.device("cpu") and available_devices()[0] == "cpu"


def test_device_error_comes_before_any_data_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    missing = tmp_path / "no-data"
    code = main(["train", str(spec), "--set", "resize=null", "--device", "gpu", "--data-dir", str(missing),
                 "--quiet", "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("archspec: error: --device gpu: not a device name; this machine has cpu")
    assert "no-data" not in err and not (tmp_path / "run").exists()


def test_explicit_bf16_on_an_emulating_cpu_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    import archspec.runtime as runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    warning = precision_warning("bf16", torch.device("cpu"))
    assert warning is not None and "emulated" in warning and "slower" in warning and "\n" not in warning
    assert precision_warning("auto", torch.device("cpu")) is None
    assert precision_warning("fp32", torch.device("cpu")) is None
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert precision_warning("bf16", torch.device("cpu")) is None


def test_fp16_on_a_cpu_runs_in_fp32_with_a_warning(tiny_spec: Path, tmp_path: Path) -> None:
    """Emulated fp16 trained 12x slower than fp32 (docs/benchmarks.md): it is bounded at fp32's cost, and said."""
    cpu = torch.device("cpu")
    dtype, described = resolve_precision("fp16", cpu)
    assert dtype is None and described.startswith("fp32")
    warning = precision_warning("fp16", cpu)
    assert warning is not None and "runs in fp32" in warning and "bf16" in warning
    assert resolve_precision("fp16", torch.device("cuda"))[0] == torch.float16  # on a GPU, as asked
    sets = ["--set", "epochs=1", "--set", "resize=null", "--set", "precision=fp16"]
    data = ["--data-dir", "sample", "--max-train", "32", "--max-test", "16"]
    done = cli("train", tiny_spec, *data, *sets, "--quiet", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    assert "fp32 (fp16 asked for" in done.stdout and "precision fp16 runs in fp32" in done.stdout
    assert "channels_last (auto)" in done.stdout  # the recipe default, as resolved on this CPU


def test_channels_last_auto_is_nhwc_on_cpus_and_cuda_and_nchw_on_mps() -> None:
    """The rule docs/benchmarks.md measured ("Choosing precision and memory format"); an explicit value is kept."""
    for device, expected in (("cpu", True), ("cuda", True), ("mps", False)):
        assert resolve_channels_last("auto", torch.device(device))[0] is expected
    assert resolve_channels_last(False, torch.device("cpu")) == (False, "NCHW")
    assert resolve_channels_last(True, torch.device("mps")) == (True, "channels_last")


def test_conv_weight_grad_auto_is_swapped_only_in_bf16_on_an_amx_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule docs/benchmarks.md measured ("Choosing precision and memory format"); an explicit value is kept."""
    cpu, cuda, bf16 = torch.device("cpu"), torch.device("cuda"), torch.bfloat16
    for amx in (True, False):
        monkeypatch.setattr(runtime, "cpu_has_amx", lambda amx=amx: amx)
        assert resolve_conv_weight_grad("auto", cpu, bf16)[0] is amx
        assert resolve_conv_weight_grad("auto", cpu, None)[0] is False
        assert resolve_conv_weight_grad("auto", cuda, bf16)[0] is False
        assert resolve_conv_weight_grad("swapped", cpu, None)[0] is True
        assert resolve_conv_weight_grad("native", cpu, bf16)[0] is False


# --- threads: --threads, $ARCHSPEC_THREADS, and a default judged against the cores other work leaves free ----


@pytest.fixture
def two_idle_threads(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """torch's default of 2 threads on 2 usable cores, no $OMP_NUM_THREADS; the busy share is the test's."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(runtime, "usable_cores", lambda: {0, 1})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_a_busy_core_lowers_the_default_threads_with_a_warning(two_idle_threads: pytest.MonkeyPatch) -> None:
    two_idle_threads.setattr(runtime, "busy_cores", lambda window: 1.0)  # a second process spinning on one core
    chosen = runtime.choose_threads()
    assert chosen.count == 1 and chosen.warning is not None
    assert "keep 1.0 of the 2 cores" in chosen.warning and "--threads N or $ARCHSPEC_THREADS" in chosen.warning
    two_idle_threads.setattr(runtime, "busy_cores", lambda window: 0.1)
    assert runtime.choose_threads() == runtime.Threads(2, "torch's default (the cores are free)")
    two_idle_threads.setattr(runtime, "busy_cores", lambda window: 2.0)  # never below one thread
    assert runtime.choose_threads().count == 1


def test_threads_asked_for_are_kept(two_idle_threads: pytest.MonkeyPatch) -> None:
    two_idle_threads.setattr(runtime, "busy_cores", lambda window: 1.0)
    assert runtime.choose_threads(2).count == 2 and runtime.choose_threads(2).warning is None
    two_idle_threads.setenv("OMP_NUM_THREADS", "2")  # the user's own choice, which torch read
    assert runtime.choose_threads() == runtime.Threads(2, "$OMP_NUM_THREADS")


@pytest.mark.parametrize(
    "command",
    [["train", "missing.yaml"], ["evaluate", "missing.pt"], ["predict", "missing.pt", "x.png"],
     ["quantize", "missing.pt", "--calibrate", "8", "--out", "q.onnx"], ["bench", "missing.yaml"]],
)  # fmt: skip
def test_every_torch_command_takes_threads(command: list[str]) -> None:
    done = cli(*command, "--threads", "1")
    assert done.returncode == 2 and "unrecognized arguments" not in done.stderr and "missing" in done.stderr


def test_the_warning_and_a_bad_environment_value_are_one_line_each(two_idle_threads: pytest.MonkeyPatch) -> None:
    two_idle_threads.setattr(runtime, "busy_cores", lambda window: 1.0)
    lines = cli("evaluate", "missing.pt").stderr.splitlines()
    assert len(lines) == 2 and "torch runs on 1 thread, not 2" in lines[0] and "missing.pt" in lines[1]
    two_idle_threads.setenv("ARCHSPEC_THREADS", "0")
    assert_one_line_error(cli("evaluate", "missing.pt"), "$ARCHSPEC_THREADS: expected a positive integer, got '0'")
    assert THREADS_ENV == runtime.THREADS_ENV
