"""Each magnitude convention gives the physical values its published reference gives.

References: torchvision's ``_AUGMENTATION_SPACE`` tables (AutoAugment, RandAugment with 31 bins,
TrivialAugmentWide), timm's ``LEVEL_TO_ARG`` functions, the AugMix reference code's
``int_parameter``/``float_parameter`` (written out below), and the Fast AutoAugment ranges.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from augsearch.conventions import CONVENTIONS, Convention, get_convention
from augsearch.errors import PolicyError
from augsearch.families import RANDAUGMENT_OPS, TRIVIAL_OPS
from augsearch.ops import OPS

SIZES = [(32, 32), (64, 48), (97, 211), (224, 224), (331, 331)]
TORCHVISION = [("autoaugment", v2.AutoAugment, 10), ("randaugment-31", v2.RandAugment, 31),
               ("trivial-wide", v2.TrivialAugmentWide, 31)]
PIXELS = torch.arange(256, dtype=torch.uint8)


def _torchvision_parameter(op: str, magnitude: float) -> float:
    """What torchvision's ``_apply_image_or_video_transform`` hands the kernel, in augsearch's units."""
    if op.startswith("Translate") or op == "Posterize":
        return float(int(magnitude))
    if op in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 1.0 + magnitude
    return magnitude  # shear factor (torchvision passes atan of it in degrees), degrees


@pytest.mark.parametrize("name, transform, bins", TORCHVISION)
def test_binned_conventions_equal_torchvision_bit_for_bit(name, transform, bins):
    convention = CONVENTIONS[name]
    space = transform._AUGMENTATION_SPACE
    assert convention.levels == bins and convention.max_magnitude == bins - 1
    assert set(space) <= set(convention.entries)
    checked = 0
    for width, height in SIZES:
        for op, (magnitudes_fn, signed) in space.items():
            magnitudes = magnitudes_fn(bins, height, width)
            assert (convention.entry(op).range is None) == (magnitudes is None), op
            if magnitudes is None:
                assert convention.value(op, None, size=(width, height)) is None
                continue
            assert convention.entry(op).range.signed == signed, op
            for b in range(bins):
                for negate in (False, True) if signed else (False,):
                    m = float(magnitudes[b])
                    got = convention.value(op, b, size=(width, height), negate=negate)
                    if op == "Solarize":
                        # torchvision: pixels >= 255 * m (as float32) are inverted
                        ref_inverted = PIXELS >= 255.0 * m
                        got_inverted = PIXELS.double() >= got
                        if name != "autoaugment" and b in (16, 18, 24):
                            # known float32 artefact: torchvision's thresholds are 119.0000076, 102.0000076 and
                            # 51.0000038, augsearch's 119, 102 and 51; only pixels equal to them differ
                            assert (ref_inverted != got_inverted).sum() == 1 and got == round(got)
                        else:
                            assert torch.equal(ref_inverted, got_inverted), (name, b, got, 255 * m)
                        assert got == pytest.approx(255.0 * m, abs=1e-4)
                    else:
                        assert got == _torchvision_parameter(op, -m if negate else m), (name, op, b, negate)
                    checked += 1
    assert checked > 500


def test_trivialaugment_translate_bin_15_truncates_like_torchvision():
    # torchvision's float32 linspace(0, 32, 31)[15] is 15.999999, and int() makes it 15 pixels
    assert CONVENTIONS["trivial-wide"].value("TranslateX", 15, size=(32, 32)) == 15.0
    assert CONVENTIONS["trivial-wide"].value("TranslateX", 15, size=(32, 32), negate=True) == -15.0


def test_autoaugment_facts_from_the_paper_table():
    aa = CONVENTIONS["autoaugment"]
    assert aa.value("Rotate", 9, size=(32, 32)) == 30.0
    assert aa.value("Rotate", 9, size=(32, 32), negate=True) == -30.0
    assert aa.value("TranslateX", 9, size=(331, 331)) == 150.0
    assert aa.value("TranslateY", 9, size=(331, 100)) == int(150 / 331 * 100)  # height for Y ops
    assert aa.value("Brightness", 0, size=(32, 32)) == 1.0
    assert aa.value("Brightness", 9, size=(32, 32), negate=True) == pytest.approx(0.1)
    assert [aa.value("Posterize", b, size=(32, 32)) for b in range(10)] == [8 - round(b / 2.25) for b in range(10)]
    assert aa.value("Solarize", 0, size=(32, 32)) == 255.0 and aa.value("Solarize", 9, size=(32, 32)) == 0.0
    assert aa.value("Cutout", 9, size=(331, 331)) == 60.0  # 0..60 px at 331 px
    assert aa.value("SamplePairing", 9, size=(32, 32)) == pytest.approx(0.4)
    for op in ("AutoContrast", "Equalize", "Invert"):
        assert aa.entry(op).range is None


def test_randaugment_paper_scale_is_the_autoaugment_ranges_over_0_to_10():
    ra = CONVENTIONS["randaugment"]
    assert ra.levels is None and ra.max_magnitude == 10
    assert ra.value("Rotate", 9, size=(32, 32)) == pytest.approx(27.0)
    assert ra.value("ShearX", 10, size=(32, 32), negate=True) == pytest.approx(-0.3)
    assert ra.value("Color", 5, size=(32, 32)) == pytest.approx(1.45)
    assert ra.value("TranslateX", 10, size=(331, 331)) == 150.0
    assert ra.value("Posterize", 10, size=(32, 32)) == 4.0
    assert set(RANDAUGMENT_OPS) <= set(ra.entries) and "Invert" not in RANDAUGMENT_OPS
    assert list(RANDAUGMENT_OPS) == list(v2.RandAugment._AUGMENTATION_SPACE)
    assert list(TRIVIAL_OPS) == list(v2.TrivialAugmentWide._AUGMENTATION_SPACE)


# Fast AutoAugment: level 0 / 0.5 / 1 of each op, as the paper's table (width 64, height 48)
FAST_AA = {
    "ShearX": (-0.3, 0.0, 0.3), "ShearY": (-0.3, 0.0, 0.3),
    "TranslateX": (-0.45 * 64, 0.0, 0.45 * 64), "TranslateY": (-0.45 * 48, 0.0, 0.45 * 48),
    "Rotate": (-30.0, 0.0, 30.0), "Solarize": (0.0, 128.0, 256.0), "Posterize": (4.0, 6.0, 8.0),
    "Contrast": (0.1, 1.0, 1.9), "Color": (0.1, 1.0, 1.9), "Brightness": (0.1, 1.0, 1.9), "Sharpness": (0.1, 1.0, 1.9),
    "Cutout": (0.0, 0.1 * 64, 0.2 * 64),
}


@pytest.mark.parametrize("op", list(FAST_AA))
def test_fast_autoaugment_ranges(op):
    fa = CONVENTIONS["fast-aa"]
    for level, expected in zip((0.0, 0.5, 1.0), FAST_AA[op]):
        assert fa.value(op, level, size=(64, 48)) == pytest.approx(expected, abs=1e-12), (op, level)
    mirrored = op in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
    assert fa.entry(op).range.signed == mirrored
    v = fa.value(op, 0.8, size=(64, 48))
    assert fa.value(op, 0.8, size=(64, 48), negate=True) == pytest.approx(-v if mirrored else v)


def test_fast_autoaugment_posterize_truncates_and_solarize_ends():
    fa = CONVENTIONS["fast-aa"]
    for level in np.linspace(0, 1, 101):
        assert fa.value("Posterize", float(level), size=(8, 8)) == int(level * 4 + 4)
    image = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    values = torch.tensor([fa.value("Solarize", 1.0, size=(16, 16)), fa.value("Solarize", 0.0, size=(16, 16))],
                          dtype=torch.float64)
    out = OPS["Solarize"].tensor(image.expand(2, 1, 16, 16), values, torch.zeros(2, 2))
    assert torch.equal(out[0], image[0])  # level 1 is the identity
    assert torch.equal(out[1], 255 - image[0])  # level 0 inverts every pixel


TIMM_HPARAMS = {"translate_const": 250, "translate_pct": 0.45}


def test_timm_convention_equals_timm_level_to_arg(monkeypatch):
    import timm.data.auto_augment as timm_aa

    timm_conv = CONVENTIONS["timm"]
    levels = sorted({*np.round(np.arange(0, 10.0001, 0.25), 2).tolist(),
                     *np.random.default_rng(0).uniform(0, 10, 100).tolist()})
    width, height = 64, 48
    assert set(timm_conv.entries) - {"Identity", "FlipLR", "FlipUD"} == (
        set(timm_aa.LEVEL_TO_ARG) - {"Desaturate", "GaussianBlur", "GaussianBlurRand"})
    for negate in (False, True):
        monkeypatch.setattr(timm_aa, "_randomly_negate", (lambda v: -v) if negate else (lambda v: v))
        for name, level_fn in timm_aa.LEVEL_TO_ARG.items():
            if name not in timm_conv.entries:
                continue
            if level_fn is None:
                assert timm_conv.entry(name).range is None
                continue
            for level in levels:
                (expected,) = level_fn(level, TIMM_HPARAMS)
                got = timm_conv.value(name, level, size=(width, height), negate=negate)
                if name.endswith("Rel"):
                    expected *= width if "X" in name else height
                if name.startswith("Translate"):
                    # timm's (1, 0, +p, ...) moves the content left, augsearch's +p right: the sign is random in
                    # both, so only the size has to agree
                    expected, got = abs(expected), abs(got)
                if isinstance(expected, int):
                    assert got == expected, (name, level, negate)
                else:
                    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), (name, level, negate)


def _int_parameter(level, maxval):  # AugMix reference code, augmentations.py
    return int(level * maxval / 10)


def _float_parameter(level, maxval):
    return float(level) * maxval / 10.0


def test_augmix_convention_equals_the_reference_formulas():
    am = CONVENTIONS["augmix"]
    levels = sorted({*np.round(np.arange(0, 10.0001, 0.05), 2).tolist(),
                     *np.random.default_rng(1).uniform(0, 10, 300).tolist(), 10 / 3, 7.5})
    for side in (32, 224):
        for level in levels:
            expected = {
                "AutoContrast": None, "Equalize": None,
                "Posterize": 4 - _int_parameter(level, 4), "Rotate": _int_parameter(level, 30),
                "Solarize": 256 - _int_parameter(level, 256),
                "ShearX": _float_parameter(level, 0.3), "ShearY": _float_parameter(level, 0.3),
                "TranslateX": _int_parameter(level, side / 3), "TranslateY": _int_parameter(level, side / 3),
                **{n: _float_parameter(level, 1.8) + 0.1 for n in ("Color", "Contrast", "Brightness", "Sharpness")},
            }
            for op, ref in expected.items():
                got = am.value(op, level if ref is not None else None, size=(side, side))
                if ref is None or isinstance(ref, int):
                    assert got == ref, (op, level)
                else:
                    assert got == pytest.approx(ref, rel=1e-12), (op, level)
            for op in ("Rotate", "ShearX", "TranslateY"):  # randomly negated in the reference
                assert am.value(op, level, size=(side, side), negate=True) == -am.value(op, level, size=(side, side))


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_every_entry_maps_into_its_ops_domain(name):
    c = CONVENTIONS[name]
    for key, entry in c.entries.items():
        assert entry.op in OPS and (entry.range is None) == (not OPS[entry.op].has_magnitude), key
        if entry.range is None:
            continue
        for m in (0, c.max_magnitude / 2, c.max_magnitude):
            m = int(m) if c.levels is not None else m
            for negate in (False, True):
                v = c.value(key, m, size=(40, 30), negate=negate)
                domain = OPS[entry.op].domain
                assert domain[0] <= v <= domain[1], (key, m)
        assert c.range_text(key)


def test_magnitude_validation():
    aa = CONVENTIONS["autoaugment"]
    assert aa.check_magnitude("Rotate", 3) == 3 and aa.check_magnitude("Rotate", 3.0) == 3
    assert aa.check_magnitude("Invert", None) is None
    for bad, message in [(2.5, "integer bin 0..9"), (10, "outside 0..9"), (-1, "outside 0..9"),
                         (None, "numeric"), (True, "numeric"), ("3", "numeric"), (float("nan"), "outside"),
                         (float("inf"), "outside")]:
        with pytest.raises(PolicyError, match=message):
            aa.check_magnitude("Rotate", bad)
    fa = CONVENTIONS["fast-aa"]
    assert fa.check_magnitude("Rotate", 0.25) == 0.25
    with pytest.raises(PolicyError, match=r"outside 0..1 .*\(got 1.5\)"):
        fa.check_magnitude("Rotate", 1.5)
    with pytest.raises(PolicyError, match="not part of the 'autoaugment' convention.*'SolarizeAdd'"):
        aa.check_magnitude("SolarizeAdd", 3)


def test_get_convention():
    assert get_convention("timm") is CONVENTIONS["timm"]
    assert get_convention(CONVENTIONS["augmix"]) is CONVENTIONS["augmix"]
    assert isinstance(get_convention("fast-aa"), Convention)
    for bad in ("autoaugmnet", None, 3):
        with pytest.raises(PolicyError, match="unknown magnitude convention"):
            get_convention(bad)


def test_signed_ranges_mirror_around_the_identity():
    for c in CONVENTIONS.values():
        for key, entry in c.entries.items():
            if entry.range is None or not entry.range.signed:
                continue
            m = c.max_magnitude if c.levels is None else c.levels - 1
            v, w = c.value(key, m, size=(50, 50)), c.value(key, m, size=(50, 50), negate=True)
            identity = OPS[entry.op].identity
            assert math.isclose(v + w, 2 * identity, abs_tol=1e-6), (c.name, key, v, w)


@pytest.mark.parametrize("name", CONVENTIONS.names())
def test_values_for_many_magnitudes_equal_value_for_each(name):
    """Batched draws map magnitudes with ``values``; it must be ``value``'s arithmetic, bit for bit."""
    import random

    convention = CONVENTIONS.get(name)
    rng = random.Random(name)
    for op in convention.entries:
        for size in [(32, 32), (224, 160), (17, 31), (1, 1)]:
            top = float(convention.max_magnitude)
            mags = [float(rng.randint(0, convention.levels - 1)) if convention.levels else rng.uniform(0, top)
                    for _ in range(30)] + [0.0, top]
            negate = [rng.random() < 0.5 for _ in mags]
            got = convention.values(op, torch.tensor(mags, dtype=torch.float64), size=size,
                                    negate=torch.tensor(negate)).tolist()
            takes = convention.entry(op).range is not None
            for m, flip, value in zip(mags, negate, got):
                want = convention.value(op, (int(m) if convention.levels else m) if takes else None, size=size,
                                        negate=flip)
                assert value == (0.0 if want is None else want), (op, size, m, flip)
