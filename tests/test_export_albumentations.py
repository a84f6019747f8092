"""albumentations export: each op's agreement with augsearch, the pipeline's structure and
probabilities, the errors for what cannot be exported, and A.save / A.load round trips."""

from __future__ import annotations

import math
import os

import export_helpers
import numpy as np
import pytest
from export_helpers import SIZE, agreement_rows, assert_agrees_at_each_magnitude_and_sign, astronaut, refusals
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402, N812

from augsearch import Cutout, Policy, RandAugment, TrivialAugment, load_policy  # noqa: E402
from augsearch.errors import PolicyError  # noqa: E402
from augsearch.export.albumentations import to_albumentations  # noqa: E402
from augsearch.ops import DEFAULT_CUTOUT_FILL  # noqa: E402
from augsearch.plans import Applied, apply_plan  # noqa: E402


def one_op(policy: Policy, negate: bool, *, aspect: float = 1.0) -> A.BasicTransform:
    """The exported transform of a one-op policy; for a signed op, the +v (first) or -v variant."""
    op = to_albumentations(policy, aspect=aspect).transforms[0].transforms[0].transforms[0]
    return op.transforms[int(negate)] if isinstance(op, A.OneOf) else op


def agreement(convention: str, name: str, magnitude: float | None, negate: bool, *,
              image: Image.Image | None = None, aspect: float = 1.0) -> tuple[float, float]:
    """Mean absolute difference and % of values within +-8 between augsearch and albumentations."""
    def theirs(policy: Policy, image: Image.Image) -> np.ndarray:
        return one_op(policy, negate, aspect=aspect)(image=np.asarray(image), force_apply=True)["image"]
    return export_helpers.agreement(convention, name, magnitude, negate, theirs, image=image)


AGREEMENT = agreement_rows("albumentations")


@pytest.mark.parametrize(("convention", "name", "magnitudes", "max_diff", "min_within"), AGREEMENT,
                         ids=[f"{c}-{n}" for c, n, *_ in AGREEMENT])
def test_each_op_agrees_with_augsearch_within_its_measured_bound(convention, name, magnitudes, max_diff,
                                                                  min_within):
    assert_agrees_at_each_magnitude_and_sign(agreement, convention, name, magnitudes, max_diff, min_within)


def test_shear_pivot_correction_follows_the_aspect_ratio():
    wide = astronaut(128, 64)
    for name in ("ShearX", "ShearY"):
        corrected = agreement("autoaugment", name, 9, False, image=wide, aspect=0.5)
        assumed_square = agreement("autoaugment", name, 9, False, image=wide)
        assert corrected[0] < 10.0 and assumed_square[0] > 40.0, (name, corrected, assumed_square)


def test_signed_variants_are_plus_then_minus_and_mirror_each_other():
    rotate = one_op(Policy([[("Rotate", 1.0, 9)]]), negate=False), one_op(Policy([[("Rotate", 1.0, 9)]]), True)
    assert rotate[0].rotate == (30.0, 30.0) and rotate[1].rotate == (-30.0, -30.0)
    shear = one_op(Policy([[("ShearX", 1.0, 9)]]), negate=False)
    angle = math.degrees(math.atan(0.3))
    assert shear.shear["x"] == pytest.approx((angle, angle))
    assert shear.translate_percent["x"] == pytest.approx((-0.15, -0.15))


def _holes(image: np.ndarray, out: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.any(out != image, axis=-1))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(("policy", "side", "fill"), [
    (Cutout(16), 16, (125, 123, 114)),
    (Cutout(24, fill=7), 24, (7, 7, 7)),
    (Policy([[("Cutout", 1.0, 9)]]), int(SIZE * 60 / 331), DEFAULT_CUTOUT_FILL),
], ids=["family-16", "family-24", "autoaugment-9"])
def test_cutout_erases_a_square_of_the_same_side_and_colour(policy, side, fill):
    image = astronaut()
    pipeline = to_albumentations(policy)
    pipeline.set_random_seed(3)
    out = pipeline(image=np.asarray(image))["image"]
    x0, y0, x1, y1 = _holes(np.asarray(image), out)
    assert (x1 - x0, y1 - y0) == (side, side)
    assert (out[y0:y1, x0:x1] == fill).all()
    centre = ((x0 + x1) / 2 / SIZE, (y0 + y1) / 2 / SIZE)
    ours = apply_plan(image, (Applied("Cutout", "Cutout", float(side), centre),), fill=(0, 0, 0),
                      interpolation="nearest", cutout_fill=fill)
    assert np.array_equal(np.asarray(ours), out)


# ----------------------------------------------------------------------------- structure


def test_policy_is_a_uniform_choice_of_sequences_with_each_ops_probability():
    policy = Policy([[("Invert", 0.3, None), ("Rotate", 0.7, 4)], [("Equalize", 1.0, None)]])
    choice = to_albumentations(policy).transforms[0]
    assert isinstance(choice, A.OneOf) and choice.transforms_ps == [0.5, 0.5]
    first = choice.transforms[0]
    assert isinstance(first, A.Sequential) and [t.p for t in first.transforms] == [0.3, 0.7]
    assert isinstance(first.transforms[1], A.OneOf) and first.transforms[1].transforms_ps == [0.5, 0.5]


def test_an_ops_probability_is_the_rate_it_fires():
    pipeline = to_albumentations(Policy([[("Invert", 0.3, None)]]))
    pipeline.set_random_seed(0)
    image = np.zeros((4, 4, 3), np.uint8)
    fired = sum(int(pipeline(image=image)["image"][0, 0, 0] == 255) for _ in range(1000))
    assert 250 <= fired <= 350


def test_randaugment_draws_n_ops_with_replacement_in_draw_order():
    choice = to_albumentations(RandAugment(3, 9, prob=0.5)).transforms[0]
    assert isinstance(choice, A.RandomOrder) and choice.n == 3 and choice.replace
    assert len(choice.transforms) == 14 and {t.p for t in choice.transforms} == {0.5}


def test_trivialaugment_is_a_uniform_op_then_a_uniform_bin():
    choice = to_albumentations(TrivialAugment()).transforms[0]
    assert len(choice.transforms) == 14 and len(set(choice.transforms_ps)) == 1
    rotate = choice.transforms[TrivialAugment().ops.index("Rotate")]
    assert len(rotate.transforms) == 31 and rotate.transforms[30].transforms[0].rotate == (135.0, 135.0)


@pytest.mark.parametrize(("policy", "message"), refusals("albumentations"))
def test_what_cannot_be_exported_raises_a_policy_error(policy, message):
    with pytest.raises(PolicyError, match=message):
        to_albumentations(policy)


def test_aspect_must_be_positive():
    with pytest.raises(PolicyError, match="aspect"):
        to_albumentations(RandAugment(), aspect=0)


# ----------------------------------------------------------------------------- A.save / A.load


@pytest.mark.parametrize(("source", "formats"), [
    ("autoaugment/imagenet", ("json", "yaml")),
    ("randaugment/paper-n2-m9", ("json", "yaml")),
    ("cutout/cifar10", ("json", "yaml")),
    ("trivialaugment/wide", ("json",)),
])
def test_saved_pipeline_loads_and_gives_the_same_images_under_the_same_seed(tmp_path, source, formats):
    image = np.asarray(astronaut(64, 64))
    pipeline = to_albumentations(load_policy(source))
    for fmt in formats:
        path = tmp_path / f"pipeline.{fmt}"
        A.save(pipeline, str(path), data_format=fmt)
        loaded = A.load(str(path), data_format=fmt)
        pipeline.set_random_seed(11)
        loaded.set_random_seed(11)
        outputs = [(pipeline(image=image)["image"], loaded(image=image)["image"]) for _ in range(12)]
        assert all(np.array_equal(a, b) for a, b in outputs)
        assert any(not np.array_equal(a, image) for a, _ in outputs)
