"""Exports round-trip numerically, take any batch size, and carry the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_SETS, TINY_SPEC, assert_one_line_error, cli

from archspec import build, load_spec, spec_hash
from archspec.arch.validate import spec_from_text, with_input
from archspec.artifacts.metadata import HASH_KEY, SPEC_KEY
from archspec.deploy.export import FORMATS, export, load_exported
from archspec.errors import ArchspecError

SUFFIX = {"onnx": ".onnx", "torchscript": ".ts", "exported-program": ".pt2"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_round_trips_with_dynamic_batch_and_embedded_spec(fmt: str, tmp_path: Path) -> None:
    spec = with_input(load_spec("resnet18d"), 3, 32, 32)  # deep stem, avg-pool shortcuts
    torch.manual_seed(0)
    model = build(spec).eval()
    path = export(model, spec, fmt, tmp_path / f"model{SUFFIX[fmt]}")  # type: ignore[arg-type]
    run, meta = load_exported(path, fmt)  # type: ignore[arg-type]
    assert meta[HASH_KEY] == spec_hash(spec)
    assert spec_from_text(meta[SPEC_KEY]) == spec
    for batch in (1, 4):
        x = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(run(x), model(x), rtol=1e-4, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_exported_program_needs_pt2_name(tmp_path: Path) -> None:
    spec = load_spec("cifar-resnet20")
    with pytest.raises(ArchspecError, match=r"\.pt2"):
        export(build(spec), spec, "exported-program", tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_export_command_checks_the_result(tmp_path: Path) -> None:
    out = tmp_path / "net.ts"
    done = cli("export", "cifar-resnet20", "--format", "torchscript", "--out", out)
    assert done.returncode == 0, done.stderr
    assert out.exists() and "max |export - eager|" in done.stdout


def test_export_from_a_checkpoint_keeps_its_weights(tmp_path: Path) -> None:
    from archspec.artifacts.checkpoint import checkpoint_model

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    run = tmp_path / "run"
    args = ["--data-dir", "sample", "--max-train", "128", "--max-test", "64", "--set", "epochs=1", "--quiet"]
    assert cli("train", spec, *TINY_SETS, *args, "--out", run).returncode == 0
    out = tmp_path / "net.ts"
    done = cli("export", run, "--format", "torchscript", "--out", out)
    assert done.returncode == 0, done.stderr
    assert f"weights of {run}" in done.stdout
    model, _ = checkpoint_model(run / "checkpoints" / "best.pt")
    exported, _ = load_exported(out, "torchscript")
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), rtol=1e-4, atol=1e-5)

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert_one_line_error(cli("export", broken, "--format", "torchscript"), str(broken))


def test_the_test_configuration_keeps_torchscripts_deprecation_out_of_make_test(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """pyproject's filterwarnings match what torch.jit actually warns (a changed message would bring the noise
    back: 55 warnings in `make test`); outside pytest nothing is filtered."""
    import builtins
    import warnings

    spec = spec_from_text(TINY_SPEC)
    model = build(spec).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rule in pytestconfig.getini("filterwarnings"):
            action, message, category = rule.split(":")[:3]
            warnings.filterwarnings(action, message, getattr(builtins, category))  # type: ignore[arg-type]
        load_exported(export(model, spec, "torchscript", tmp_path / "m.ts"), "torchscript")
    assert [str(w.message) for w in caught] == []
