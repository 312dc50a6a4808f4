"""Past one machine: two torchrun "nodes" on this machine (c10d rendezvous on 127.0.0.1) train as one process
does; a rank killed with SIGKILL mid-epoch makes torchrun restart the group, which continues the run folder by
itself; a folder dataset streams under torchrun with the batches one process sees; ranks given different
recipes or data are refused before training. Each scenario is one real torchrun job (gloo, CPU, tiny)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DDP_DATA, DDP_SETS, NORM_FREE_SPEC, assert_same_training, cli_env, read_metrics, torchrun

from archspec.artifacts.rundir import RunDir

WORKER = Path(__file__).with_name("elastic_worker.py")  # `archspec train`, with a kill where the test says
EPOCHS = ["--set", "epochs=2"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's folder: the spec, and a decode cache of its own."""
    root = tmp_path_factory.mktemp("multinode")
    (root / "norm-free.yaml").write_text(NORM_FREE_SPEC)
    return root


def env(place: Path, **extra: str) -> dict[str, str]:
    return {**cli_env(), "ARCHSPEC_CACHE": str(place / "cache"), **extra}


def train_args(place: Path, *extra: str) -> list[str]:
    return ["train", str(place / "norm-free.yaml"), *DDP_SETS, *DDP_DATA, *EPOCHS, *extra]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nodes(place: Path, per_node: Sequence[Sequence[str]]) -> list[subprocess.CompletedProcess[str]]:
    """One torchrun per entry of `per_node` (its archspec arguments), as on so many machines: --nnodes N,
    c10d rendezvous at 127.0.0.1, one process each.

    The rendezvous store is hosted here, not by a node (`is_host=false` on every node): when a node hosts it and
    finishes first, the other node's torchrun can fail to close the rendezvous (RendezvousConnectionError, exit
    1) after training has succeeded. docs/distributed.md gives users the same advice."""
    port = free_port()
    store = torch.distributed.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    launched = []
    for rank, args in enumerate(per_node):
        command = torchrun("--nnodes", str(len(per_node)), "--node-rank", str(rank), "--nproc-per-node", "1",
                           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id",
                           "two-nodes", "--rdzv-conf", "is_host=false", "-m", "archspec", *args)  # fmt: skip
        launched.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         env=env(place)))  # fmt: skip
    try:
        results = []
        for process in launched:
            stdout, stderr = process.communicate(timeout=600)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
        return results
    finally:
        for process in launched:
            if process.poll() is None:
                process.kill()
        del store  # the rendezvous outlived every node


@pytest.fixture(scope="module")
def one_process(place: Path) -> Path:
    """The reference: the same run in one plain process."""
    out = place / "one"
    done = subprocess.run([sys.executable, "-m", "archspec", *train_args(place, "--out", str(out))],
                          capture_output=True, text=True, env=env(place), timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(RunDir(run).last, weights_only=True)
    return {name: value for name, value in state["model"].items() if value.is_floating_point()}


def assert_same_run(reference: Path, other: Path) -> None:
    """Same metrics (test_distributed's tolerance) and the same final weights, up to float summation order: its
    differences grow over the 40 momentum steps to about 3e-4 of a tensor's norm (3e-3 for a small bias), where
    another seed or batch order differs by the norm itself."""
    assert_same_training(read_metrics(reference), read_metrics(other))
    mine, theirs = weights(reference), weights(other)
    assert mine.keys() == theirs.keys()
    for name, value in mine.items():
        assert float((theirs[name] - value).norm() / value.norm()) < 1e-2, name


def test_two_nodes_train_as_one_process(place: Path, one_process: Path) -> None:
    out = place / "two-nodes"
    results = nodes(place, [train_args(place, "--out", str(out))] * 2)
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    said = "".join(result.stdout for result in results)
    assert "2 processes (batch 16 each)" in said
    assert said.count("epoch 2/2") == 1  # rank 0 alone reports, on whichever node the rendezvous made it
    assert_same_run(one_process, out)


def test_a_killed_rank_restarts_the_group_which_continues_by_itself(place: Path, one_process: Path) -> None:
    # rank 1 dies in epoch 1, before any checkpoint (the restart starts afresh), and again in epoch 2, after
    # epoch 1's checkpoint (the restart continues from it). No --out: the folder is named
    # after the rendezvous id, the one name every attempt arrives at.
    work = place / "elastic"
    work.mkdir()
    command = torchrun("--nnodes", "1", "--nproc-per-node", "2", "--max-restarts", "4", "--rdzv-backend", "c10d",
                       "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", "job7", str(WORKER),
                       *train_args(place))  # fmt: skip
    kills = env(place, ELASTIC_KILLS="0:3,1:5", ELASTIC_KILLED_RANK="1", ELASTIC_MARKS=str(work))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=work, env=kills)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in work.glob("killed-*")) == ["killed-0-3", "killed-1-5"]
    run = work / "runs" / "tiny-norm-free-job7"
    resumed = [line for line in done.stdout.splitlines() if line.startswith("resuming")]
    assert resumed == [f"resuming {run.relative_to(work)} after epoch 1 of 2"], done.stdout
    assert_same_run(one_process, run)
    assert RunDir(run).writer() is None  # the lock was taken over and released
    assert len(RunDir(run).read_metrics()) == 2  # one row per epoch: nothing from the killed attempts twice
    files = ["checkpoints", "curves.png", "metrics.csv", "metrics.jsonl", "recipe.yaml", "run.json", "spec.yaml"]
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == files
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]  # no temporary files


def test_nodes_given_different_recipes_or_data_are_refused_before_training(place: Path) -> None:
    out = place / "refused"
    recipe = nodes(place, [train_args(place, "--out", str(out)),
                           train_args(place, "--out", str(out), "--set", "optimizer.lr=0.1")])  # fmt: skip
    data = nodes(place, [train_args(place, "--out", str(out)),
                         train_args(place, "--out", str(out), "--max-train", "320")])  # fmt: skip
    for results, what in ((recipe, "recipe (hash)"), (data, "data (")):
        assert all(result.returncode != 0 for result in results)
        stderr = "".join(result.stderr for result in results)
        assert f"archspec: error: rank 1 was given another {what}" in stderr, stderr  # archspec's one line, on
        assert "than rank 0 (sha256:" in stderr  # each node, before torchrun's own report of the failure
    assert not RunDir(out).has_checkpoint()


def folder_dataset(root: Path, count: int = 300) -> Path:
    """`count` images of the bundled sample as PNG files, one folder per class (a folder dataset)."""
    from PIL import Image

    from archspec.data import DataOptions, IdxData, Request, open_dataset

    sample = open_dataset(IdxData(kind="idx"), Request(DataOptions(data_dir="sample", max_train=count)))
    assert sample.train is not None and isinstance(sample.train.images, np.ndarray)
    for index, (image, label) in enumerate(zip(sample.train.images, sample.train.labels, strict=True)):
        folder = root / sample.classes[int(label)].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image).reshape(28, 28)).save(folder / f"{index:04}.png")
    return root


def test_a_folder_streamed_by_two_ranks_trains_as_one_process_holding_it(place: Path) -> None:
    root = folder_dataset(place / "images")
    data = [
        "--set",
        "dataset=null",
        "--set",
        f"data={{kind: folder, root: {root}, workers: 0, mean: [0.5], std: [0.5]}}",
    ]
    data += ["--max-train", "256", "--quiet"]  # whole batches: a short last batch splits 8/7, which DDP averages
    # as two means, not one (so the epoch's last step differs from one process's, by design of the strided split)
    base = ["train", str(place / "norm-free.yaml"), *DDP_SETS, *EPOCHS, *data]
    one = subprocess.run([sys.executable, "-m", "archspec", *base, "--out", str(place / "folder-one")],
                         capture_output=True, text=True, env=env(place), timeout=600)  # fmt: skip
    assert one.returncode == 0, one.stdout + one.stderr
    assert "decoding" in one.stdout and "streaming" not in one.stdout
    streamed = ["--set", "data.memory_limit=1000", "--out", str(place / "folder-two")]
    two = subprocess.run(torchrun("--standalone", "--nproc-per-node", "2", "-m", "archspec", *base, *streamed),
                         capture_output=True, text=True, env=env(place), timeout=600)  # fmt: skip
    assert two.returncode == 0, two.stdout + two.stderr
    assert "streaming from the files every epoch" in two.stdout
    a, b = read_metrics(place / "folder-one"), read_metrics(place / "folder-two")
    assert_same_training(a, b, examples=256)
