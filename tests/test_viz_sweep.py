"""Op sweeps for every op of every convention, and ``augsearch sweep``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from augsearch.cli import main
from augsearch.conventions import CONVENTIONS
from augsearch.errors import AugsearchError, PolicyError
from augsearch.viz.grid import sample_photos
from augsearch.viz.sweep import magnitudes, sweep_sheet, sweep_tiles

STEPS = 5


@pytest.fixture(scope="module")
def photos() -> tuple[Image.Image, Image.Image]:
    """A small astronaut and a small coffee (SamplePairing's partner)."""
    _, batch = sample_photos(3, size=40)
    return Image.fromarray(batch[0].permute(1, 2, 0).numpy()), Image.fromarray(batch[2].permute(1, 2, 0).numpy())


ALL = [(c.name, name) for c in CONVENTIONS.values() for name in c.entries]


@pytest.mark.parametrize(("convention", "name"), ALL, ids=[f"{c}-{n}" for c, n in ALL])
def test_every_op_of_every_convention_sweeps(convention, name, photos):
    image, partner = photos
    tiles = sweep_tiles(name, convention=convention, steps=STEPS, image=image, partner=partner)
    c = CONVENTIONS[convention]
    assert tiles[0].caption == "original"
    assert all(t.image.size == image.size for t in tiles)
    if c.entry(name).range is None:
        assert [t.caption for t in tiles] == ["original", "applied"]
        return
    assert len(tiles) == 1 + len(magnitudes(c, STEPS))
    assert [t.caption.split("\n")[-1] for t in tiles[1:]] == [f"m={m:g}" for m in magnitudes(c, STEPS)]
    first, last = (np.asarray(tiles[k].image) for k in (1, -1))
    assert not np.array_equal(first, last), "the sweep's ends look the same"


def test_magnitudes_span_the_scale():
    assert magnitudes(CONVENTIONS["fast-aa"], 11) == pytest.approx([k / 10 for k in range(11)])
    assert magnitudes(CONVENTIONS["autoaugment"], 11) == list(range(10))  # bins, each once
    assert magnitudes(CONVENTIONS["trivial-wide"], 4) == [0, 10, 20, 30]
    with pytest.raises(AugsearchError, match="steps"):
        magnitudes(CONVENTIONS["timm"], 1)


def test_captions_carry_physical_values(photos):
    tiles = sweep_tiles("Rotate", convention="autoaugment", steps=11, image=photos[0], partner=photos[1])
    assert tiles[-1].caption == "30°\nm=9" and tiles[1].caption == "0°\nm=0"
    tiles = sweep_tiles("Posterize", convention="trivial-wide", steps=3, image=photos[0], partner=photos[1])
    assert [t.caption for t in tiles[1:]] == ["8 bits\nm=0", "5 bits\nm=15", "2 bits\nm=30"]


def test_sheet_has_a_row_per_op_and_says_how_signs_are_shown(photos):
    one = sweep_sheet(["Rotate"], convention="fast-aa", steps=3, image=photos[0], partner=photos[1], tile=48)
    two = sweep_sheet(["Rotate", "Invert"], convention="fast-aa", steps=3, image=photos[0], partner=photos[1],
                      tile=48)
    assert two.width == one.width and two.height > one.height + 48
    with pytest.raises(PolicyError, match="not part of the 'autoaugment' convention"):
        sweep_sheet(["TranslateXRel"], convention="autoaugment")


def test_sweep_command_writes_sheets(tmp_path, capsys):
    out = tmp_path / "rotate.png"
    assert main(["sweep", "Rotate", "--convention", "fast-aa", "--steps", "3", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    picture = tmp_path / "in.png"
    Image.new("RGB", (60, 30), (20, 120, 220)).save(picture)
    assert main(["sweep", "--all", "--convention", "randaugment-31", "--steps", "3", "--image", str(picture),
                 "--out", str(tmp_path / "all.png")]) == 0
    with Image.open(out) as one, Image.open(tmp_path / "all.png") as sheet:
        assert sheet.height > 5 * one.height


@pytest.mark.parametrize("argv", [
    ["sweep", "Nope"],
    ["sweep", "SamplePairing", "--convention", "randaugment"],
    ["sweep"],
    ["sweep", "Rotate", "--all"],
    ["sweep", "Rotate", "--convention", "bogus"],
    ["sweep", "Rotate", "--steps", "1"],
    ["sweep", "Rotate", "--image", "/no/such.png"],
])
def test_sweep_errors_are_one_line(argv, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("augsearch sweep: error: ") and err.count("\n") == 1
