"""Sample grids: layout, annotations that match the tiles, Mixup/CutMix labels, and ``augsearch show``."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from augsearch import AugMix, CutMix, Mixup, Policy
from augsearch.cli import main
from augsearch.errors import DataError
from augsearch.ops import OPS
from augsearch.viz.draw import GAP, MARGIN, Tile, font, sheet, text_width, wrap
from augsearch.viz.grid import sample_grid, sample_tiles


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Three random 32x32 RGB images: every op visibly changes them."""
    return torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_grid_has_one_row_per_image_and_n_plus_one_tiles(images):
    rows = sample_tiles("fast-aa/reduced-cifar10", images, n=4)
    assert len(rows) == 3 and all(len(r) == 5 for r in rows)
    assert all(t.image.size == (32, 32) for r in rows for t in r)
    assert all(np.array_equal(pixels(r[0].image), images[i].permute(1, 2, 0).numpy()) for i, r in enumerate(rows))
    grid = sample_grid("fast-aa/reduced-cifar10", images, n=4, tile=96)
    assert grid.width == 2 * MARGIN + 5 * 96 + 4 * GAP
    assert grid.height >= 3 * 96 + 2 * GAP


def test_draws_follow_the_seed(images):
    first = [pixels(t.image) for r in sample_tiles("trivial", images, n=3, seed=5) for t in r]
    again = [pixels(t.image) for r in sample_tiles("trivial", images, n=3, seed=5) for t in r]
    other = [pixels(t.image) for r in sample_tiles("trivial", images, n=3, seed=6) for t in r]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_annotation_is_what_was_applied_to_that_tile(images):
    policy = Policy([[("Rotate", 1.0, 9)]], convention="autoaugment")
    signs = set()
    for row in sample_tiles(policy, images, n=6, annotate=True):
        for tile in row[1:]:
            match = re.fullmatch(r"Rotate (-?\d+)°", tile.caption)
            assert match, tile.caption
            angle = float(match.group(1))
            assert abs(angle) == 30  # bin 9 of AutoAugment's 0..30 degrees, either sign
            signs.add(angle > 0)
            expected = OPS["Rotate"].pil(row[0].image, angle, (0.0, 0.0), fill=(0, 0, 0), interpolation="nearest")
            assert np.array_equal(pixels(tile.image), pixels(expected))
    assert signs == {True, False}


def test_an_op_that_never_fires_leaves_the_tile_and_says_none(images):
    policy = Policy([[("Rotate", 0.0, 9)]], convention="autoaugment")
    for row in sample_tiles(policy, images, n=3, annotate=True):
        for tile in row[1:]:
            assert tile.caption == "none"
            assert np.array_equal(pixels(tile.image), pixels(row[0].image))


def test_without_annotate_only_the_originals_are_captioned(images):
    rows = sample_tiles("randaugment:n=2,m=9", images, n=2, names=["a", "b", "c"])
    assert [r[0].caption for r in rows] == ["original\na", "original\nb", "original\nc"]
    assert all(t.caption == "" for r in rows for t in r[1:])


def test_sample_pairing_and_augmix_draw_in_a_batch(images):
    pairing = Policy([[("SamplePairing", 1.0, 9)]], convention="autoaugment")
    assert all(t.caption == "SamplePairing 0.4" for r in sample_tiles(pairing, images, n=2, annotate=True)
               for t in r[1:])
    for row in sample_tiles(AugMix(jsd=True), images, n=2, annotate=True):
        assert all(t.caption.startswith("AugMix mix ") and t.image.size == (32, 32) for t in row[1:])


@pytest.mark.parametrize("policy", [Mixup(1.0, num_classes=3), CutMix(1.0, num_classes=3)],
                         ids=["mixup", "cutmix"])
def test_mixing_grids_show_soft_labels_in_class_names(images, policy):
    classes = ["cat", "dog", "fox"]
    rows = sample_tiles(policy, images, n=4, labels=[0, 1, 2], classes=classes)
    assert [r[0].caption for r in rows] == ["original\ncat", "original\ndog", "original\nfox"]
    for i, row in enumerate(rows):
        for tile in row[1:]:
            parts = [p.split(" ", 1) for p in tile.caption.split(" + ")]
            assert {name for _, name in parts} <= {classes[i], classes[2 - i]}  # mixed with the reversed batch
            assert sum(float(share) for share, _ in parts) == pytest.approx(1.0, abs=0.011)


def test_mixing_needs_labels_that_fit_the_policy(images):
    with pytest.raises(DataError, match="labels"):
        sample_tiles(Mixup(1.0, num_classes=3), images)
    with pytest.raises(DataError, match="num_classes=2"):
        sample_tiles(Mixup(1.0, num_classes=2), images, labels=[0, 1, 2])


def test_wrapped_text_fits_the_tile_and_is_truncated_visibly():
    fnt = font(12)
    text = "TranslateXRel: TranslateX -14.2px\nSolarizeIncreasing: Solarize 206 " + "x" * 80
    lines = wrap(text, fnt, 90, max_lines=4)
    assert len(lines) == 4 and lines[-1].endswith("…")
    assert all(text_width(line, fnt) <= 90 for line in lines)


def test_caption_bands_grow_with_the_text():
    tile = Image.new("RGB", (16, 16))
    short = sheet([[Tile(tile, "a")]], tile=64)
    long = sheet([[Tile(tile, "a\nb\nc")]], tile=64)
    assert long.height > short.height and long.width == short.width


def test_show_writes_a_grid_of_sample_photos(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["show", "fast-aa/reduced-cifar10", "--annotate", "--rows", "2", "--n", "3", "--size", "64",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as grid:
        assert grid.width == 2 * MARGIN + 4 * 64 + 3 * GAP


def test_show_takes_dataset_rows_and_image_folders(tmp_path):
    assert main(["show", "cutmix:alpha=1.0,num_classes=10", "--dataset", "digits", "--rows", "3", "--n", "2",
                 "--out", str(tmp_path / "digits.png")]) == 0
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        Image.new("RGB", (50, 40), colour).save(folder / f"{name}.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "folder.png"
    assert main(["show", "mixup:alpha=1.0,num_classes=2", "--images", str(folder), "--n", "2", "--size", "48",
                 "--out", str(out)]) == 0
    with Image.open(out) as grid:
        assert grid.width == 2 * MARGIN + 3 * 48 + 2 * GAP


@pytest.mark.parametrize("argv", [
    ["show", "trivial", "--images", "/no/such/folder"],
    ["show", "trivial", "--rows", "50"],
    ["show", "trivial", "--n", "0"],
    ["show", "not-a-policy"],
    ["show", "mixup:alpha=1.0,num_classes=2", "--rows", "3"],
])
def test_show_errors_are_one_line(argv, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("augsearch show: error: ") and err.count("\n") == 1
