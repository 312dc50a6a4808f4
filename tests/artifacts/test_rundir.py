"""The run folder (archspec.artifacts.rundir.RunDir) and what runs do with it: one writer at a time, resuming a run
that never finished an epoch, refusing to shrink a run, file modes, curves of one epoch, quiet output."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC, cli_env

from archspec.arch.validate import spec_from_text
from archspec.artifacts.rundir import RunDir
from archspec.cli import main
from archspec.config.files import write_atomic
from archspec.data.preprocess import Preprocessing
from archspec.errors import ArchspecError
from archspec.recipe.schema import load_recipe
from archspec.train import runs
from archspec.train.loop import make_session, train_epoch
from archspec.train.runs import DataOptions, resume_run, train_run

ONE_EPOCH = ["resize=null", "epochs=1", "batch_size=50"]
DATA = DataOptions("sample", 200, 100)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch run of the tiny spec on 200 sample images."""
    out = tmp_path_factory.mktemp("runs") / "one"
    train_run(spec_from_text(TINY_SPEC), load_recipe("d2l", ONE_EPOCH), out, DATA, quiet=True, log=lambda _: None)
    return out


def test_layout_is_known_in_one_place(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    assert run.best == tmp_path / "r" / "checkpoints" / "best.pt" and run.last.name == "last.pt"
    assert RunDir.checkpoint_of(tmp_path) == tmp_path / "checkpoints" / "best.pt"
    assert RunDir.confusion_png_for(run.last) == tmp_path / "r" / "confusion-last.png"
    assert RunDir.confusion_png_for(tmp_path / "loose.pt") == tmp_path / "confusion-loose.png"


def test_a_second_writer_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from archspec.artifacts.rundir import RunDir\n"
         "with RunDir(sys.argv[1]).lock():\n    print('locked', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        recipe = load_recipe("d2l", ONE_EPOCH)
        with pytest.raises(ArchspecError) as info:
            train_run(spec_from_text(TINY_SPEC), recipe, out, DATA, quiet=True, log=lambda _: None)
        message = str(info.value)
        assert f"pid {holder.pid}" in message and "another archspec process" in message and "\n" not in message
        with pytest.raises(ArchspecError, match="another archspec process"):
            resume_run(out, quiet=True, log=lambda _: None)
        assert not RunDir(out).spec_file.exists()  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    with RunDir(out).lock():  # the kernel released the dead holder's lock
        pass


def test_a_run_without_a_checkpoint_resumes_from_epoch_0_or_restarts(tmp_path: Path) -> None:
    out = tmp_path / "early"

    def die_before_the_first_epoch(line: str) -> None:
        if line.startswith("device:"):
            raise KeyboardInterrupt

    recipe = load_recipe("d2l", ONE_EPOCH)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec_from_text(TINY_SPEC), recipe, out, DATA, quiet=True, log=die_before_the_first_epoch)
    run = RunDir(out)
    assert run.recipe_file.is_file() and not run.has_checkpoint()
    lines: list[str] = []
    resume_run(out, quiet=True, log=lines.append)
    assert f"resuming {out} after epoch 0 of 1" in lines and run.has_checkpoint()
    assert json.loads(run.info_file.read_text())["data_options"]["max_train"] == 200  # the run's own options

    again = tmp_path / "again"
    with pytest.raises(KeyboardInterrupt):
        train_run(spec_from_text(TINY_SPEC), recipe, again, DATA, quiet=True, log=die_before_the_first_epoch)
    train_run(spec_from_text(TINY_SPEC), recipe, again, DATA, quiet=True, log=lambda _: None)  # a restart
    assert RunDir(again).has_checkpoint()


def test_resuming_a_finished_run_has_nothing_to_do_and_reads_no_data(
    finished: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = RunDir(finished).recipe_file.read_text()
    monkeypatch.setattr(runs, "open_dataset", lambda *a, **k: pytest.fail("read data for a finished run"))
    lines: list[str] = []
    assert resume_run(finished, quiet=True, log=lines.append) == finished
    assert lines == [f"{finished}: all 1 epochs are done; nothing to do (train longer with --set epochs=N, N > 1)"]
    assert RunDir(finished).recipe_file.read_text() == before


def test_fewer_epochs_than_done_after_two(tmp_path: Path) -> None:
    out = tmp_path / "two"
    recipe = load_recipe("d2l", ["resize=null", "epochs=2", "batch_size=50"])
    train_run(spec_from_text(TINY_SPEC), recipe, out, DataOptions("sample", 100, 50), quiet=True, log=lambda _: None)
    metrics = RunDir(out).metrics_csv.read_text()
    with pytest.raises(ArchspecError, match=r"^--set epochs=1: .* has already trained 2 epochs; resume to 2 or more"):
        resume_run(out, overrides=["epochs=1"], quiet=True)
    assert "epochs: 2" in RunDir(out).recipe_file.read_text() and RunDir(out).metrics_csv.read_text() == metrics


def test_one_epoch_curves_have_markers(finished: Path) -> None:
    from archspec.train import plots

    drawn: list[object] = []
    real = plots._save
    plots._save = lambda fig, path: drawn.append(fig)  # type: ignore[assignment]
    try:
        plots.plot_curves([{"epoch": 1, "train_loss": 2.0, "train_acc": 0.3, "test_acc": 0.4}], finished / "x.png")
    finally:
        plots._save = real
    axes = drawn[0].axes[0]  # type: ignore[attr-defined]
    lines = axes.get_lines()
    assert len(lines) == 3 and all(line.get_marker() not in (None, "", "None") for line in lines)
    assert [tick for tick in axes.get_xticks() if 0.5 <= tick <= 1.5] == [1.0]  # whole epochs, even for one


def test_run_files_and_exports_get_the_umask_mode(finished: Path, tmp_path: Path) -> None:
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in finished.rglob("*") if p.is_file()}
    umask = os.umask(0)
    os.umask(umask)
    assert set(modes.values()) == {0o666 & ~umask}, modes
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.txt", b"x")
        (tmp_path / "kept.txt").write_text("old")
        os.chmod(tmp_path / "kept.txt", 0o604)
        write_atomic(tmp_path / "kept.txt", b"new")
        from archspec.deploy.export import export_source

        done = export_source(finished, "torchscript", tmp_path / "net.ts")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "kept.txt").stat().st_mode) == 0o604  # as open() keeps an existing file's
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o640


def test_quiet_train_prints_no_spec_and_recipe_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    args = ["train", str(spec), "--set", "resize=null", "--device", "nonesuch", "--out", str(tmp_path / "r")]
    assert main(args) == 2  # stops at the device, after the point where the dump is printed
    assert "# spec tiny" in capsys.readouterr().out
    assert main([*args, "--quiet"]) == 2
    assert capsys.readouterr().out == ""


class _Terminal:
    """A stand-in stderr that says it is a terminal and keeps what the progress bar draws."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_bar_shows_throughput_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.data.batches import TensorSplit
    from archspec.nn.build import build
    from archspec.train.callbacks import ProgressBar

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    recipe = load_recipe("d2l", ["resize=null", "batch_size=16"])
    model = build(spec_from_text(TINY_SPEC))
    prep = Preprocessing(28, 28, 1, (0.0,), (1.0,))
    session = make_session(model, recipe, prep, torch.device("cpu"), 4)
    split = TensorSplit(torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8), torch.arange(64) % 10)
    bar = ProgressBar()
    bar.epochs, bar.batch = 1, recipe.batch_size
    bar.on_epoch_start(1, len(split))
    train_epoch(session, split, 0, bar)
    bar.on_epoch_end(1, {})
    final = terminal.text.split("\r")[-1]
    assert "epoch 1/1" in final and "loss=" in final and "acc=" in final
    assert final.count("ex/s") == 1 and "ex_s" not in terminal.text, final


def test_evaluate_does_not_claim_training_images(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = finished / "confusion-test.png"
    assert main(["evaluate", str(finished), "--data-dir", "sample", "--max-test", "100", "--png", str(png)]) == 0
    data_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("data:"))
    assert "100 test" in data_line and "train" not in data_line


def test_a_restarted_attempt_takes_the_lock_over_once_the_old_holder_is_gone(tmp_path: Path) -> None:
    """A holder that ends (here: releases after 0.3 s) hands the lock to a waiter; without a wait it is refused."""
    import threading

    run = RunDir(tmp_path / "run")
    held, release = threading.Event(), threading.Event()

    def old_attempt() -> None:
        with run.lock():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=old_attempt)
    holder.start()
    held.wait(10)
    with pytest.raises(ArchspecError, match="another archspec process"), run.lock():
        pass
    threading.Timer(0.3, release.set).start()
    with run.lock(wait=30):
        assert run.lock_file.read_text().strip() == str(os.getpid())
    holder.join(10)
    assert run.writer() is None
