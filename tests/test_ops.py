"""Every op in the op table, on both backends, against torchvision and PIL references.

Tolerances (measured worst cases in brackets, on the 64x64 / 64x48 / noise / low-contrast pictures):
* point ops, tensor kernel vs ``torchvision.transforms.v2.functional``: exact;
* point ops, PIL kernel vs PIL/ImageOps/ImageEnhance: exact;
* geometric ops, nearest: the source pixel each output pixel samples (read off a coordinate
  image) agrees with torchvision and PIL within one pixel everywhere, and exactly for >= 98% of
  the pixels at values where no sample point lies exactly on a pixel edge [rotate 45: 0.95%];
* geometric ops, bilinear vs torchvision: <= 1 level where the whole 2x2 neighbourhood is inside
  the image [1], and <= 3% of the pixels differ by more [2.4%] (torchvision multiplies the fill
  mask in twice at the border).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from conftest import coordinate_image, run_pil, run_tensor, to_pil, to_tensor
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms import InterpolationMode

import augsearch.ops as ops_module
from augsearch.errors import PolicyError
from augsearch.ops import DEFAULT_CUTOUT_FILL, OPS, cutout_boxes, get_op

FACTORS = [0.0, 0.1, 0.5, 0.65, 0.73, 0.9, 1.0, 1.2, 1.27, 1.6, 1.9, 1.99, 3.0]
ENHANCE = {
    "Brightness": (TF.adjust_brightness, ImageEnhance.Brightness),
    "Color": (TF.adjust_saturation, ImageEnhance.Color),
    "Contrast": (TF.adjust_contrast, ImageEnhance.Contrast),
    "Sharpness": (TF.adjust_sharpness, ImageEnhance.Sharpness),
}
NO_PARAM = {
    "AutoContrast": (TF.autocontrast, ImageOps.autocontrast),
    "Equalize": (TF.equalize, ImageOps.equalize),
    "Invert": (TF.invert, ImageOps.invert),
    "FlipLR": (TF.horizontal_flip, ImageOps.mirror),
    "FlipUD": (TF.vertical_flip, ImageOps.flip),
}
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
# values where no sample point falls exactly on a pixel edge (see test_shear_ties_stay_within_one_pixel)
GEOMETRIC_VALUES = {"ShearX": [0.1, -0.3, 0.3, 0.99], "ShearY": [0.1, -0.3, 0.3, 0.99],
                    "TranslateX": [3, -7, 20, 0], "TranslateY": [3, -7, 20, 0],
                    "Rotate": [7, -13.3, 30, 45, 90, 135, -180]}
COVERED = {*ENHANCE, *NO_PARAM, *GEOMETRIC, "Posterize", "Solarize", "SolarizeAdd", "Cutout", "SamplePairing",
           "Identity"}


@pytest.fixture(autouse=True, params=["directly", "by tables"])
def pixel_path(request, monkeypatch):
    """Every test here runs twice: pixel-by-pixel ops applied directly, and through tables of their 256 results
    (the CPU's way for large images), which must agree with torchvision and PIL alike."""
    tables(monkeypatch, request.param == "by tables")


def tables(monkeypatch, on: bool) -> None:
    """Tables and OpenCV's histograms for every image (``on``), or for none."""
    monkeypatch.setattr(ops_module, "TABLE_PLANE", 1 if on else 1 << 30)
    monkeypatch.setattr(ops_module, "HISTOGRAM_PLANE", 1 if on else 1 << 30)


def test_every_op_in_the_table_is_covered_here():
    assert set(OPS) == COVERED


def test_get_op_names_the_known_ops():
    assert get_op("Rotate") is OPS["Rotate"]
    with pytest.raises(PolicyError, match="unknown op.*Rotate.*'Rotat'"):
        get_op("Rotat")


OUT_VALUES = {**{name: values[:2] for name, values in GEOMETRIC_VALUES.items()},
              **{name: [0.4, 1.7] for name in ENHANCE}, "Posterize": [3, 8], "Solarize": [100, -2],
              "SolarizeAdd": [60, 0], "Cutout": [9, 40], "SamplePairing": [0.3, 0.9]}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_a_kernel_handed_out_writes_there_or_returns_its_own_result(name, interpolation):
    """Every kernel, handed ``out`` (as the last op of an image is): the same result as without it, either in
    ``out`` (returned) or in a tensor of its own that shares no memory with ``out``; its input stays unwritten."""
    gen = torch.Generator().manual_seed(5)
    for shape in [(2, 3, 96, 90), (2, 1, 20, 24), (2, 3, 2, 5)]:
        images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
        before = images.clone()
        for value in OUT_VALUES.get(name, [None]):
            settings = {"interpolation": interpolation, "fill": (9, 80, 200), "aux": [[0.2, 0.7], [0.9, 0.1]]}
            expected = run_tensor(name, images, value, **settings)
            out = torch.full(shape, 7, dtype=torch.uint8)
            got = run_tensor(name, images, value, out=out, **settings)
            assert torch.equal(got, expected), (shape, value)
            assert got is out or not (got.untyped_storage().data_ptr() == out.untyped_storage().data_ptr())
            assert torch.equal(images, before)


def _pictures(images, gray_pil):
    return [*images, gray_pil]


# ----------------------------------------------------------------------------- point ops

@pytest.mark.parametrize("name", list(ENHANCE))
def test_enhance_ops_match_torchvision_and_pil_exactly(name, images, gray_pil):
    tv_fn, pil_cls = ENHANCE[name]
    for img in _pictures(images, gray_pil):
        t = to_tensor(img)
        # one factor per sample of a batch: also checks the per-sample parameters
        out = run_tensor(name, t.expand(len(FACTORS), *t.shape).contiguous(), FACTORS)
        for factor, got in zip(FACTORS, out):
            assert torch.equal(got, tv_fn(t, factor)), (name, factor, img.size, img.mode)
            expected = pil_cls(img).enhance(factor)
            assert np.array_equal(np.array(run_pil(name, img, factor)), np.array(expected)), (name, factor)


@pytest.mark.parametrize("name", list(NO_PARAM))
def test_parameterless_ops_match_torchvision_and_pil_exactly(name, images, gray_pil):
    tv_fn, pil_fn = NO_PARAM[name]
    for img in _pictures(images, gray_pil):
        t = to_tensor(img)
        assert torch.equal(run_tensor(name, t[None], None)[0], tv_fn(t)), (name, img.size)
        assert np.array_equal(np.array(run_pil(name, img, None)), np.array(pil_fn(img))), (name, img.size)


def _ramps(pairs):
    """One 1x16x16 image per (lo, hi): every value lo..hi occurs, so lo and hi are its extremes."""
    out = []
    for lo, hi in pairs:
        values = torch.arange(lo, hi + 1)
        out.append(torch.cat([values, values.new_full((256 - len(values),), lo)]).view(1, 16, 16))
    return torch.stack(out).to(torch.uint8)


def test_autocontrast_matches_torchvision_for_every_kind_of_range():
    rng = np.random.default_rng(0)
    pairs = [(0, 255), (0, 0), (7, 7), (0, 1), (254, 255), (3, 4), (1, 254)]
    pairs += [tuple(sorted(rng.choice(256, 2, replace=False))) for _ in range(400)]
    images = _ramps(pairs)
    out = run_tensor("AutoContrast", images, None)
    for img, got in zip(images, out):
        assert torch.equal(got, TF.autocontrast(img)), (int(img.min()), int(img.max()))


def test_equalize_matches_torchvision_and_pil_on_skewed_histograms():
    rng = np.random.default_rng(1)
    images = []
    for i in range(60):
        kind = i % 4
        if kind == 0:
            arr = rng.integers(0, 256, (1, 12, 12))
        elif kind == 1:
            arr = rng.integers(100, 104, (1, 12, 12))  # few values
        elif kind == 2:
            arr = np.minimum(255, rng.exponential(20, (1, 12, 12))).astype(int)
        else:
            arr = np.full((1, 12, 12), rng.integers(256))
            arr[0, 0, : rng.integers(1, 12)] = rng.integers(256)  # one dominant value
        images.append(torch.from_numpy(arr.astype(np.uint8)))
    batch = torch.stack(images)
    out = run_tensor("Equalize", batch, None)
    for img, got in zip(batch, out):
        assert torch.equal(got, TF.equalize(img))
        assert np.array_equal(to_tensor(ImageOps.equalize(to_pil(img))).numpy(), got.numpy())


def test_tables_and_torch_count_and_look_up_alike_in_any_layout(monkeypatch):
    """Channels counted and looked up by OpenCV and stringzilla and by torch, contiguous, channels-last and strided,
    tables per image and per channel: histograms and lookups equal torch's scatter and gather, and Equalize
    equals torchvision's."""
    gen = torch.Generator().manual_seed(3)
    big = torch.randint(0, 256, (3, 3, 96, 100), dtype=torch.uint8, generator=gen)
    big[1] = torch.randint(60, 64, (3, 96, 100), generator=gen)  # few values
    big[2, :, :90] = 17  # one dominant value
    grey = torch.randint(0, 256, (2, 1, 100, 90), dtype=torch.uint8, generator=gen)
    luts = torch.randint(0, 256, (3, 3, 256), dtype=torch.uint8, generator=gen)
    def results(images: torch.Tensor, on: bool) -> tuple[torch.Tensor, ...]:
        tables(monkeypatch, on)
        n, c = images.shape[:2]
        return (ops_module.histograms(images), ops_module.look_up(images, luts[:n, :c]),
                ops_module.look_up(images, luts[:n, :1]),
                OPS["Equalize"].tensor(images, torch.zeros(n), torch.zeros(n, 2)))

    for images in (big, big.contiguous(memory_format=torch.channels_last), big[:, :, 5:, ::2], grey):
        ours, torchs = results(images, True), results(images, False)
        for a, b in zip(ours, torchs):
            assert a.dtype == b.dtype and torch.equal(a, b)
        assert torch.equal(ours[3], torch.stack([TF.equalize(image) for image in images]))
        assert ours[0].sum(2).eq(images.shape[-2] * images.shape[-1]).all()


@pytest.mark.parametrize("name", ["Brightness", "Contrast", "AutoContrast", "SolarizeAdd", "Equalize", "Posterize",
                                  "Solarize", "Color", "Sharpness", "Invert"])
def test_tables_give_what_direct_arithmetic_gives_for_extreme_values(name, monkeypatch):
    """Odd sizes (vector loops with tails), flat and grey channels, and values beyond any convention's range
    (NaN, infinities, negatives, 1e30): tables and the direct arithmetic agree pixel for pixel."""
    gen = torch.Generator().manual_seed(11)
    images = torch.randint(0, 256, (4, 3, 97, 101), dtype=torch.uint8, generator=gen)
    images[1, 2] = 200  # a flat channel
    images[2] = torch.randint(30, 34, (3, 97, 101), generator=gen)
    grey = torch.randint(0, 256, (4, 1, 95, 90), dtype=torch.uint8, generator=gen)
    values = [float("nan"), float("inf"), float("-inf"), -1.5, 0.0, 0.37, 1.0, 2.2, 255.0, 1e30]
    for batch in (images, grey):
        for start in range(0, len(values), 4):
            chunk = torch.tensor((values[start:start + 4] * 4)[:4], dtype=torch.float64)
            tables(monkeypatch, True)
            tabled = OPS[name].tensor(batch, chunk, torch.zeros(4, 2))
            tables(monkeypatch, False)
            direct = OPS[name].tensor(batch, chunk, torch.zeros(4, 2))
            assert torch.equal(tabled, direct), (name, chunk)


def test_posterize_every_bit_count_matches_torchvision_and_pil(images):
    bits = list(range(0, 9))
    for img in images:
        t = to_tensor(img)
        out = run_tensor("Posterize", t.expand(9, *t.shape).contiguous(), bits)
        for b, got in zip(bits, out):
            assert torch.equal(got, TF.posterize(t, b)), b
            pil = run_pil("Posterize", img, b)
            reference = ImageOps.posterize(img, b) if b else Image.new(img.mode, img.size)  # 0 bits: black
            assert np.array_equal(np.array(pil), np.array(reference)), b


def test_solarize_thresholds_match_torchvision_and_pil(images):
    thresholds = [0, 1, 64.5, 128, 200, 254.5, 255]
    for img in images:
        t = to_tensor(img)
        out = run_tensor("Solarize", t.expand(len(thresholds), *t.shape).contiguous(), thresholds)
        for th, got in zip(thresholds, out):
            assert torch.equal(got, TF.solarize(t, th)), th
            pil = run_pil("Solarize", img, th)
            assert np.array_equal(np.array(pil), np.array(ImageOps.solarize(img, th))), th
    # 256 (Fast AA's level 1, timm's 'Solarize' at m=10) inverts nothing; 0 inverts everything
    t = to_tensor(images[0])
    assert torch.equal(run_tensor("Solarize", t[None], 256)[0], t)
    assert torch.equal(run_tensor("Solarize", t[None], 0)[0], 255 - t)
    assert np.array_equal(np.array(run_pil("Solarize", images[0], 256)), np.array(images[0]))


def test_solarize_thresholds_out_of_range_in_one_batch():
    """Every pixel value against thresholds beyond 0..255, NaN and infinities, mixed in one batch: a pixel
    is inverted when it is >= the threshold (nothing compares >= NaN)."""
    thresholds = [256, 300.5, float("inf"), float("nan"), -3, float("-inf"), 255.5, 0.5, 1e300]
    pixels = torch.arange(256, dtype=torch.uint8).view(1, 16, 16).expand(3, 16, 16)
    out = run_tensor("Solarize", pixels.expand(len(thresholds), 3, 16, 16).contiguous(), thresholds)
    for th, got in zip(thresholds, out):
        expected = torch.tensor([255 - p if p >= th else p for p in range(256)], dtype=torch.uint8)
        assert torch.equal(got, expected.view(1, 16, 16).expand(3, 16, 16)), th


def test_solarize_add_matches_timm_on_both_backends(images):
    from timm.data.auto_augment import solarize_add

    for img in images:
        for add in [0, 1, 30, 110, 128, 255]:
            expected = np.array(solarize_add(img, add))
            assert np.array_equal(np.array(run_pil("SolarizeAdd", img, add)), expected), add
            assert np.array_equal(run_tensor("SolarizeAdd", to_tensor(img)[None], add)[0].numpy(),
                                  to_tensor(Image.fromarray(expected)).numpy()), add


def test_identity_returns_the_image_unchanged(astronaut_pil, astronaut):
    assert run_pil("Identity", astronaut_pil, None) is astronaut_pil
    assert torch.equal(run_tensor("Identity", astronaut[None], None)[0], astronaut)


def test_kernels_do_not_modify_their_input(batch):
    before = batch.clone()
    for name in OPS:
        if name != "SamplePairing":
            run_tensor(name, batch, 1.5, aux=[(0.5, 0.5)] * len(batch))
    assert torch.equal(batch, before)


# ----------------------------------------------------------------------------- geometry


def _torchvision(name: str, image, v: float, interpolation=InterpolationMode.NEAREST, fill=0):
    """torchvision's own calls for each op, as its AutoAugment makes them."""
    if name == "ShearX":
        return TF.affine(image, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(v)), 0.0],
                         interpolation=interpolation, fill=fill, center=[0, 0])
    if name == "ShearY":
        return TF.affine(image, angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, math.degrees(math.atan(v))],
                         interpolation=interpolation, fill=fill, center=[0, 0])
    if name == "TranslateX":
        return TF.affine(image, angle=0.0, translate=[int(v), 0], scale=1.0, shear=[0.0, 0.0],
                         interpolation=interpolation, fill=fill)
    if name == "TranslateY":
        return TF.affine(image, angle=0.0, translate=[0, int(v)], scale=1.0, shear=[0.0, 0.0],
                         interpolation=interpolation, fill=fill)
    return TF.rotate(image, v, interpolation=interpolation, fill=fill)


def _pil_reference(name: str, img: Image.Image, v: float, resample=Image.Resampling.NEAREST, fill=0):
    """The ops written out with PIL from their stated conventions: ShearX(v) samples the input at
    (x + v y, y) about the top-left corner, TranslateX(v) moves the content right by v pixels,
    Rotate(v) turns it counter-clockwise about the centre."""
    coeffs = {"ShearX": (1, v, 0, 0, 1, 0), "ShearY": (1, 0, 0, v, 1, 0),
              "TranslateX": (1, 0, -v, 0, 1, 0), "TranslateY": (1, 0, 0, 0, 1, -v)}
    if name == "Rotate":
        return img.rotate(v, resample=resample, fillcolor=fill)
    return img.transform(img.size, Image.Transform.AFFINE, coeffs[name], resample=resample, fillcolor=fill)


def _compare_samples(got: torch.Tensor, ref: torch.Tensor, what: str, exact_fraction: float = 0.98):
    inside_got, inside_ref = got[2] == 255, ref[2] == 255
    assert (inside_got != inside_ref).float().mean() <= 1 - exact_fraction, what
    both = inside_got & inside_ref
    dx = (got[0].int() - ref[0].int())[both].abs()
    dy = (got[1].int() - ref[1].int())[both].abs()
    assert dx.max() <= 1 and dy.max() <= 1, what
    assert ((dx > 0) | (dy > 0)).float().mean() <= 1 - exact_fraction, what


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_ops_sample_the_same_pixels_as_torchvision_and_pil(name):
    coords = coordinate_image()
    values = GEOMETRIC_VALUES[name]
    out = run_tensor(name, coords.expand(len(values), *coords.shape).contiguous(), values)
    for v, got in zip(values, out):
        _compare_samples(got, _torchvision(name, coords, v), f"{name}({v}) vs torchvision")
        _compare_samples(got, to_tensor(_pil_reference(name, to_pil(coords), v)), f"{name}({v}) vs PIL")
        pil = to_tensor(run_pil(name, to_pil(coords), v))
        _compare_samples(pil, to_tensor(_pil_reference(name, to_pil(coords), v)), f"PIL kernel {name}({v}) vs PIL")


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_ops_on_a_picture_differ_from_torchvision_and_pil_in_few_pixels(name, astronaut, cat_pil):
    for img in [to_pil(astronaut), cat_pil]:
        t = to_tensor(img)
        for v in GEOMETRIC_VALUES[name]:
            got = run_tensor(name, t[None], v)[0]
            assert (got != _torchvision(name, t, v)).any(0).float().mean() <= 0.02, (name, v)
            assert (got != to_tensor(_pil_reference(name, img, v))).any(0).float().mean() <= 0.02, (name, v)
            pil = to_tensor(run_pil(name, img, v))
            assert (pil != to_tensor(_pil_reference(name, img, v))).any(0).float().mean() <= 0.02, (name, v)


def test_shear_ties_stay_within_one_pixel():
    # at 0.2 (AutoAugment's bin 6) one row in five samples exactly on pixel edges: float64 floor
    # (augsearch), float32 grid_sample (torchvision) and PIL's 16.16 fixed point break the ties apart
    coords = coordinate_image()
    for v in (0.2, -0.2, 0.6):
        got = run_tensor("ShearX", coords[None], v)[0]
        _compare_samples(got, _torchvision("ShearX", coords, v), f"ShearX({v})", exact_fraction=0.8)
        _compare_samples(got, to_tensor(_pil_reference("ShearX", to_pil(coords), v)), f"ShearX({v})",
                         exact_fraction=0.8)


def test_geometric_directions_and_fill_are_as_documented(astronaut, astronaut_pil):
    fill = (10, 200, 30)
    # TranslateX(+5) moves the content right, TranslateY(+5) down; the uncovered strip is the fill
    for backend in ("tensor", "pil"):
        def run(name, v, backend=backend):
            if backend == "tensor":
                return run_tensor(name, astronaut[None], v, fill=fill)[0]
            return to_tensor(run_pil(name, astronaut_pil, v, fill=fill))
        right, down = run("TranslateX", 5), run("TranslateY", 5)
        assert torch.equal(right[:, :, 5:], astronaut[:, :, :-5]), backend
        assert torch.equal(down[:, 5:], astronaut[:, :-5]), backend
        assert (right[:, :, :5] == torch.tensor(fill, dtype=torch.uint8).view(3, 1, 1)).all(), backend
        assert (down[:, :5] == torch.tensor(fill, dtype=torch.uint8).view(3, 1, 1)).all(), backend
        # Rotate(+90) is a counter-clockwise quarter turn (on a square image: exact)
        assert torch.equal(run("Rotate", 90), torch.rot90(astronaut, 1, dims=(1, 2))), backend
        assert torch.equal(run("Rotate", -90), torch.rot90(astronaut, -1, dims=(1, 2))), backend
        # ShearX(v): output (x, y) samples the input at (x + v y, y) about the top-left corner
        sheared = run("ShearX", 0.5)
        assert torch.equal(sheared[:, 0], astronaut[:, 0]), backend
        assert torch.equal(sheared[:, 10, :40], astronaut[:, 10, 5:45]), backend
        sheared = run("ShearY", 0.5)
        assert torch.equal(sheared[:, :40, 10], astronaut[:, 5:45, 10]), backend


def test_grayscale_images_use_the_first_fill_value(gray_pil):
    t = to_tensor(gray_pil)
    out = run_tensor("TranslateX", t[None], 4, fill=(77, 1, 2))[0]
    assert out.shape == t.shape and (out[:, :, :4] == 77).all()
    pil = run_pil("TranslateX", gray_pil, 4, fill=(77, 1, 2))
    assert pil.mode == "L" and (np.array(pil)[:, :4] == 77).all()


@pytest.mark.parametrize("name", GEOMETRIC)
def test_bilinear_matches_torchvision_inside_the_image(name, astronaut):
    white = torch.full_like(astronaut, 255)
    for fill in (0, 128):
        for v in GEOMETRIC_VALUES[name]:
            got = run_tensor(name, astronaut[None], v, interpolation="bilinear", fill=(fill,) * 3)[0]
            ref = _torchvision(name, astronaut, v, InterpolationMode.BILINEAR, fill=[float(fill)] * 3)
            inside = _torchvision(name, white, v, InterpolationMode.BILINEAR, fill=0)[0] == 255
            diff = (got.int() - ref.int()).abs()
            assert diff[:, inside].max() <= 1, (name, v)
            assert (diff > 1).any(0).float().mean() <= 0.03, (name, v)


@pytest.mark.parametrize("name", GEOMETRIC)
def test_bilinear_pil_kernel_is_pil(name, cat_pil):
    white = Image.new("RGB", cat_pil.size, (255, 255, 255))
    for v in GEOMETRIC_VALUES[name]:
        got = np.array(run_pil(name, cat_pil, v, interpolation="bilinear", fill=(1, 2, 3)), dtype=int)
        ref = np.array(_pil_reference(name, cat_pil, v, resample=Image.Resampling.BILINEAR, fill=(1, 2, 3)), dtype=int)
        # where the whole neighbourhood is inside for both; Image.rotate decides the border on its own matrix
        inside = ((np.array(run_pil(name, white, v, interpolation="bilinear")) == 255)
                  & (np.array(_pil_reference(name, white, v, resample=Image.Resampling.BILINEAR)) == 255)).all(2)
        assert inside.mean() > 0.3 and np.abs(got - ref)[inside].max() <= 1, (name, v)
        if name != "Rotate":  # the same affine coefficients, in double precision: the same image
            assert np.array_equal(got, ref), (name, v)


# ----------------------------------------------------------------------------- erasing and mixing

def test_cutout_box_is_centred_clipped_and_filled_on_both_backends(astronaut, astronaut_pil):
    fill = torch.tensor(DEFAULT_CUTOUT_FILL, dtype=torch.uint8).view(3, 1, 1)
    cases = [((0.5, 0.5), 10, (27, 27, 37, 37)), ((0.0, 0.0), 10, (0, 0, 5, 5)), ((0.99, 0.2), 16, (55, 5, 64, 21)),
             ((0.5, 0.5), 0, None), ((0.5, 0.5), 200, (0, 0, 64, 64))]
    for aux, side, box in cases:
        tensor = run_tensor("Cutout", astronaut[None], side, aux=[aux])[0]
        pil = to_tensor(run_pil("Cutout", astronaut_pil, side, aux))
        assert torch.equal(tensor, pil), (aux, side)
        expected = astronaut.clone()
        if box:
            x0, y0, x1, y1 = box
            expected[:, y0:y1, x0:x1] = fill
        assert torch.equal(tensor, expected), (aux, side)
    assert cutout_boxes(torch.tensor([10.0]), torch.tensor([[0.5, 0.5]]), 64, 64).tolist() == [[27, 27, 37, 37]]


def test_cutout_boxes_round_each_end_as_float64_arithmetic_does():
    """floor(centre -/+ side / 2 + 1/2) clipped to the image, each end in Python's float64; a NaN box is empty
    (its ends are equal) and an infinite side covers the image."""
    rng = np.random.default_rng(7)
    for width, height in ((32, 32), (21, 13), (224, 224), (1, 1), (1000, 7)):
        sides = np.concatenate([rng.random(2000) * 2.2 * max(width, height), [0.0, 1.0, 0.5, 1.5, 2.5, -3.0]])
        aux = rng.random((len(sides), 2))
        boxes = cutout_boxes(torch.from_numpy(sides), torch.from_numpy(aux), width, height).tolist()
        for side, (ax, ay), box in zip(sides.tolist(), aux.tolist(), boxes):
            cx, cy, half = ax * width, ay * height, side / 2
            ends = [(cx - half + 0.5, width), (cy - half + 0.5, height), (cx + half + 0.5, width),
                    (cy + half + 0.5, height)]
            assert box == [min(max(math.floor(v), 0), bound) for v, bound in ends], (side, ax, ay)
    nan = float("nan")
    empty = cutout_boxes(torch.tensor([nan, 4.0]), torch.tensor([[0.5, 0.5], [nan, 0.5]]), 9, 9).tolist()
    assert all(x0 == x1 or y0 == y1 for x0, y0, x1, y1 in empty)
    assert cutout_boxes(torch.tensor([float("inf")]), torch.tensor([[0.3, 0.9]]), 9, 7).tolist() == [[0, 0, 9, 7]]


def test_cutout_fill_setting(astronaut):
    out = run_tensor("Cutout", astronaut[None], 8, aux=[(0.5, 0.5)], cutout_fill=(1, 2, 3))[0]
    assert out[:, 28:36, 28:36].flatten(1).unique(dim=1).tolist() == [[1], [2], [3]]


def test_sample_pairing_blends_with_the_partner_the_aux_draw_picks(batch):
    pair = batch[:2]
    for weight in (0.0, 0.25, 0.4, 1.0):
        # aux[0] * 2 picks the partner: 0.75 -> image 1 for image 0; 0.6 -> image 1 for image 1 itself
        out = run_tensor("SamplePairing", pair, weight, aux=[(0.75, 0.0), (0.6, 0.0)])
        expected0 = (pair[0].double() * (1 - weight) + pair[1].double() * weight)
        assert (out[0].double() - expected0).abs().max() <= 1, weight
        assert (out[1].int() - pair[1].int()).abs().max() <= 1, weight
        assert (out[0] != pair[0]).any() == (weight > 0), weight
    assert torch.equal(run_tensor("SamplePairing", pair, 0.0, aux=[(0.75, 0), (0.1, 0)]), pair)


def test_sample_pairing_needs_a_batch(astronaut, astronaut_pil):
    with pytest.raises(PolicyError, match="batch"):
        run_pil("SamplePairing", astronaut_pil, 0.3)
    with pytest.raises(PolicyError, match="at least 2"):
        run_tensor("SamplePairing", astronaut[None], 0.3)


def test_describe_reads_like_the_parameter():
    assert OPS["Rotate"].describe(-12.5) == "Rotate -12.5\u00b0"
    assert OPS["Posterize"].describe(4.0) == "Posterize 4 bits"
    assert OPS["TranslateX"].describe(3.0) == "TranslateX 3px"
    assert OPS["Invert"].describe(None) == "Invert"
