"""A damaged, malformed or forged checkpoint is a one-line CheckpointError before anything large is built:
types and shapes of every part, the metrics rows' columns, class names against the head, preprocessing,
the weights' checksum, the stored spec against the limits, names and shapes; and on resume, optimizer and
scheduler states that do not fit the recipe's."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import TINY_SPEC, cli

import archspec
from archspec import build, spec_hash
from archspec.arch.validate import spec_from_text
from archspec.artifacts.checkpoint import (
    CHECKSUM,
    Checkpoint,
    checkpoint_spec,
    load_checkpoint,
    save_checkpoint,
    state_checksum,
)
from archspec.errors import CheckpointError
from archspec.recipe.schema import dump_recipe, load_recipe
from archspec.spec.io import dump_spec


def make_state() -> dict[str, Any]:
    """What a training run stores after one epoch, made directly (no data, no training)."""
    spec = spec_from_text(TINY_SPEC)
    torch.manual_seed(0)
    model = build(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # the d2l recipe's: plain SGD, one group
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)  # the loop's kind of scheduler
    row = {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, "test_acc": 0.7, "examples_per_sec": 100.0,
           "wall_seconds": 1.0, "lr": 0.1}  # fmt: skip
    return {
        "epoch": 1,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "metrics": [row],
        "spec_text": dump_spec(spec),
        "spec_hash": spec_hash(spec),
        "recipe_text": dump_recipe(load_recipe("d2l", ["resize=null", "epochs=2"])),
    }


def checkpoint(**changes: Any) -> Checkpoint:
    """make_state() with `changes`, as the typed checkpoint a current archspec reads it as."""
    return Checkpoint.from_state({"format": "archspec-checkpoint/1", **make_state(), **changes}, "<test>")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", checkpoint())
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", checkpoint())
    return tmp_path / "run"


def damaged(tmp_path: Path, **changes: Any) -> Path:
    """A checkpoint written with torch.save as is (the checksum of the original weights kept)."""
    path = tmp_path / "damaged.pt"
    state = {"format": "archspec-checkpoint/1", **make_state()}
    state[CHECKSUM] = state_checksum(state["model"])
    state.update(changes)
    torch.save(state, path)
    return path


PREPROCESS = {"height": 28, "width": 28, "channels": 1, "channel_order": "L", "scale": 1 / 255, "mean": [0.5],
              "std": [0.5]}  # fmt: skip
MALFORMED: dict[str, dict[str, Any]] = {
    "epoch-text": {"epoch": "3"},
    "epoch-negative": {"epoch": -1},
    "epoch-huge": {"epoch": 10**12},
    "epoch-bool": {"epoch": True},
    "model-list": {"model": [1, 2]},
    "model-numbers": {"model": {"w": 1.0}},
    "optimizer-list": {"optimizer": []},
    "optimizer-no-groups": {"optimizer": {"state": {}}},
    "scheduler-none": {"scheduler": None},
    "rng-short": {"rng": {"torch": torch.zeros(3, dtype=torch.uint8)}},
    "rng-text": {"rng": "seed"},
    "metrics-text": {"metrics": "none"},
    "metrics-rows": {"metrics": [{"epoch": "one"}]},
    "metrics-count": {"metrics": []} | {"epoch": 1, "metrics": [{"epoch": 1}, {"epoch": 2}]},
    "metrics-row-lacks-columns": {"metrics": [{"epoch": 1, "train_loss": 0.5}]},
    "spec-text-number": {"spec_text": 5},
    "classes-not-the-head": {"classes": ["a", "b"]},
    "classes-numbers": {"classes": [1, 2]},
    "preprocess-without-mean": {"preprocess": {k: v for k, v in PREPROCESS.items() if k != "mean"}},
    "preprocess-other-size": {"preprocess": {**PREPROCESS, "height": 96, "width": 96}},
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_checkpoints_are_one_line_errors(tmp_path: Path, name: str) -> None:
    path = damaged(tmp_path, **MALFORMED[name])
    with pytest.raises(CheckpointError, match=f"^{path}: malformed checkpoint: ") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    for command in (["evaluate", path, "--data-dir", "sample"], ["export", path, "--format", "onnx"]):
        done = cli(*command)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "malformed checkpoint" in done.stderr


def test_a_bit_flip_in_the_weights_is_caught_by_the_checksum(tmp_path: Path) -> None:
    weights = make_state()["model"]
    name = next(key for key, value in weights.items() if value.is_floating_point())
    flipped = weights[name].clone()
    flipped.view(-1).view(torch.int32)[0] ^= 1 << 20
    path = damaged(tmp_path, model={**weights, name: flipped})
    with pytest.raises(CheckpointError, match="do not match their checksum"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_spec_are_listed_on_one_line(tmp_path: Path) -> None:
    weights = dict(make_state()["model"])
    del weights["head.fc.bias"]
    weights["head.fc.weight"] = torch.zeros(7, 16)
    weights["extra.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pt"
    save_checkpoint(path, checkpoint(model=weights))
    with pytest.raises(CheckpointError) as info:
        archspec.checkpoint_model(path)
    message = str(info.value)
    assert "\n" not in message and "1 missing (head.fc.bias)" in message and "1 unexpected (extra.weight)" in message
    assert "head.fc.weight 7x16 float32 (expected 10x16 float32)" in message


def test_a_forged_huge_spec_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    huge = spec_from_text(TINY_SPEC.replace("{channels: 16, blocks: 1, stride: 2}", "{channels: 60000, blocks: 1}"))
    tracemalloc.start()
    try:
        state = checkpoint(spec_text=dump_spec(huge), spec_hash=spec_hash(huge))
        with pytest.raises(CheckpointError, match=r"stored spec: .* exceeds the limit .*ARCHSPEC_MAX_"):
            checkpoint_spec(state, tmp_path / "forged.pt")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20


def test_checkpoint_model_takes_str_and_run_folders(run_dir: Path) -> None:
    model, spec = archspec.checkpoint_model(str(run_dir))
    assert spec.name == "tiny" and not model.training
    model, _ = archspec.checkpoint_model(str(run_dir / "checkpoints" / "last.pt"))
    assert sum(p.numel() for p in model.parameters()) == archspec.lower(spec).params


@pytest.mark.parametrize("record", ['{"data_options": {"max_train": "many"}}', '{"data_options": {"data_dir": 5}}',
                                    '{"data_options": {"max_test": -3}}'])  # fmt: skip
def test_a_wrong_typed_run_record_is_one_line(run_dir: Path, record: str) -> None:
    (run_dir / "run.json").write_text(record)
    done = cli("train", "--resume", run_dir, "--quiet")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "malformed run record" in done.stderr
    json.loads(record)  # the record itself is valid JSON: only its types are wrong


def test_evaluate_names_the_limit_that_works_for_it(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHSPEC_MAX_PARAMS", "10")
    done = cli("evaluate", run_dir, "--data-dir", "sample")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "raise it with the environment variable ARCHSPEC_MAX_PARAMS" in done.stderr and "--max" not in done.stderr


RESUME_MISFITS: dict[str, tuple[dict[str, Any], str]] = {
    "two-groups": (
        {"param_groups": "twice"},
        "optimizer state does not fit the recipe's optimizer: param_groups has 2",
    ),
    "fewer-params": ({"param_groups": "short"}, "param_groups[0] has 1 parameters, the model has"),
    "scheduler-fields": ({"scheduler": "no base_lrs"}, "scheduler state lacks base_lrs"),
}


@pytest.mark.parametrize("name", sorted(RESUME_MISFITS))
def test_resume_with_a_state_that_does_not_fit_the_recipe_is_one_line(run_dir: Path, name: str) -> None:
    """What loads as a checkpoint but not into the recipe's optimizer or scheduler: named, before training."""
    change, message = RESUME_MISFITS[name]
    state = make_state()
    optimizer, scheduler = state["optimizer"], dict(state["scheduler"])
    group = optimizer["param_groups"][0]
    if change.get("param_groups") == "twice":
        optimizer = {**optimizer, "param_groups": [group, {**group, "params": []}]}
    elif change.get("param_groups") == "short":
        optimizer = {**optimizer, "param_groups": [{**group, "params": group["params"][:1]}]}
    else:
        del scheduler["base_lrs"]
    save_checkpoint(run_dir / "checkpoints" / "last.pt", checkpoint(optimizer=optimizer, scheduler=scheduler))
    (run_dir / "run.json").write_text('{"data_options": {"data_dir": "sample", "max_train": 32, "max_test": 16}}')
    done = cli("train", "--resume", run_dir, "--quiet")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr and "last.pt" in done.stderr
