"""archspec.runtime: devices this machine lacks are one-line errors listing what it has; bf16 that is only
emulated is warned about."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC

from archspec.cli import main
from archspec.errors import ArchspecError
from archspec.runtime import available_devices, precision_warning, resolve_device


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
