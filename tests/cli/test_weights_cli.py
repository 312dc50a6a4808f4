"""`archspec weights import|export`: exact conversion, bit for bit, and one-line refusals that write nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC
from safetensors.torch import save_file
from weights.fill import fill

from archspec.arch.validate import load_spec
from archspec.artifacts.checkpoint import load_checkpoint
from archspec.cli import main
from archspec.nn.build import build
from archspec.nn.weights import export, read_state_dict, save_state_dict

FIXTURES = Path(__file__).resolve().parent.parent / "weights" / "fixtures"


def reference_state(name: str) -> dict[str, torch.Tensor]:
    """A float32 state dict exactly as the reference names and orders it (from tests/weights/fixtures)."""
    entries = json.loads((FIXTURES / f"{name}.json").read_text())["state_dict"]
    return {key: torch.tensor(7) if key.endswith("num_batches_tracked") else fill(key, tuple(shape)).float()
            for key, shape in entries}  # fmt: skip


def same_bits(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], ordered: bool = True) -> bool:
    """Same names (in the same order unless `ordered` is off), dtypes, shapes and bytes."""
    return (list(a) == list(b) if ordered else sorted(a) == sorted(b)) and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].reshape(-1).view(torch.uint8).equal(
            b[k].reshape(-1).view(torch.uint8)) for k in a
    )  # fmt: skip


def ok(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def refused(capsys: pytest.CaptureFixture[str], out: Path, fragment: str, *args: str | Path) -> None:
    """Exit 2, one line on stderr naming the problem, and `out` not written."""
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


@pytest.mark.slow
def test_torchvision_resnet50_round_trips_bit_for_bit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = reference_state("resnet50")
    for suffix in (".pth", ".safetensors"):
        source, checkpoint, back = tmp_path / f"tv{suffix}", tmp_path / "r50.pt", tmp_path / f"back{suffix}"
        save_state_dict(original, source)
        printed = ok(capsys, "weights", "import", source, "--layout", "torchvision", "--spec", "resnet50",
                     "--out", checkpoint)  # fmt: skip
        assert "loaded 320 tensors (25,610,205 numbers)" in printed
        ok(capsys, "weights", "export", checkpoint, "--layout", "torchvision", "--out", back)
        # .safetensors stores tensors sorted by dtype and name, whatever order they were given in
        assert same_bits(read_state_dict(back), original, ordered=suffix == ".pth")
        assert back.read_bytes() == source.read_bytes()  # the same file, byte for byte


@pytest.mark.parametrize(("fixture", "layout"), [("regnet_y_400mf", "torchvision"),
                                                 ("regnet_y_800mf_pycls--regnety_008", "timm")])  # fmt: skip
def test_torchvision_and_timm_regnets_round_trip_bit_for_bit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture: str, layout: str
) -> None:
    original = reference_state(fixture)
    preset = fixture.split("--")[0]
    source, checkpoint, back = tmp_path / "ref.pth", tmp_path / "r.pt", tmp_path / "back.pth"
    save_state_dict(original, source)
    ok(capsys, "weights", "import", source, "--layout", layout, "--spec", preset, "--out", checkpoint)
    ok(capsys, "weights", "export", checkpoint, "--layout", layout, "--out", back)
    assert same_bits(read_state_dict(back), original)
    assert back.read_bytes() == source.read_bytes()


@pytest.mark.slow
def test_an_imported_checkpoint_evaluates_and_fine_tunes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, checkpoint = tmp_path / "d2l.pth", tmp_path / "d2l.pt"
    torch.save(reference_state("d2l-resnet18"), source)
    ok(capsys, "weights", "import", source, "--layout", "d2l", "--spec", "d2l-resnet18", "--out", checkpoint)
    assert load_checkpoint(checkpoint).epoch == 0
    assert "test acc" in ok(capsys, "evaluate", checkpoint, "--data-dir", "sample", "--max-test", "16",
                            "--png", tmp_path / "c.png")  # fmt: skip
    from archspec.train.finetune import prepare

    assert not prepare(checkpoint, load_spec("d2l-resnet18")).report.missing  # train --init-from takes it too
    ok(capsys, "weights", "export", checkpoint, "--layout", "d2l", "--out", tmp_path / "again.pth")
    assert same_bits(read_state_dict(tmp_path / "again.pth"), reference_state("d2l-resnet18"))


def test_an_imported_checkpoint_exports_to_torchscript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC)
    spec = load_spec(str(tmp_path / "tiny.yaml"))
    source, checkpoint = tmp_path / "tv.pth", tmp_path / "tiny.pt"
    save_state_dict(export(build(spec), spec, "torchvision"), source)  # a torchvision-shaped net of 2 stages
    ok(capsys, "weights", "import", source, "--layout", "torchvision", "--spec", tmp_path / "tiny.yaml",
       "--out", checkpoint)  # fmt: skip
    printed = ok(capsys, "export", checkpoint, "--format", "torchscript", "--out", tmp_path / "tiny.ts")
    assert f"weights of {checkpoint}" in printed and "max |export - eager| = " in printed


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_bad_weight_files_are_refused_in_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.pt"
    imports = ["weights", "import", "--out", out]

    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    refused(capsys, out, f"{text}: not a torch.save file: a text file", *imports, text, "--layout", "torchvision",
            "--spec", "resnet18")  # fmt: skip

    listing = tmp_path / "list.pt"
    torch.save([torch.ones(2)], listing)
    refused(capsys, out, f"{listing}: not a state dict", *imports, listing, "--layout", "torchvision",
            "--spec", "resnet18")  # fmt: skip

    marker, evil = tmp_path / "pwned", tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.ones(1), "payload": _Exploit(marker)}, evil)
    refused(capsys, out, "refused: unpickling it would run code", *imports, evil, "--layout", "torchvision",
            "--spec", "resnet18")  # fmt: skip
    assert not marker.exists()

    resnet18 = tmp_path / "resnet18.pth"
    spec = load_spec("resnet18")
    save_state_dict(export(build(spec), spec, "torchvision"), resnet18)
    refused(capsys, out, "layer1.0.conv1.weight has shape (64, 64, 3, 3), but resnet50 needs (64, 64, 1, 1) there",
            *imports, resnet18, "--layout", "torchvision", "--spec", "resnet50")  # fmt: skip

    cut = tmp_path / "cut.safetensors"
    save_file({"conv1.weight": torch.randn(64, 3, 7, 7)}, cut)
    cut.write_bytes(cut.read_bytes()[:5000])
    refused(capsys, out, f"{cut}: not a readable safetensors file", *imports, cut, "--layout", "torchvision",
            "--spec", "resnet18")  # fmt: skip

    refused(capsys, out, "resnet18d: stem.conv1 (3x3 conv) has no counterpart in the torchvision layout",
            *imports, resnet18, "--layout", "torchvision", "--spec", "resnet18d")  # fmt: skip


def test_export_to_a_layout_that_cannot_hold_the_network_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_spec("resnet18")
    source, checkpoint = tmp_path / "tv.pth", tmp_path / "r18.pt"
    save_state_dict(export(build(spec), spec, "torchvision"), source)
    ok(capsys, "weights", "import", source, "--layout", "torchvision", "--spec", "resnet18", "--out", checkpoint)
    target = tmp_path / "d2l.pth"
    refused(capsys, target, "resnet18: stem.conv (7x7 conv) has no counterpart in the d2l layout",
            "weights", "export", checkpoint, "--layout", "d2l", "--out", target)  # fmt: skip
    target.write_bytes(b"keep me")  # an existing file survives a failed export
    assert main(["weights", "export", str(checkpoint), "--layout", "d2l", "--out", str(target)]) == 2
    assert target.read_bytes() == b"keep me"
    capsys.readouterr()
    assert main(["evaluate", str(checkpoint), "--data-dir", "sample"]) == 2  # a 1000-class RGB net on 10 grey classes
    assert "spec resnet18 has head.num_classes=1000 but fashion-mnist has 10 classes" in capsys.readouterr().err
