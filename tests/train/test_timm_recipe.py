"""What each timm-level recipe field changes in training: step schedules, mixup and cutmix with their soft
targets, gradient clipping, the weight average (its updates, its column, best.pt, its checkpoint) and the
test-time flip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC, cli
from torch import nn
from torch.nn import functional as F

from archspec.arch.validate import spec_from_text
from archspec.artifacts.checkpoint import load_checkpoint
from archspec.data.preprocess import Preprocessing
from archspec.nn.build import build
from archspec.recipe.schema import Ema, load_recipe
from archspec.train.ema import WeightAverage
from archspec.train.loop import epoch_generator, lr_factor, make_session
from archspec.train.mix import Mix, soft_cross_entropy
from archspec.train.runs import DataOptions, train_run


def test_step_and_multistep_schedules_drop_at_epoch_boundaries() -> None:
    step = load_recipe("d2l", ["epochs=9", "schedule={kind: step, step_size: 3, gamma: 0.5}"])
    assert [lr_factor(step, s, 10) for s in (0, 29, 30, 59, 60, 89)] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    multi = load_recipe("d2l", ["epochs=9", "schedule={kind: multistep, milestones: [2, 7], gamma: 0.1}"])
    assert [lr_factor(multi, s, 10) for s in (19, 20, 69, 70)] == pytest.approx([1, 0.1, 0.1, 0.01])
    warm = load_recipe("d2l", ["epochs=9", "schedule={kind: multistep, milestones: [2], warmup_epochs: 1}"])
    assert lr_factor(warm, 4, 10) == pytest.approx(0.5)


def mix(**fields: float | None) -> Mix:
    settings = {"mixup": None, "cutmix": None, "mix_prob": 1.0, "switch_prob": 0.5, "label_smoothing": 0.0,
                "classes": 10, **fields}  # fmt: skip
    return Mix(**settings)  # type: ignore[arg-type]


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(8, 1, 12, 12), torch.arange(8) % 10


def test_mixup_blends_the_batch_with_its_reverse_and_the_targets_alike() -> None:
    x, y = batch()
    mixed = mix(mixup=0.4, label_smoothing=0.1)(x, y, torch.Generator().manual_seed(0))
    lam = mixed.share
    assert 0 < lam < 1
    assert torch.allclose(mixed.inputs, lam * x + (1 - lam) * x.flip(0), atol=1e-6)
    smooth = F.one_hot(y, 10).float() * 0.9 + 0.01  # timm's mixup_target: off = smoothing / classes
    assert torch.allclose(mixed.targets, lam * smooth + (1 - lam) * smooth.flip(0), atol=1e-6)
    assert torch.allclose(mixed.targets.sum(1), torch.ones(8))


def test_cutmix_pastes_one_box_and_corrects_the_share_to_its_area() -> None:
    x, y = batch()
    mixed = mix(cutmix=1.0)(x, y, torch.Generator().manual_seed(1))
    pasted = (mixed.inputs != x).any(0).any(0)  # (H, W): where the reversed batch shows
    assert pasted.any()
    assert mixed.share == pytest.approx(1 - pasted.sum().item() / 144)
    assert torch.equal(mixed.inputs[:, :, pasted], x.flip(0)[:, :, pasted])


def test_switch_prob_and_mix_prob_choose_how_often() -> None:
    x, y = batch()
    g = torch.Generator().manual_seed(2)
    both = mix(mixup=0.4, cutmix=1.0, switch_prob=1.0)
    assert all(both.draw(g)[1] for _ in range(20))  # always cutmix
    never = mix(mixup=0.4, mix_prob=0.0)(x, y, g)
    assert never.share == 1.0 and torch.equal(never.inputs, x)
    assert torch.equal(never.targets, F.one_hot(y, 10).float())


def test_mix_repeats_from_the_same_generator() -> None:
    x, y = batch()
    one = mix(mixup=0.4, cutmix=1.0)
    a, b = one(x, y, torch.Generator().manual_seed(5)), one(x, y, torch.Generator().manual_seed(5))
    assert torch.equal(a.inputs, b.inputs) and a.share == b.share


def test_soft_targets_without_mixing_are_label_smoothed_cross_entropy() -> None:
    logits, y = torch.randn(8, 10), torch.arange(8)
    targets = mix(mixup=0.4, mix_prob=0.0, label_smoothing=0.2)(torch.rand(8, 1, 4, 4), y, torch.Generator()).targets
    assert soft_cross_entropy(logits, targets) == pytest.approx(
        F.cross_entropy(logits, y, label_smoothing=0.2).item(), rel=1e-5
    )


def tiny_session(sets: list[str]):  # type: ignore[no-untyped-def]
    recipe = load_recipe("d2l", ["resize=null", "batch_size=8", "epochs=2", "channels_last=false",
                                 "precision=fp32", *sets])  # fmt: skip
    torch.manual_seed(0)
    model = build(spec_from_text(TINY_SPEC))
    prep = Preprocessing(28, 28, 1, (0.0,), (1.0,))
    return make_session(model, recipe, prep, torch.device("cpu"), 4, classes=10)


class Split:
    """Eight random images, in memory."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8, generator=g)
        self.labels = torch.arange(8) % 10

    def __len__(self) -> int:
        return 8

    def batches(self, order: torch.Tensor, size: int):  # type: ignore[no-untyped-def]
        for start in range(0, len(order), size):
            index = order[start : start + size]
            yield self.images[index], self.labels[index]


def one_step_change(sets: list[str]) -> float:
    from archspec.train.loop import train_epoch

    session = tiny_session(["optimizer.lr=1.0", *sets])
    before = torch.cat([p.detach().flatten().clone() for p in session.model.parameters()])
    train_epoch(session, Split(), 0)  # type: ignore[arg-type]
    after = torch.cat([p.detach().flatten() for p in session.model.parameters()])
    return float((after - before).norm())


def test_clip_grad_norm_bounds_the_update() -> None:
    # plain SGD at lr 1: one step moves the weights by the gradient itself, so by at most the clip norm
    assert one_step_change(["clip_grad_norm=0.01"]) == pytest.approx(0.01, rel=1e-3)
    assert one_step_change([]) > 0.05


def test_weight_average_follows_decay_warmup_and_every() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = WeightAverage(model, Ema(decay=0.75, warmup=1, every=2))
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(4.0)
        model[1].running_mean.fill_(8.0)
    average.update(model, 1)  # not a multiple of every: skipped
    assert torch.equal(average.module[0].weight, start)
    average.update(model, 2)  # the first update copies (torch's EMA starts at the weights)
    assert torch.equal(average.module[0].weight, start + 4.0)
    with torch.no_grad():
        model[0].weight.add_(4.0)
        model[1].running_mean.fill_(16.0)
    average.update(model, 4)  # past warmup: averaged, buffers included
    assert torch.allclose(average.module[0].weight, 0.75 * (start + 4.0) + 0.25 * (start + 8.0))
    assert torch.allclose(average.module[1].running_mean, torch.full((2,), 0.75 * 8.0 + 0.25 * 16.0))
    copying = WeightAverage(model, Ema(decay=0.75, warmup=10, every=1))
    with torch.no_grad():
        model[0].weight.add_(1.0)
    copying.update(model, 5)  # within warmup: a copy
    assert torch.equal(copying.module[0].weight, model[0].weight)
    state = average.state_dict()
    restored = WeightAverage(model, Ema(decay=0.75, warmup=1, every=2))
    restored.load_state_dict(state)
    assert torch.equal(restored.module[0].weight, average.module[0].weight)
    assert int(restored.average.n_averaged) == int(average.average.n_averaged)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "ema"
    recipe = load_recipe("d2l", ["resize=null", "epochs=2", "batch_size=32", "optimizer.momentum=0.9",
                                 "ema={decay: 0.9, warmup: 2}", "augment.mixup=0.2"])  # fmt: skip
    train_run(spec_from_text(TINY_SPEC), recipe, run_dir, DataOptions("sample", 300, 100), quiet=True,
              log=lambda _: None)  # fmt: skip
    return run_dir


def test_ema_is_evaluated_beside_the_weights_and_checkpointed(ema_run: Path) -> None:
    rows = [json.loads(line) for line in (ema_run / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= row["test_acc_ema"] <= 1 for row in rows)
    assert "test_acc_ema" in (ema_run / "metrics.csv").read_text().splitlines()[0]
    last = load_checkpoint(ema_run / "checkpoints" / "last.pt")
    assert last.training is not None and last.training.ema is not None
    assert set(last.training.ema["weights"]) == set(last.model)
    assert last.training.ema["updates"] > 0 and not last.averaged


def test_best_checkpoint_holds_the_better_of_weights_and_average(ema_run: Path) -> None:
    best = load_checkpoint(ema_run / "checkpoints" / "best.pt")
    row = best.metrics[-1]
    assert best.averaged == (row["test_acc_ema"] > row["test_acc"])
    assert best.best_accuracy() == max(max(r["test_acc"], r["test_acc_ema"]) for r in best.metrics)
    assert best.training is not None and best.training.ema is not None
    expected = best.training.ema["weights"] if best.averaged else None
    if expected is not None:
        assert all(torch.equal(best.model[name], expected[name]) for name in expected)


def test_epoch_generator_is_the_only_source_of_mix_draws() -> None:
    one = mix(mixup=0.4)
    x, y = batch()
    first = one(x, y, epoch_generator(load_recipe("d2l"), 3, torch.device("cpu")))
    torch.manual_seed(123)  # the global RNG does not matter
    again = one(x, y, epoch_generator(load_recipe("d2l"), 3, torch.device("cpu")))
    assert first.share == again.share


def test_eval_flip_averages_each_image_with_its_mirror() -> None:
    from archspec.data.batches import TensorSplit
    from archspec.train.loop import confusion_matrix

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))  # linear in the pixels: a mirror changes it
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (64,))

    def prep(x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255

    x = prep(images)
    with torch.no_grad():
        plain = model(x).argmax(1)
        mirrored = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)).argmax(1)
    assert not torch.equal(plain, mirrored)  # the test can tell the two apart

    def counts(flip: bool) -> torch.Tensor:
        return confusion_matrix(model, TensorSplit(images, labels), prep, 16, torch.device("cpu"), None,
                                classes=10, flip=flip)  # fmt: skip

    expect = torch.zeros(10, 10, dtype=torch.long)
    expect.index_put_((labels, mirrored), torch.ones(64, dtype=torch.long), accumulate=True)
    assert torch.equal(counts(True), expect)
    expect.zero_().index_put_((labels, plain), torch.ones(64, dtype=torch.long), accumulate=True)
    assert torch.equal(counts(False), expect)


def test_eval_flip_is_what_train_and_evaluate_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.train import fit, runs
    from archspec.train.runs import evaluate_checkpoint

    flips: list[bool] = []

    def spy(module):  # type: ignore[no-untyped-def]
        real = module.confusion_matrix

        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            flips.append(kwargs["flip"])
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "confusion_matrix", wrapped)

    spy(fit)
    spy(runs)
    recipe = load_recipe("d2l", ["resize=null", "epochs=1", "batch_size=32", "eval_flip=true"])
    train_run(spec_from_text(TINY_SPEC), recipe, tmp_path / "run", DataOptions("sample", 200, 100), quiet=True,
              log=lambda _: None)  # fmt: skip
    recorded = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["test_acc"]
    evaluation = evaluate_checkpoint(tmp_path / "run")
    assert flips and all(flips)  # every test pass, in training and in `archspec evaluate`
    assert evaluation.accuracy == recorded and evaluation.flip
    shown = cli("evaluate", tmp_path / "run", "--no-flip", "--png", tmp_path / "c.png")
    assert shown.returncode == 0 and flips[-1] is False and "mirrored" not in shown.stdout
    assert "mirrored (eval_flip)" in cli("evaluate", tmp_path / "run", "--png", tmp_path / "c.png").stdout


def test_ema_test_every_tests_the_average_on_its_epochs_and_the_last_and_changes_nothing_else(
    tmp_path: Path,
) -> None:
    def rows(test_every: int) -> list[dict[str, float]]:
        recipe = load_recipe("d2l", ["resize=null", "epochs=3", "batch_size=32",
                                     f"ema={{decay: 0.9, test_every: {test_every}}}"])  # fmt: skip
        run_dir = tmp_path / f"every{test_every}"
        train_run(spec_from_text(TINY_SPEC), recipe, run_dir, DataOptions("sample", 200, 60), quiet=True,
                  log=lambda _: None)  # fmt: skip
        return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]

    every, sparse = rows(1), rows(2)
    assert ["test_acc_ema" in row for row in sparse] == [False, True, True]  # epoch 2, then the last
    csv_rows = (tmp_path / "every2" / "metrics.csv").read_text().splitlines()
    assert csv_rows[0].endswith(",test_acc_ema") and csv_rows[1].endswith(",")  # epoch 1: an empty cell
    # testing the average less often leaves training alone: the same weights, the same averages where tested
    assert [r["test_acc"] for r in sparse] == [r["test_acc"] for r in every]
    assert [r["train_loss"] for r in sparse] == [r["train_loss"] for r in every]
    assert [r["test_acc_ema"] for r in sparse[1:]] == [r["test_acc_ema"] for r in every[1:]]
    best = load_checkpoint(tmp_path / "every2" / "checkpoints" / "best.pt")
    assert best.best_accuracy() == max(max(r["test_acc"], r.get("test_acc_ema", 0.0)) for r in sparse)
