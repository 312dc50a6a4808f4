"""The training loop: a client of the builder, driven by a recipe.

Fast-path choices, each measured in docs/benchmarks.md:
- the dataset lives on the training device as uint8 (or is memory-mapped from the decode cache, or
  streamed from its files when it does not fit) and each batch is prepared there (preprocess.py);
- loss and accuracy are summed on the device and read back only at a progress update (about 20 per
  epoch) and at the end of the epoch, not once per batch as d2l's Accumulator does;
- channels_last memory format, autocast to bf16/fp16 where the device computes it natively,
  `inference_mode` for evaluation, cudnn.benchmark on CUDA;
- test passes on a copy with the batch norms folded into the convolutions (nn/fold.py).
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from archspec.artifacts.checkpoint import Checkpoint, Resumable
from archspec.data.augment import Policy
from archspec.data.batches import Batches
from archspec.data.preprocess import Preprocess, Preprocessing, pair
from archspec.errors import ArchspecError, CheckpointError
from archspec.nn.conv_grad import swap_weight_grad
from archspec.nn.fold import eval_copy
from archspec.recipe.schema import SGD, Constant, Cosine, MultiStep, OneCycle, Recipe, Step
from archspec.runtime import (
    autocast,
    resolve_channels_last,
    resolve_conv_weight_grad,
    resolve_precision,
    to_channels_last,
)
from archspec.train.callbacks import Callback, StepUpdate
from archspec.train.distributed import World
from archspec.train.ema import WeightAverage
from archspec.train.finetune import freeze, param_groups
from archspec.train.mix import Mix, soft_cross_entropy

# --- model, optimizer, schedule -----------------------------------------------------------------


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over the trainable parameters (the head in its own group under head_lr_scale)."""
    opt = recipe.optimizer
    groups = param_groups(model, recipe, opt.lr)
    if isinstance(opt, SGD):
        return torch.optim.SGD(
            groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov, weight_decay=opt.weight_decay
        )
    return torch.optim.AdamW(groups, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)


def lr_factor(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """The learning rate at optimizer step `step`, as a fraction of the recipe's lr. Pure function of the step."""
    schedule = recipe.schedule
    total = max(recipe.epochs * steps_per_epoch, 1)
    if isinstance(schedule, OneCycle):
        rise = max(int(schedule.pct_start * total), 1)
        start = 1.0 / schedule.div_factor
        end = start / schedule.final_div_factor
        if step < rise:
            return start + (1.0 - start) * (1 - math.cos(math.pi * step / rise)) / 2
        t = min((step - rise) / max(total - rise, 1), 1.0)
        return end + (1.0 - end) * (1 + math.cos(math.pi * t)) / 2
    warmup = int(schedule.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if isinstance(schedule, Constant):
        return 1.0
    if isinstance(schedule, Step | MultiStep):  # epoch boundaries, as torch's StepLR and MultiStepLR stepped per epoch
        epoch = step // max(steps_per_epoch, 1)
        drops = epoch // schedule.step_size if isinstance(schedule, Step) else bisect_right(schedule.milestones, epoch)
        return float(schedule.gamma**drops)
    assert isinstance(schedule, Cosine)
    t = min((step - warmup) / max(total - warmup, 1), 1.0)
    return schedule.min_lr_ratio + (1.0 - schedule.min_lr_ratio) * (1 + math.cos(math.pi * t)) / 2


def make_scheduler(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(recipe, step, steps_per_epoch))


# --- one epoch ----------------------------------------------------------------------------------


@dataclass
class Session:
    """Everything one training run holds between epochs."""

    model: nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    recipe: Recipe
    device: torch.device
    dtype: torch.dtype | None
    train_prep: Preprocess
    test_prep: Preprocess
    world: World = field(default_factory=World)
    history: list[dict[str, Any]] = field(default_factory=list)
    mix: Mix | None = None  # the recipe's mixup and cutmix
    average: WeightAverage | None = None  # the recipe's ema


def epoch_generator(recipe: Recipe, epoch: int, device: torch.device) -> torch.Generator:
    """Shuffling and augmentation randomness of one epoch: a function of (seed, epoch) only, so resume repeats it."""
    generator = torch.Generator(device=device)
    generator.manual_seed(recipe.seed * 1_000_003 + epoch)
    return generator


def epoch_prep(prep: Preprocess, recipe: Recipe, epoch: int) -> Preprocess:
    """The training transform of `epoch` (from 0): at the recipe's progressive_resize size for that epoch."""
    if recipe.progressive_resize is None or prep.size is None:
        return prep
    height, width = pair(prep.size)
    return dataclasses.replace(prep, size=recipe.progressive_resize.side(epoch + 1, height, width))


def train_epoch(
    session: Session, split: Batches, epoch: int, callback: Callback | None = None
) -> tuple[float, float, int]:
    """One pass over `split`; returns (mean loss, accuracy, examples). Syncs with the device only where
    `callback` asks for step updates (its `step_every`; about 20 an epoch for the progress bar) and at the end.

    Under torchrun every rank prepares the same global batch and trains on its share of it.
    """
    recipe, device, world = session.recipe, session.device, session.world
    every = callback.step_every if callback is not None else 0
    session.model.train()
    generator = epoch_generator(recipe, epoch, device)
    n = len(split)
    order = torch.randperm(n, device=device, generator=generator)
    steps = math.ceil(n / recipe.batch_size)
    prep = epoch_prep(session.train_prep, recipe, epoch)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0  # examples of the global batches so far (the same on every rank)
    for step, (images, labels) in enumerate(split.batches(order, recipe.batch_size)):
        if labels.numel() == 0:  # a streamed batch whose every file was skipped as unreadable
            continue
        x = prep(images, generator)
        targets = None
        if session.mix is not None:  # on the global batch, so every rank mixes alike
            mixed = session.mix(x, labels, generator)
            x, targets, labels = mixed.inputs, world.shard(mixed.targets), mixed.labels
            if session.train_prep.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        x, y = world.shard(x), world.shard(labels)
        with autocast(device, session.dtype):
            logits = session.forward(x)
            if targets is None:
                loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            else:  # label smoothing is inside the mixed targets
                loss = soft_cross_entropy(logits, targets)
            if y.shape[0] == 0:  # a last batch smaller than the ranks: this rank's share is empty (the mean of
                loss = logits.float().sum()  # nothing is NaN); a zero joined to the graph keeps DDP's all-reduce
        session.optimizer.zero_grad(set_to_none=True)
        # DDP averages the ranks' gradients: weigh each rank's mean by its share, so that a short last batch
        # split 8/7 trains on the global batch's mean, as one process does
        weighted = loss * world.share(int(y.shape[0]), int(labels.shape[0]))
        session.scaler.scale(weighted).backward()  # type: ignore[no-untyped-call]
        if recipe.clip_grad_norm is not None:
            session.scaler.unscale_(session.optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(session.model.parameters(), recipe.clip_grad_norm)
        session.scaler.step(session.optimizer)
        session.scaler.update()
        session.scheduler.step()
        if session.average is not None:
            session.average.update(session.model, session.scheduler.last_epoch)  # LambdaLR counts the steps
        loss_sum += loss.detach().float() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()
        seen += int(labels.shape[0])
        if callback is not None and every and ((step + 1) % every == 0 or step == steps - 1):
            callback.on_step(StepUpdate(epoch + 1, step + 1, steps, seen, loss_sum.item() * world.size / seen,
                                        correct.item() * world.size / seen,
                                        session.optimizer.param_groups[0]["lr"]))  # fmt: skip
    world.sum(loss_sum)
    world.sum(correct)
    loss_value = loss_sum.item() / max(seen, 1)
    if not math.isfinite(loss_value):
        raise ArchspecError(f"epoch {epoch + 1}: training loss is {loss_value}; lower optimizer.lr or use fp32")
    return loss_value, correct.item() / max(seen, 1), seen


def confusion_matrix(
    model: nn.Module,
    split: Batches,
    prep: Preprocess,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None,
    world: World | None = None,
    *,
    classes: int,
    flip: bool = False,
) -> torch.Tensor:
    """(classes, classes) counts, rows true, columns predicted; accumulated on the device, one sync at the end.

    `flip` (the recipe's eval_flip): the prediction averages the softmax of each image and of its mirror.
    The pass runs on an eval-mode copy of `model` with its batch norms folded into the convolutions (the
    same function within rounding, about 1.15x faster); `model` itself is left as it was.
    Under torchrun each rank evaluates its strided share of the split and the counts are summed.
    """
    world = world or World()
    order = torch.arange(len(split))[world.rank :: world.size]
    counts = torch.zeros(classes * classes, dtype=torch.long, device=device)
    model = eval_copy(model)  # a copy: the model trains on, its norms unfolded
    with torch.inference_mode(), autocast(device, dtype):
        for images, labels in split.batches(order, batch_size):
            if labels.numel() == 0:
                continue
            inputs = prep(images)
            scores = model(inputs)
            if flip:
                scores = scores.float().softmax(1) + model(inputs.flip(-1)).float().softmax(1)
            predicted = scores.argmax(1)
            counts += torch.bincount(labels * classes + predicted, minlength=classes * classes)
    return world.sum(counts).view(classes, classes).cpu()


def accuracy(matrix: torch.Tensor) -> float:
    return float(matrix.diagonal().sum()) / max(int(matrix.sum()), 1)


# --- the run ------------------------------------------------------------------------------------


def preprocessors(recipe: Recipe, preprocessing: Preprocessing, device: torch.device) -> tuple[Preprocess, Preprocess]:
    """(train, test) transforms to the spec's input size, in the memory format the recipe resolves to on
    `device`; only the training one augments."""
    channels_last, _ = resolve_channels_last(recipe.channels_last, device)
    test = Preprocess.for_testing(preprocessing, recipe.normalize, channels_last)
    aug = recipe.augment
    train = dataclasses.replace(
        test,
        crop_padding=aug.crop_padding,
        flip=aug.flip,
        erasing=aug.erasing,
        random_resized_crop=aug.random_resized_crop,
        policy=_policy(recipe, preprocessing.channels),
    )
    return train, test


def _policy(recipe: Recipe, channels: int) -> Policy | None:
    aug = recipe.augment
    return None if aug.policy is None else Policy(aug.policy, channels, aug.policy_ops, aug.policy_magnitude)


def make_session(
    model: nn.Module,
    recipe: Recipe,
    preprocessing: Preprocessing,
    device: torch.device,
    steps_per_epoch: int,
    world: World | None = None,
    classes: int | None = None,
) -> Session:
    """A session ready to train; `classes` (the head's) is needed only when the recipe mixes batches."""
    world = world or World()
    dtype, _ = resolve_precision(recipe.precision, device)
    freeze(model, recipe.freeze)
    model.to(device)
    if resolve_channels_last(recipe.channels_last, device)[0]:
        to_channels_last(model)
    if resolve_conv_weight_grad(recipe.conv_weight_grad, device, dtype)[0]:
        swap_weight_grad(model)
    trained = world.wrap(model, device, recipe.sync_batchnorm)  # DistributedDataParallel under torchrun
    optimizer = make_optimizer(model, recipe)
    forward: Callable[[torch.Tensor], torch.Tensor] = trained
    if recipe.compile:
        forward = torch.compile(trained)
    train_prep, test_prep = preprocessors(recipe, preprocessing, device)
    return Session(
        model=model,
        forward=forward,
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, recipe, steps_per_epoch),
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
        recipe=recipe,
        device=device,
        dtype=dtype,
        train_prep=train_prep,
        test_prep=test_prep,
        world=world,
        mix=Mix.from_recipe(recipe, classes or _head_classes(model)),
        average=WeightAverage(model, recipe.ema) if recipe.ema is not None else None,
    )


def _head_classes(model: nn.Module) -> int:
    """The class count of a model's last linear layer (every archspec head ends in one)."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linear, "an archspec model ends in a linear head"
    return linear[-1].out_features


def session_state(session: Session) -> Resumable:
    """The resumable part of a session beyond its weights and metrics: optimizer, schedule, scaler, RNG."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if session.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(session.device)
    ema = session.average.state_dict() if session.average is not None else None
    return Resumable(session.optimizer.state_dict(), session.scheduler.state_dict(), rng, session.scaler.state_dict(),
                     ema)  # fmt: skip


def restore_session(session: Session, checkpoint: Checkpoint) -> int:
    """Load a checkpoint into a fresh session; returns the number of completed epochs."""
    if checkpoint.training is None:
        raise CheckpointError(f"{checkpoint.source}: holds imported weights, not a run to resume")
    session.model.load_state_dict(checkpoint.model)
    checkpoint.training.restore(session.optimizer, session.scheduler, session.scaler, session.device,
                                checkpoint.source)  # fmt: skip
    if session.average is not None:
        if checkpoint.training.ema is None:
            raise CheckpointError(f"{checkpoint.source}: holds no weight average for the recipe's ema to continue")
        session.average.load_state_dict(checkpoint.training.ema)
    session.history = [dict(row) for row in checkpoint.metrics]
    return checkpoint.epoch
