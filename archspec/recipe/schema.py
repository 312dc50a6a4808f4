"""Training recipes: Pydantic models read from YAML exactly like specs (file:line:col errors). No torch import.

A recipe says how to train (data, schedule, optimizer, precision); the spec says what to train.
`--set PATH=VALUE` overrides use the one grammar of archspec.config.overrides: each value remembers
the override it came from, so an error names the override that caused it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from archspec.arch.guard import Workload
from archspec.config.diagnostics import validate
from archspec.config.document import Document, parse, read_text
from archspec.config.model import Model, Resolved, fail
from archspec.config.overrides import Override, apply_overrides, parse_override, parse_path
from archspec.config.sources import find_source
from archspec.config.text import did_you_mean
from archspec.data import CifarData, DataSource, FolderData, IdxData
from archspec.data.idx import Name
from archspec.data.policies import PolicyName
from archspec.errors import SpecError
from archspec.recipe.presets import recipe_dir
from archspec.spec.bounds import MAX_INPUT_SIDE, MAX_TEXT
from archspec.spec.compose import DIRECTIVES
from archspec.spec.schema import ResNetSpec

# Bounds: what the training code downstream takes without overflow (seeds, float32 arithmetic, memory).
MAX_LR = 100.0
MAX_EPOCHS = 100_000
MAX_BATCH = 65_536
MAX_SEED = 2**32 - 1
MAX_CROP_PADDING = 32  # source pixels on each side; CIFAR's is 4


class SGD(Model):
    kind: Literal["sgd"] = Field(description="Stochastic gradient descent (d2l trains with plain SGD).")
    lr: PositiveFloat = Field(le=MAX_LR, description="Peak learning rate.")
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="Momentum factor; 0 is d2l's plain SGD.")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0).")
    weight_decay: NonNegativeFloat = Field(0.0, le=1.0, description="L2 penalty added to the gradient.")

    @property
    def state_slots(self) -> int:
        """Tensors the optimizer keeps per parameter: the momentum buffer, if any."""
        return 1 if self.momentum > 0 else 0

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGD:
        if self.nesterov and self.momentum == 0:
            fail(("nesterov",), "needs momentum > 0 (torch refuses Nesterov without momentum)")
        return self


class AdamW(Model):
    kind: Literal["adamw"] = Field(description="Adam with decoupled weight decay.")
    lr: PositiveFloat = Field(le=MAX_LR, description="Peak learning rate.")
    betas: tuple[float, float] = Field(
        (0.9, 0.999), strict=False, description="Adam's running-average coefficients (a YAML list of two)."
    )
    weight_decay: NonNegativeFloat = Field(0.01, le=1.0, description="Decoupled weight decay.")

    @property
    def state_slots(self) -> int:
        """Tensors the optimizer keeps per parameter: Adam's two running averages."""
        return 2

    @model_validator(mode="after")
    def _betas_in_range(self) -> AdamW:
        for i, beta in enumerate(self.betas):
            if not 0.0 <= beta < 1.0:
                fail(("betas", i), f"must be in [0, 1), got {beta}")
        return self


Optimizer = Annotated[SGD | AdamW, Field(discriminator="kind")]


class Constant(Model):
    kind: Literal["constant"] = Field(description="The optimizer's lr throughout (after any warmup).")
    warmup_epochs: NonNegativeFloat = Field(
        0.0, le=MAX_EPOCHS, description="Linear warmup from 0 over this many epochs."
    )


class Cosine(Model):
    kind: Literal["cosine"] = Field(description="Cosine decay from lr to min_lr over the run, per step.")
    warmup_epochs: NonNegativeFloat = Field(
        0.0, le=MAX_EPOCHS, description="Linear warmup from 0 over this many epochs."
    )
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0, description="Final lr as a fraction of the peak lr.")


class OneCycle(Model):
    kind: Literal["onecycle"] = Field(description="Smith's one-cycle: cosine up to lr, then cosine down, per step.")
    pct_start: float = Field(0.25, gt=0.0, lt=1.0, description="Fraction of the steps spent rising.")
    div_factor: PositiveFloat = Field(25.0, le=1e6, description="Starting lr is lr / div_factor.")
    final_div_factor: PositiveFloat = Field(
        1e4, le=1e9, description="Final lr is lr / (div_factor * final_div_factor)."
    )


class Step(Model):
    kind: Literal["step"] = Field(description="The lr times gamma every step_size epochs (torch's StepLR), per step.")
    warmup_epochs: NonNegativeFloat = Field(
        0.0, le=MAX_EPOCHS, description="Linear warmup from 0 over this many epochs."
    )
    step_size: PositiveInt = Field(le=MAX_EPOCHS, description="Epochs between two decays.")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="Factor the lr is multiplied by at each decay.")


class MultiStep(Model):
    kind: Literal["multistep"] = Field(description="The lr times gamma at each milestone epoch (torch's MultiStepLR).")
    warmup_epochs: NonNegativeFloat = Field(
        0.0, le=MAX_EPOCHS, description="Linear warmup from 0 over this many epochs."
    )
    milestones: tuple[PositiveInt, ...] = Field(
        strict=False,
        min_length=1,
        max_length=100,
        description="Epochs (a YAML list, increasing) after which the lr is multiplied by gamma; each below epochs.",
    )
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="Factor the lr is multiplied by at each milestone.")

    @model_validator(mode="after")
    def _milestones_increase(self) -> MultiStep:
        for i in range(1, len(self.milestones)):
            if self.milestones[i] <= self.milestones[i - 1]:
                fail(("milestones", i), f"must be above the milestone before it ({self.milestones[i - 1]}), "
                     f"got {self.milestones[i]}")  # fmt: skip
        return self


Schedule = Annotated[Constant | Cosine | OneCycle | Step | MultiStep, Field(discriminator="kind")]
MAX_ALPHA = 100.0  # a Beta(alpha, alpha) concentration; beyond ~10 every draw is 1/2 already


class Augment(Model):
    crop_padding: NonNegativeInt = Field(
        0,
        le=MAX_CROP_PADDING,
        description="Random crop after zero padding by this many source pixels on each side; 0 for none.",
    )
    flip: bool = Field(False, description="Random horizontal flip with probability 1/2.")
    erasing: float = Field(
        0.0, ge=0.0, le=1.0, description="Probability of random erasing (Zhong et al. 2017) of one rectangle per image."
    )
    random_resized_crop: tuple[float, float] | None = Field(
        None,
        strict=False,
        description="Random-resized crop (Inception-style, for larger images): a random area fraction in [min, max] "
        "of each image at an aspect ratio in [3/4, 4/3], resized to the input size; null for none.",
    )

    mixup: float | None = Field(
        None,
        gt=0.0,
        le=MAX_ALPHA,
        description="Mixup (Zhang et al. 2018): blend each batch with itself reversed by a Beta(alpha, alpha) share; "
        "this is alpha (timm's mixup_alpha; 0.2 to 1 are usual); null for none.",
    )
    cutmix: float | None = Field(
        None,
        gt=0.0,
        le=MAX_ALPHA,
        description="CutMix (Yun et al. 2019): paste a box of the reversed batch, its area a Beta(alpha, alpha) "
        "share; this is alpha (timm's cutmix_alpha; 1.0 is usual); null for none.",
    )
    mix_prob: float = Field(
        1.0, ge=0.0, le=1.0, description="Probability that a batch is mixed at all (timm's prob), with mixup or cutmix."
    )
    switch_prob: float = Field(
        0.5, ge=0.0, le=1.0, description="With both mixup and cutmix: probability a mixed batch uses cutmix."
    )
    policy: PolicyName | None = Field(
        None,
        description="An automatic augmentation policy (kornia's), on whole batches at the stored resolution: "
        "randaugment (Cubuk et al. 2020), trivialaugment (Müller and Hutter 2021) or autoaugment (its ImageNet "
        "policy, Cubuk et al. 2019); null for none.",
    )
    policy_ops: PositiveInt = Field(
        2, le=14, description="randaugment: operations applied one after another to each batch (its N)."
    )
    policy_magnitude: PositiveInt = Field(
        9, le=29, description="randaugment: the strength of every operation, out of 30 (its M; torchvision's scale)."
    )

    @model_validator(mode="after")
    def _crop_scale(self) -> Augment:
        scale = self.random_resized_crop
        if scale is not None and not 0.0 < scale[0] <= scale[1] <= 1.0:
            fail(("random_resized_crop",), f"must be [min, max] with 0 < min <= max <= 1, got {list(scale)}")
        return self


class Ema(Model):
    decay: float = Field(
        0.999, gt=0.0, lt=1.0, description="Each update keeps this share of the average (torch's get_ema_multi_avg_fn)."
    )
    warmup: NonNegativeInt = Field(
        0,
        le=10**9,
        description="Optimizer steps during which the average copies the weights instead of averaging them (the "
        "first weights are far from the last); 0 averages from the first step.",
    )
    every: PositiveInt = Field(1, le=10**6, description="Update the average every this many optimizer steps.")
    test_every: PositiveInt = Field(
        1,
        le=10**6,
        description="Test the average after every this many epochs and after the last one (each test pass of the "
        "average costs as much as the weights'); the other epochs' rows have no test_acc_ema.",
    )

    def tested_after(self, epoch: int, epochs: int) -> bool:
        """Whether the average is tested after `epoch` (counted from 1) of a run of `epochs`."""
        return epoch % self.test_every == 0 or epoch == epochs


class ProgressiveResize(Model):
    """Train the first epochs on smaller images and grow them to the spec's input size (progressive resizing,
    as fast.ai's and FFCV's ResNet recipes do): a low-resolution epoch costs about the area ratio of a full one,
    and the last epochs at full size undo the change of scale. Test passes always run at the full size."""

    size: PositiveInt = Field(
        ge=8,
        le=MAX_INPUT_SIDE,
        description="The training inputs' shorter side in pixels up to epoch ramp[0] (the longer side scales "
        "alike); must be below the spec's input size.",
    )
    ramp: tuple[NonNegativeInt, PositiveInt] = Field(
        strict=False,
        description="[first, last] epochs (counted from 1): up to `first` the inputs have `size`, from `last` on the "
        "spec's size, in between the side grows linearly; last must not pass epochs.",
    )
    multiple: PositiveInt = Field(
        4,
        le=64,
        description="Round the growing side to a multiple of this (fewer shapes: fewer kernels to set up, fewer "
        "torch.compile recompiles).",
    )

    @model_validator(mode="after")
    def _ramp_increases(self) -> ProgressiveResize:
        if self.ramp[0] >= self.ramp[1]:
            fail(("ramp",), f"must be [first, last] with first < last, got {list(self.ramp)}")
        return self

    def side(self, epoch: int, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the training inputs in `epoch` (from 1) for a spec input of height x width."""
        full = min(height, width)
        first, last = self.ramp
        if epoch >= last or self.size >= full:
            return height, width
        grown = self.size + (full - self.size) * max(epoch - first, 0) / (last - first)
        short = min(max(round(grown / self.multiple) * self.multiple, self.size), full)
        return round(height * short / full), round(width * short / full)


Precision = Literal["auto", "fp32", "bf16", "fp16"]
InitKind = Literal["xavier", "default", "torchvision", "timm"]  # archspec.train.init.INITS implements each
_PART = re.compile(r"stem|stage[1-9][0-9]*")


class Recipe(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100, description="Short identifier.")
    description: str = Field("", max_length=MAX_TEXT, description="Free text.")
    tuned_for: str | None = Field(
        None, max_length=200, description="The spec this recipe was tuned for (a preset name or file), as "
        "`archspec list --recipes` shows it; for the reader, not checked when training another spec."
    )  # fmt: skip
    dataset: Name | None = Field(
        None, description="Shorthand for data: {kind: idx, name: ...}; with neither, fashion-mnist."
    )
    data: DataSource | None = Field(
        None, description="Training and test data: kind idx (fashion-mnist, mnist), folder (your images) or cifar."
    )
    resize: PositiveInt | None = Field(
        None,
        le=MAX_INPUT_SIDE,
        description="Resize images to this square size (bilinear, as d2l's Resize); must equal the spec's input "
        "size. null: the spec's input height and width.",
    )
    normalize: bool = Field(
        False,
        description="Subtract the training split's per-channel mean and divide by its std (d2l does not); "
        "the statistics are stored in checkpoints and exports.",
    )
    epochs: PositiveInt = Field(le=MAX_EPOCHS, description="Passes over the training set.")
    batch_size: PositiveInt = Field(le=MAX_BATCH, description="Training batch size.")
    eval_batch_size: PositiveInt = Field(512, le=MAX_BATCH, description="Batch size for the test set (no gradients).")
    eval_flip: bool = Field(
        False,
        description="Test-time flip: each test image is also classified mirrored and the two softmax outputs "
        "averaged (twice the test cost); for archspec's own evaluation: an exported model is the network alone.",
    )
    optimizer: Optimizer = Field(description="Optimizer and its settings.")
    schedule: Schedule = Field(default_factory=lambda: Constant(kind="constant"), description="Learning-rate schedule.")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="Cross-entropy label smoothing.")
    augment: Augment = Field(default_factory=Augment, description="Training-time augmentation, on whole batches.")
    seed: NonNegativeInt = Field(0, le=MAX_SEED, description="Seeds initialisation, shuffling and augmentation.")
    precision: Precision = Field(
        "auto",
        description="Autocast dtype: auto is bf16 where the device computes it natively (CUDA with bf16, a CPU "
        "with AVX512-BF16 or AMX), else fp32; fp16 uses a gradient scaler on CUDA.",
    )
    channels_last: bool | Literal["auto"] = Field(
        "auto",
        description="NHWC memory format: true, false, or auto (NHWC on CPUs and CUDA, where oneDNN's and cuDNN's "
        "convolutions are faster in it; NCHW on Apple MPS).",
    )
    conv_weight_grad: Literal["auto", "native", "swapped"] = Field(
        "auto",
        description="How convolutions on small maps (at most 6x6 outputs) get their weight gradient: native is "
        "oneDNN's backward-weights kernel; swapped computes the same gradient as a forward convolution with batch "
        "and channels swapped (nn/conv_grad.py), 1.4-7.8x faster on 3x3 kernels in bf16 on an AMX CPU; auto is "
        "swapped in bf16 on a CPU with AMX, where it was measured, else native.",
    )
    compile: bool = Field(False, description="torch.compile the model (slow first step; needs a C++ compiler on CPU).")
    sync_batchnorm: bool = Field(
        False,
        description="Under torchrun, normalise over the whole global batch (SyncBatchNorm; GPUs only) instead of "
        "each process's share.",
    )
    init: InitKind = Field(
        "xavier",
        description="xavier: Xavier-uniform conv and linear weights as d2l; default: PyTorch's own; torchvision: "
        "kaiming-normal (fan_out) convs, norms 1 and 0, as torchvision's ResNet; timm: the same with the last norm "
        "of every residual branch zeroed, as timm's ResNet (ResNetV2's init for a preact network).",
    )
    freeze: tuple[str, ...] = Field(
        (),
        strict=False,
        description="Parts whose weights stay as initialised or loaded by --init-from (a YAML list of stem, "
        "stage1, stage2, ...); their norms keep their running statistics.",
    )
    head_lr_scale: PositiveFloat = Field(
        1.0, description="The head's learning rate as a multiple of optimizer.lr (a new head often learns faster)."
    )
    ema: Ema | None = Field(
        None,
        description="An exponential moving average of the weights and batch-norm buffers, evaluated beside "
        "them (test_acc_ema, every ema.test_every epochs) and checkpointed; best.pt holds the better of the two; "
        "null for none.",
    )
    clip_grad_norm: PositiveFloat | None = Field(
        None, le=1e6, description="Clip the gradients' total L2 norm to this before each step; null for none."
    )
    progressive_resize: ProgressiveResize | None = Field(
        None,
        description="Smaller training inputs in the first epochs, growing to the spec's size (test passes stay at "
        "full size); null for none.",
    )

    @model_validator(mode="after")
    def _milestones_within_epochs(self) -> Recipe:
        if isinstance(self.schedule, MultiStep):
            for i, milestone in enumerate(self.schedule.milestones):
                if milestone >= self.epochs:
                    fail(("schedule", "milestones", i), f"epoch {milestone} is not below epochs ({self.epochs}): "
                         "the lr would never drop there")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _ramp_within_epochs(self) -> Recipe:
        if self.progressive_resize is not None and self.progressive_resize.ramp[1] > self.epochs:
            last = self.progressive_resize.ramp[1]
            fail(("progressive_resize", "ramp", 1), f"epoch {last} is past epochs ({self.epochs}): the inputs "
                 "would never reach the spec's size")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _freeze_names_parts(self) -> Recipe:
        for i, part in enumerate(self.freeze):
            if not _PART.fullmatch(part):
                fail(("freeze", i), f"{part!r} is not a part to freeze; choose from stem, stage1, stage2, ... "
                     "(the head always trains)")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _resize_not_tiny(self) -> Recipe:
        if self.resize is not None and self.resize < 8:
            fail(("resize",), f"must be at least 8 pixels, got {self.resize}")
        return self

    @model_validator(mode="after")
    def _one_data_source(self) -> Recipe:
        if self.dataset is not None and self.data is not None:
            fail(("data",), f"give data or its shorthand dataset: {self.dataset}, not both (--set dataset=null)")
        return self

    @property
    def source(self) -> IdxData | FolderData | CifarData:
        """The data to train on: `data`, or the `dataset` shorthand as an idx source."""
        if self.data is not None:
            return self.data
        return IdxData(kind="idx", name=self.dataset or "fashion-mnist")


def training_workload(recipe: Recipe) -> Workload:
    """What training with `recipe` holds in memory at once, for the resource guard (archspec.arch.guard)."""
    models = 2 if recipe.ema is not None else 1  # the average is a second copy of the weights
    return Workload(recipe.batch_size, True, recipe.optimizer.state_slots, models, recipe.eval_batch_size)


def resolve_recipe(
    source: str | Path | Document, overrides: Sequence[str | Override] = (), named_in: Path | None = None
) -> Resolved[Recipe]:
    """The one way in for a recipe: a path, a bundled name, YAML text or a parsed document (a sweep's inline
    base, a checkpoint's stored text) with each `PATH=VALUE` override applied, then validated; returned with
    its located document. `named_in`: the folder of the file that names `source` (config.sources' rule)."""
    if isinstance(source, Document):
        doc = source
    else:
        path = find_source(source, recipe_dir(), "recipe", named_in).path
        doc = parse(str(source), "<string>") if path is None else parse(read_text(path), str(path))
    doc = apply_overrides(doc, overrides)
    return Resolved(validate(doc, Recipe, "recipe"), doc)


def load_recipe(source: str | Path = "d2l", overrides: Sequence[str] = ()) -> Recipe:
    """A recipe from a path, a bundled name or YAML text, with `PATH=VALUE` overrides applied, then validated."""
    return resolve_recipe(source, overrides).model


def recipe_from_text(text: str, source: str = "<string>", overrides: Sequence[str] = ()) -> Recipe:
    """A recipe from its YAML text (a checkpoint's stored recipe, say), with overrides applied."""
    return resolve_recipe(parse(text, source), overrides).model


def dump_recipe(recipe: Recipe) -> str:
    """The canonical YAML of a recipe: every field resolved, in schema order."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, default_flow_style=None, width=100)


def trained_fields(recipe: Recipe) -> dict[str, Any]:
    """What trains: every field of the recipe but its name, description and tuned_for."""
    return recipe.model_dump(mode="json", exclude={"name", "description", "tuned_for"})


def recipe_hash(recipe: Recipe) -> str:
    """A stable hash of what trains (`trained_fields`), as spec_hash is of the architecture."""
    text = json.dumps(trained_fields(recipe), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


Target = Literal["spec", "recipe"]
PREFIXES: tuple[tuple[str, Target], ...] = (("spec.", "spec"), ("recipe.", "recipe"))  # explicit: spec.name=...
_FIRST_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")


def route(text: str, origin: str | None = None) -> tuple[Target, str]:
    """Where one `PATH=VALUE` (or a bare PATH: a sweep's space entry) goes, and the text without any prefix.

    The one override router, for `train --set`, a sweep file's `overrides:` and `space:` and every other
    command that takes both: an explicit `spec.` or `recipe.` prefix, else the field its first key names
    (spec fields and the extends/width/depth directives go to the spec). A key both have, or neither, is a
    SpecError naming `origin` (default `--set TEXT`)."""
    origin = origin or f"--set {text}"
    for prefix, target in PREFIXES:
        if text.startswith(prefix):
            return target, text.removeprefix(prefix)
    match = _FIRST_KEY.match(text)
    key = match[1] if match else str(parse_path(text.partition("=")[0], origin)[0])  # it says what is wrong
    spec_keys = {*ResNetSpec.model_fields, *DIRECTIVES}
    if key in spec_keys and key in Recipe.model_fields:
        raise SpecError(f"{origin}: both the spec and the recipe have {key!r}; write spec.{text} or recipe.{text}")
    if key in spec_keys:
        return "spec", text
    if key in Recipe.model_fields:
        return "recipe", text
    known = sorted({*Recipe.model_fields, *spec_keys})
    raise SpecError(f"{origin}: {key!r} is neither a recipe nor a spec field{did_you_mean(key, known)}; "
                    f"choose from {', '.join(known)}")  # fmt: skip


def route_overrides(
    texts: Sequence[str], origins: Sequence[str] | None = None
) -> tuple[list[Override], list[Override]]:
    """`texts` routed (`route`) and parsed: (spec overrides, recipe overrides), each remembering its origin
    (`origins[i]`, default `--set TEXT`) for the errors it may cause later."""
    routed: dict[Target, list[Override]] = {"spec": [], "recipe": []}
    for index, text in enumerate(texts):
        origin = origins[index] if origins is not None else None
        target, rest = route(text, origin)
        routed[target].append(parse_override(rest, origin))
    return routed["spec"], routed["recipe"]


def split_overrides(sets: Sequence[str]) -> tuple[list[str], list[str]]:
    """`--set PATH=VALUE` texts routed (`route`): (spec texts, recipe texts), prefixes removed."""
    spec_sets: list[str] = []
    recipe_sets: list[str] = []
    for item in sets:
        target, rest = route(item)
        (spec_sets if target == "spec" else recipe_sets).append(rest)
    return spec_sets, recipe_sets
