"""The machine a benchmark ran on, as one line every script prints first (docs/benchmarks.md quotes it).

CPUs differ between sessions (Zen 3 with AVX2 only, Zen 4 with AVX512-BF16, Sapphire Rapids with AMX), so a
figure means little without the model, the vector extensions torch can use, the usable cores and the load
at the start. Imported by the scripts beside it (`python benchmarks/NAME.py` puts this folder on sys.path).
"""

from __future__ import annotations

import os
import platform
import subprocess

ISA = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")  # what decides torch's CPU kernels


def lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        text = ""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def machine(*extras: str) -> str:
    """CPU model, vector extensions, usable cores, 1-minute load average now, Python; then each of `extras`
    (torch's version and threads, a runtime's version) as the script knows them."""
    fields = lscpu()
    flags = set(fields.get("Flags", "").split())
    isa = " ".join(f for f in ISA if f in flags) or "no AVX2"
    model = fields.get("Model name") or platform.processor() or "unknown CPU"
    cores = len(os.sched_getaffinity(0))
    parts = [f"CPU: {model} ({isa}), {cores} usable cores, load {os.getloadavg()[0]:.2f}",
             f"Python {platform.python_version()}", *extras]  # fmt: skip
    return ", ".join(parts)
