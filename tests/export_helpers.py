"""What the exporters' tests share: the table of each op's measured agreement, the picture,
augsearch's own output for one op with a fixed sign, the check of an op's agreement with another
library at each magnitude and sign, and what every exporter refuses.

Imported as ``from export_helpers import ...``: tests/ has no ``__init__.py``, so pytest's rootdir
import mode puts tests/ on ``sys.path``."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
import skimage.data
from PIL import Image

from augsearch import AugMix, CutMix, Mixup, Policy, RandAugment, TrivialAugment
from augsearch.conventions import get_convention
from augsearch.plans import Applied, apply_plan

SIZE = 128

EXACT = (0.0, 100.0)

# (convention, op, magnitudes, albumentations' bound, imgaug's bound), a bound being (largest mean
# abs diff, smallest % within +-8) measured on a 128x128 astronaut, None where that library's tests
# leave the row out; EXACT allows no difference at all.
AGREEMENT = [
    ("autoaugment", "Identity", [None], EXACT, EXACT),
    ("autoaugment", "Invert", [None], EXACT, EXACT),
    ("autoaugment", "FlipLR", [None], EXACT, EXACT),
    ("autoaugment", "FlipUD", [None], EXACT, EXACT),
    ("autoaugment", "TranslateX", [3, 6, 9], EXACT, None),
    ("autoaugment", "TranslateY", [3, 6, 9], EXACT, None),
    ("trivial-wide", "TranslateX", [10, 20, 30], EXACT, None),
    ("timm", "TranslateY", [0.4, 1, 2], EXACT, EXACT),
    ("autoaugment", "Solarize", [0, 3, 6, 9], EXACT, EXACT),
    ("fast-aa", "Solarize", [0.1, 0.5, 0.77], EXACT, EXACT),
    ("autoaugment", "Posterize", [0, 4, 9], EXACT, EXACT),
    ("timm", "Posterize", [0, 5, 10], EXACT, EXACT),
    ("autoaugment", "Brightness", [3, 6, 9], EXACT, EXACT),
    ("fast-aa", "Brightness", [0.0, 0.3, 1.0], EXACT, None),
    ("autoaugment", "Rotate", [3, 6, 9], (0.05, 99.8), EXACT),
    ("autoaugment", "AutoContrast", [None], (0.6, 100.0), EXACT),
    ("autoaugment", "Contrast", [3, 6, 9], (0.4, 100.0), EXACT),
    ("fast-aa", "Contrast", [0.0, 0.3, 1.0], (0.4, 100.0), None),
    ("autoaugment", "Color", [3, 6, 9], (0.6, 100.0), EXACT),
    ("fast-aa", "Color", [0.0, 0.3, 1.0], (0.6, 100.0), None),
    ("autoaugment", "Sharpness", [3, 6, 9], (0.9, 99.0), EXACT),
    ("fast-aa", "Sharpness", [0.0, 0.25, 1.0], (0.9, 99.0), EXACT),
    ("autoaugment", "Equalize", [None], (4.5, 85.0), EXACT),
    ("autoaugment", "ShearX", [3, 6, 9], (12.0, 65.0), EXACT),
    ("autoaugment", "ShearY", [3, 6, 9], (10.0, 70.0), EXACT),
    ("fast-aa", "TranslateX", [0.2, 0.6, 0.9], (18.0, 50.0), EXACT),
    ("trivial-wide", "ShearX", [10, 20, 30], None, EXACT),
    ("autoaugment", "TranslateX", [3, 9], None, EXACT),
    ("trivial-wide", "TranslateY", [10, 20, 30], None, EXACT),
    # 0.302 x 128 = 38.7 px: augsearch truncates to 38, imgaug shifts by the fraction (39 with nearest)
    ("autoaugment", "TranslateY", [6], None, (14.0, 65.0)),
]


def agreement_rows(library: str) -> list[tuple]:
    """The rows of AGREEMENT that ``library`` ("albumentations" or "imgaug") is tested on, as
    (convention, op, magnitudes, largest mean abs diff, smallest % within +-8)."""
    column = {"albumentations": 3, "imgaug": 4}[library]
    return [(*row[:3], *row[column]) for row in AGREEMENT if row[column] is not None]


@cache
def astronaut(width: int = SIZE, height: int = SIZE) -> Image.Image:
    return Image.fromarray(skimage.data.astronaut()).resize((width, height), Image.Resampling.BILINEAR)


def agreement(convention: str, name: str, magnitude: float | None, negate: bool,
              theirs: Callable[[Policy, Image.Image], np.ndarray], *,
              image: Image.Image | None = None) -> tuple[float, float]:
    """Mean absolute difference and % of values within +-8 between augsearch's op ``name`` at
    ``magnitude`` (negated or not) and ``theirs(policy, image)``, the other library's output for the
    one-op policy of that op with the same sign."""
    image = image or astronaut()
    policy = Policy([[(name, 1.0, magnitude)]], convention=convention)
    conv = get_convention(convention)
    value = conv.value(name, magnitude, size=image.size, negate=negate)
    ours = np.asarray(apply_plan(image, (Applied(name, conv.entry(name).op, value),), fill=policy.fill,
                                 interpolation=policy.interpolation), dtype=np.int16)
    diff = np.abs(ours - theirs(policy, image).astype(np.int16))
    return float(diff.mean()), float((diff <= 8).mean() * 100)


def assert_agrees_at_each_magnitude_and_sign(agree: Callable[..., tuple[float, float]], convention: str, name: str,
                                             magnitudes: list, max_diff: float, min_within: float) -> None:
    """``agree(convention, name, magnitude, negate)`` within the bounds at each magnitude, both signs
    of a signed op."""
    rng = get_convention(convention).entry(name).range
    signs = (False, True) if rng is not None and rng.signed else (False,)
    for magnitude in magnitudes:
        for negate in signs:
            diff, within = agree(convention, name, magnitude, negate)
            assert diff <= max_diff and within >= min_within, (magnitude, negate, diff, within)


def refusals(target: str, *extra: object) -> list:
    """``(policy, message)`` cases, as ``pytest.param``, that every exporter refuses with a
    :class:`PolicyError` matching ``message``, followed by ``extra`` ones of ``target`` alone."""
    return [
        pytest.param(Policy([[("SolarizeAdd", 1.0, 5)]], convention="timm"),
                     f"SolarizeAdd cannot be exported to {target}", id="solarizeadd"),
        pytest.param(Policy([[("SamplePairing", 1.0, 5)]]), f"SamplePairing cannot be exported to {target}",
                     id="samplepairing"),
        pytest.param(AugMix(), "AugMix", id="augmix"),
        pytest.param(Mixup(num_classes=10), "mixup mixes", id="mixup"),
        pytest.param(CutMix(num_classes=10), "cutmix mixes", id="cutmix"),
        pytest.param(RandAugment(2, 9, magnitude_std=0.5), "magnitude noise cannot be pinned", id="noise"),
        pytest.param(TrivialAugment(convention="timm"), "continuous scale", id="continuous"),
        pytest.param("randaugment-n2-m9", "expected an augsearch policy", id="not-a-policy"),
        *extra,
    ]
