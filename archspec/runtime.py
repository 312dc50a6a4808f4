"""Where and how torch runs: the device, the precision (autocast), channels_last, native-bf16 detection, and
how many threads, judged against the cores other work leaves free.

The one place that decides these, for training, evaluation, inference and benchmarks alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from archspec.errors import ArchspecError

M = TypeVar("M", bound=nn.Module)


def available_devices() -> list[str]:
    """The devices torch can use on this machine, as `--device` spells them."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | None = None) -> torch.device:
    """The device named by `--device` (default: cuda when available), or a one-line error listing those here."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    here = available_devices()
    has = f"this machine has {', '.join(here)}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ArchspecError(f"--device {name}: not a device name; {has}") from None
    if device.type == "cuda" and torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count():
        return device
    if device.type == "cpu" or (device.type == "mps" and "mps" in here):
        return device
    raise ArchspecError(f"--device {name}: not available; {has}")


def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where oneDNN runs bf16 convolutions natively."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())  # type: ignore[no-untyped-call]


def resolve_precision(precision: str, device: torch.device) -> tuple[torch.dtype | None, str]:
    """The autocast dtype (None: plain fp32) and a one-line reason."""
    if precision == "fp32":
        return None, "fp32"
    if precision == "bf16":
        return torch.bfloat16, "bf16 autocast"
    if precision == "fp16":
        if device.type == "cpu":  # see precision_warning
            return None, "fp32 (fp16 asked for: a CPU only emulates fp16)"
        return torch.float16, "fp16 autocast" + (" with gradient scaling" if device.type == "cuda" else "")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, "bf16 autocast (auto: the GPU supports bf16)"
        return None, "fp32 (auto: the GPU has no bf16)"
    if cpu_has_native_bf16():
        return torch.bfloat16, "bf16 autocast (auto: the CPU has native bf16)"
    return None, "fp32 (auto: this CPU has no native bf16, where bf16 would be emulated and slower)"


def resolve_channels_last(setting: bool | str, device: torch.device) -> tuple[bool, str]:
    """Whether to train and test in NHWC (channels_last), and a one-line reason.

    auto is NHWC on CPUs and CUDA, and NCHW on Apple's MPS. On CPUs oneDNN's convolutions are written for NHWC:
    it was the faster of the two memory formats for every network measured, in fp32 and in bf16, on each CPU
    met (docs/benchmarks.md, "Choosing precision and memory format"); on CUDA cuDNN's tensor-core kernels
    (bf16, fp16, TF32) take NHWC. MPS converts NHWC back for most of its kernels."""
    if setting is True or setting is False:
        return setting, "channels_last" if setting else "NCHW"
    if device.type == "mps":
        return False, "NCHW (auto: MPS kernels want NCHW)"
    return True, "channels_last (auto)"


def cpu_has_amx() -> bool:
    """True on CPUs with AMX tiles (Sapphire Rapids and later), where oneDNN's bf16 convolutions use them."""
    return bool(torch.cpu._is_amx_tile_supported())


def resolve_conv_weight_grad(setting: str, device: torch.device, dtype: torch.dtype | None) -> tuple[bool, str]:
    """Whether small-map convolutions take the swapped weight gradient (nn/conv_grad.py), and a one-line reason.

    auto is the swapped form in bf16 on a CPU with AMX: there oneDNN's backward-weights kernel was the slowest
    part of a d2l-resnet18 step, and the swapped form made the step faster (docs/benchmarks.md, "Choosing
    precision and memory format"). Other CPUs and GPUs keep the native kernel until measured there."""
    if setting != "auto":
        return setting == "swapped", f"conv weight grad {setting}"
    if device.type == "cpu" and dtype == torch.bfloat16 and cpu_has_amx():
        return True, "conv weight grad swapped on small maps (auto: bf16 on AMX)"
    return False, "conv weight grad native (auto)"


def precision_warning(precision: str, device: torch.device) -> str | None:
    """One line when an explicitly chosen precision will be slower than fp32 on this device, or is not what
    runs, else None.

    fp16 on a CPU runs in fp32: CPUs have no fp16 convolutions to speak of, and autocast's emulated ones trained
    12x slower than fp32 (docs/benchmarks.md), an epoch that never seems to end; refusing instead would also
    refuse evaluating or predicting on a CPU with a checkpoint trained in fp16 on a GPU."""
    if precision == "fp16" and device.type == "cpu":
        return (
            "warning: precision fp16 runs in fp32 on a CPU (fp16 is emulated there, about 12x slower than fp32); "
            "use precision: bf16 for 16-bit numerics on a CPU, or auto"
        )
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        return (
            "warning: precision bf16 on this CPU is emulated (no AVX512-BF16 or AMX) and trains several times "
            "slower than fp32; use precision: auto or fp32 unless you need bf16's numerics"
        )
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def bf16_is_fast() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX); elsewhere bf16 is emulated."""
    return cpu_has_native_bf16()


def to_channels_last(model: M) -> M:
    """`model.to(memory_format=torch.channels_last)`: NHWC convolutions, faster with oneDNN on CPUs."""
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload, no-any-return]


@contextmanager
def cudnn_benchmark(device: torch.device) -> Iterator[None]:
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


# --- threads and the cores other work leaves free -------------------------------------------------

THREADS_ENV = "ARCHSPEC_THREADS"
OTHER_LIMIT = 0.25  # cores busy with other processes (while this one sleeps) above which the CPU is shared
LOAD_LIMIT = 0.5  # where that cannot be read: the 1-minute load average above which other work shares the CPU
OTHER_WINDOW_S = 0.5  # how long bench watches the cores
THREADS_WINDOW_S = 0.2  # how long a command watches them before choosing its threads


def usable_cores() -> set[int]:
    """The cores this process may run on: its affinity (a container's cpuset, taskset), not the machine's."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def busy_cores(window: float) -> float | None:
    """Of the cores this process may run on, how many were busy (not idle or waiting for I/O) over `window`
    seconds, from /proc/stat; None where it cannot be read. The caller sleeps meanwhile, so this is other
    processes' work (or threads of its own still spinning)."""
    cores = usable_cores()

    def sample() -> tuple[int, int]:
        total = idle = 0
        with open("/proc/stat") as stat:
            for line in stat:
                name, *values = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                    fields = [int(value) for value in values[:8]]  # user nice system idle iowait irq softirq steal
                    total += sum(fields)  # guest time is counted within user already
                    idle += fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return total, idle

    try:
        total, idle = sample()
        time.sleep(window)
        total_after, idle_after = sample()
    except (OSError, ValueError):
        return None
    elapsed = total_after - total
    if elapsed <= 0:
        return None
    busy = (elapsed - (idle_after - idle)) / elapsed * len(cores)
    return min(max(busy, 0.0), float(len(cores)))  # iowait may step back (proc(5))


@dataclass(frozen=True)
class Load:
    """What other work does on the cores this process may use, judged once (`other_load`)."""

    busy: float | None  # cores busy with other processes; None where /proc/stat cannot be read
    cores: int
    load_average: float | None

    @property
    def shared(self) -> bool:
        if self.busy is not None:
            return self.busy > OTHER_LIMIT
        return self.load_average is not None and self.load_average > LOAD_LIMIT

    @property
    def free(self) -> int:
        """Whole cores left free (at least 1); all of them where the busy share cannot be read."""
        return self.cores if self.busy is None else max(1, round(self.cores - self.busy))

    def describe(self) -> str:
        if self.busy is not None:
            what = f"other processes keep {self.busy:.1f} of the {self.cores} cores this process may use busy"
            return what + (f" (load average {self.load_average:.2f})" if self.load_average is not None else "")
        return f"load average {self.load_average or 0:.2f} (1 min) before the run"


def other_load(window: float = OTHER_WINDOW_S) -> Load:
    """The one judgement of whether other work shares the CPU, for bench's warning and the threads' choice.

    The cores busy while this process sleeps for `window` (/proc/stat) are other processes' work. The
    1-minute load average lags by a minute, also counts the work run just before (a quantization, an export)
    and, in a container, the whole host; it decides only where /proc/stat cannot be read."""
    try:
        load: float | None = os.getloadavg()[0]
    except OSError:  # not available on this platform
        load = None
    return Load(busy_cores(window), len(usable_cores()), load)


@dataclass(frozen=True)
class Threads:
    """How many intra-op threads torch runs on, why, and a one-line warning where other work shares the CPU."""

    count: int
    reason: str
    warning: str | None = None


def choose_threads(requested: int | None = None, window: float = THREADS_WINDOW_S) -> Threads:
    """`requested` (--threads, $ARCHSPEC_THREADS) as given; else torch's own choice (one per core, or
    $OMP_NUM_THREADS) where the cores are free, and one per free core where other work keeps some busy:
    threads that outnumber the free cores wait for each other at every parallel region, and an epoch on a
    busy 2-core machine ran 3.5-9x slower on 2 threads than on 1 (docs/benchmarks.md)."""
    if requested is not None:
        return Threads(requested, f"--threads or ${THREADS_ENV}")
    default = torch.get_num_threads()
    if "OMP_NUM_THREADS" in os.environ:
        return Threads(default, "$OMP_NUM_THREADS")
    if default <= 1:
        return Threads(default, "torch's default (one core)")
    load = other_load(window)
    if not load.shared or load.free >= default:
        return Threads(default, "torch's default (the cores are free)")
    count = load.free
    warning = (f"warning: {load.describe()}: torch runs on {count} thread{'s' * (count > 1)}, not {default}, as "
               f"more threads than free cores stall each other; choose with --threads N or ${THREADS_ENV}")  # fmt: skip
    return Threads(count, "one per free core", warning)


def use_threads(requested: int | None = None) -> Threads:
    """`choose_threads`, applied to torch (this process's intra-op threads)."""
    chosen = choose_threads(requested)
    torch.set_num_threads(chosen.count)
    return chosen
