"""Every numeric recipe field is bounded by what training takes without overflow: no seed beyond 2^32, no lr
near float max, no crop padding that allocates terabytes, no .nan or .inf anywhere."""

from __future__ import annotations

import pytest

from archspec import SpecError
from archspec.recipe.schema import load_recipe, training_workload


@pytest.mark.parametrize(
    "override",
    ["seed=9223372036854775808", "seed=4294967296", "optimizer.lr=1.7e308", "optimizer.lr=.nan",
     "optimizer.weight_decay=.inf", "augment.crop_padding=1000000", "epochs=100000000000",
     "batch_size=9223372036854775807", "eval_batch_size=10000000", "resize=100000",
     "schedule={kind: cosine, warmup_epochs: .inf}", "schedule={kind: onecycle, div_factor: 1e300}",
     "label_smoothing=.nan", "optimizer={kind: adamw, lr: 0.001, betas: [.nan, 0.9]}"],
)  # fmt: skip
def test_out_of_range_recipe_values_are_one_line_errors(override: str) -> None:
    with pytest.raises(SpecError) as info:
        load_recipe("d2l", [override])
    message = str(info.value)
    assert message.startswith(f"--set {override[:20]}") and "\n" not in message


def test_the_training_workload_counts_the_optimizers_state() -> None:
    assert training_workload(load_recipe("d2l")).optimizer_slots == 0  # plain SGD
    assert training_workload(load_recipe("d2l", ["optimizer.momentum=0.9"])).optimizer_slots == 1
    workload = training_workload(load_recipe("fashion-best"))
    assert (workload.optimizer_slots, workload.batch_size, workload.eval_batch_size) == (2, 128, 1000)
