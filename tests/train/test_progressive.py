"""Progressive resizing (the recipe's progressive_resize): which size each epoch trains at, that the loop
feeds the network that size while test passes stay at the spec's, and that shrinking filters like PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import TINY_SPEC
from PIL import Image

from archspec.arch.validate import spec_from_text
from archspec.data.batches import TensorSplit
from archspec.data.preprocess import Preprocess, Preprocessing
from archspec.nn.build import build
from archspec.recipe.schema import ProgressiveResize, load_recipe
from archspec.train.loop import confusion_matrix, make_session, train_epoch

CPU = torch.device("cpu")


def test_the_side_holds_then_grows_to_the_spec_in_steps_of_the_multiple() -> None:
    ramp = ProgressiveResize(size=16, ramp=(10, 24))
    sides = [ramp.side(epoch, 28, 28) for epoch in range(1, 29)]
    assert all(side == (16, 16) for side in sides[:10])  # epochs 1-10
    assert all(side == (28, 28) for side in sides[23:])  # epoch 24 on
    grown = [h for h, _ in sides]
    assert grown == sorted(grown) and {16, 20, 24, 28} == set(grown)
    assert all(h == w and h % 4 == 0 for h, w in sides)


def test_the_longer_side_scales_with_the_shorter() -> None:
    ramp = ProgressiveResize(size=48, ramp=(1, 3), multiple=8)
    assert ramp.side(1, 96, 128) == (48, 64)
    assert ramp.side(2, 96, 128) == (72, 96)
    assert ramp.side(3, 96, 128) == (96, 128)


def test_the_loop_trains_at_the_epochs_size_and_tests_at_the_spec(tiny_split: TensorSplit) -> None:
    recipe = load_recipe("d2l", ["resize=null", "epochs=3", "batch_size=32", "augment={crop_padding: 2, flip: true}",
                                 "progressive_resize={size: 16, ramp: [1, 3]}"])  # fmt: skip
    torch.manual_seed(0)
    model = build(spec_from_text(TINY_SPEC))
    seen: list[tuple[int, ...]] = []
    model.register_forward_pre_hook(lambda _, args: seen.append(tuple(args[0].shape[-2:])))
    session = make_session(model, recipe, Preprocessing(28, 28, 1, (0.5,), (0.25,)), CPU, 2)
    sizes = []
    for epoch in range(3):
        seen.clear()
        train_epoch(session, tiny_split, epoch)
        sizes.append(set(seen))
    assert sizes == [{(16, 16)}, {(24, 24)}, {(28, 28)}]
    seen.clear()
    confusion_matrix(model, tiny_split, session.test_prep, 50, CPU, None, classes=10)
    assert set(seen) == {(28, 28)}


def test_a_smaller_size_is_filtered_as_pils_bilinear_resize_filters() -> None:
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(image).resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32)
    ours = Preprocess(size=(16, 16))(torch.from_numpy(image)[None]).squeeze().numpy() * 255
    plain = torch.nn.functional.interpolate(torch.from_numpy(image)[None, None].float(), size=(16, 16),
                                            mode="bilinear", align_corners=False).squeeze().numpy()  # fmt: skip
    assert np.abs(ours - expected).max() <= 1.0  # PIL rounds to uint8
    assert np.abs(plain - expected).max() > 10  # without the filter the small image aliases: the test can tell


@pytest.fixture()
def tiny_split() -> TensorSplit:
    g = torch.Generator().manual_seed(0)
    return TensorSplit(torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g),
                       torch.randint(0, 10, (64,), generator=g))  # fmt: skip
