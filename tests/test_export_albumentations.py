"""albumentations export: each op's agreement with augsearch, the pipeline's structure and
probabilities, the errors for what cannot be exported, and A.save / A.load round trips."""

from __future__ import annotations

import math
import os
from functools import cache

import numpy as np
import pytest
import skimage.data
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402, N812

from augsearch import AugMix, CutMix, Cutout, Mixup, Policy, RandAugment, TrivialAugment, load_policy  # noqa: E402
from augsearch.conventions import get_convention  # noqa: E402
from augsearch.errors import PolicyError  # noqa: E402
from augsearch.export.albumentations import to_albumentations  # noqa: E402
from augsearch.ops import DEFAULT_CUTOUT_FILL  # noqa: E402
from augsearch.policy import Applied, apply_plan  # noqa: E402

SIZE = 128


@cache
def astronaut(width: int = SIZE, height: int = SIZE) -> Image.Image:
    return Image.fromarray(skimage.data.astronaut()).resize((width, height), Image.Resampling.BILINEAR)


def one_op(policy: Policy, negate: bool, *, aspect: float = 1.0) -> A.BasicTransform:
    """The exported transform of a one-op policy; for a signed op, the +v (first) or -v variant."""
    op = to_albumentations(policy, aspect=aspect).transforms[0].transforms[0].transforms[0]
    return op.transforms[int(negate)] if isinstance(op, A.OneOf) else op


def agreement(convention: str, name: str, magnitude: float | None, negate: bool, *,
              image: Image.Image | None = None, aspect: float = 1.0) -> tuple[float, float]:
    """Mean absolute difference and % of values within +-8 between augsearch and albumentations."""
    image = image or astronaut()
    policy = Policy([[(name, 1.0, magnitude)]], convention=convention)
    conv = get_convention(convention)
    value = conv.value(name, magnitude, size=image.size, negate=negate)
    ours = np.asarray(apply_plan(image, (Applied(name, conv.entry(name).op, value),), fill=policy.fill,
                                 interpolation=policy.interpolation), dtype=np.int16)
    theirs = one_op(policy, negate, aspect=aspect)(image=np.asarray(image), force_apply=True)["image"].astype(np.int16)
    diff = np.abs(ours - theirs)
    return float(diff.mean()), float((diff <= 8).mean() * 100)


# (convention, op, magnitudes, largest mean abs diff, smallest % within +-8), measured on a 128x128
# astronaut; exact rows allow no difference at all.
AGREEMENT = [
    ("autoaugment", "Identity", [None], 0.0, 100.0),
    ("autoaugment", "Invert", [None], 0.0, 100.0),
    ("autoaugment", "FlipLR", [None], 0.0, 100.0),
    ("autoaugment", "FlipUD", [None], 0.0, 100.0),
    ("autoaugment", "TranslateX", [3, 6, 9], 0.0, 100.0),
    ("autoaugment", "TranslateY", [3, 6, 9], 0.0, 100.0),
    ("trivial-wide", "TranslateX", [10, 20, 30], 0.0, 100.0),
    ("timm", "TranslateY", [0.4, 1, 2], 0.0, 100.0),
    ("autoaugment", "Solarize", [0, 3, 6, 9], 0.0, 100.0),
    ("fast-aa", "Solarize", [0.1, 0.5, 0.77], 0.0, 100.0),
    ("autoaugment", "Posterize", [0, 4, 9], 0.0, 100.0),
    ("timm", "Posterize", [0, 5, 10], 0.0, 100.0),
    ("autoaugment", "Brightness", [3, 6, 9], 0.0, 100.0),
    ("fast-aa", "Brightness", [0.0, 0.3, 1.0], 0.0, 100.0),
    ("autoaugment", "Rotate", [3, 6, 9], 0.05, 99.8),
    ("autoaugment", "AutoContrast", [None], 0.6, 100.0),
    ("autoaugment", "Contrast", [3, 6, 9], 0.4, 100.0),
    ("fast-aa", "Contrast", [0.0, 0.3, 1.0], 0.4, 100.0),
    ("autoaugment", "Color", [3, 6, 9], 0.6, 100.0),
    ("fast-aa", "Color", [0.0, 0.3, 1.0], 0.6, 100.0),
    ("autoaugment", "Sharpness", [3, 6, 9], 0.9, 99.0),
    ("fast-aa", "Sharpness", [0.0, 0.25, 1.0], 0.9, 99.0),
    ("autoaugment", "Equalize", [None], 4.5, 85.0),
    ("autoaugment", "ShearX", [3, 6, 9], 12.0, 65.0),
    ("autoaugment", "ShearY", [3, 6, 9], 10.0, 70.0),
    ("fast-aa", "TranslateX", [0.2, 0.6, 0.9], 18.0, 50.0),
]


@pytest.mark.parametrize(("convention", "name", "magnitudes", "max_diff", "min_within"), AGREEMENT,
                         ids=[f"{c}-{n}" for c, n, *_ in AGREEMENT])
def test_each_op_agrees_with_augsearch_within_its_measured_bound(convention, name, magnitudes, max_diff,
                                                                  min_within):
    rng = get_convention(convention).entry(name).range
    signs = (False, True) if rng is not None and rng.signed else (False,)
    for magnitude in magnitudes:
        for negate in signs:
            diff, within = agreement(convention, name, magnitude, negate)
            assert diff <= max_diff and within >= min_within, (magnitude, negate, diff, within)


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
    assert shear.shear["x"] == pytest.approx((angle, angle)) and shear.translate_percent["x"] == pytest.approx((-0.15, -0.15))


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


@pytest.mark.parametrize(("policy", "message"), [
    (Policy([[("SolarizeAdd", 1.0, 5)]], convention="timm"), "SolarizeAdd cannot be exported to albumentations"),
    (Policy([[("SamplePairing", 1.0, 5)]]), "SamplePairing cannot be exported to albumentations"),
    (AugMix(), "AugMix"),
    (Mixup(num_classes=10), "mixup mixes"),
    (CutMix(num_classes=10), "cutmix mixes"),
    (RandAugment(2, 9, magnitude_std=0.5), "magnitude noise cannot be pinned"),
    (TrivialAugment(convention="timm"), "continuous scale"),
    ("randaugment-n2-m9", "expected an augsearch policy"),
], ids=["solarizeadd", "samplepairing", "augmix", "mixup", "cutmix", "noise", "continuous", "not-a-policy"])
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
    pipeline = load_policy(source).to_albumentations()
    for fmt in formats:
        path = tmp_path / f"pipeline.{fmt}"
        A.save(pipeline, str(path), data_format=fmt)
        loaded = A.load(str(path), data_format=fmt)
        pipeline.set_random_seed(11)
        loaded.set_random_seed(11)
        outputs = [(pipeline(image=image)["image"], loaded(image=image)["image"]) for _ in range(12)]
        assert all(np.array_equal(a, b) for a, b in outputs)
        assert any(not np.array_equal(a, image) for a, _ in outputs)
