"""Spaces that adapt to the data: TrivialAugment with per-op strengths, the ``adaptive`` space (which
ops, how strong, which fill, which base), the ``crop`` base, and a search that decides the flip on
data a mirror changes."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import write_arrows_folder

import augsearch
from augsearch.bases import BASES
from augsearch.cli import main
from augsearch.conventions import get_convention
from augsearch.data import ImageSet
from augsearch.errors import PolicyError
from augsearch.families import TRIVIAL_OPS, TrivialAugment
from augsearch.recipe import AugmentationRecipe
from augsearch.registry import build
from augsearch.search.spaces import SPACES, AdaptiveSpace

# ----------------------------------------------------------------------------- strengths


def test_a_strength_cuts_an_ops_range_and_nothing_else():
    wide = get_convention("trivial-wide")
    cut = wide.scaled({"Rotate": 0.25, "Posterize": 0.5})
    assert cut.name == wide.name and cut.entry("ShearX") == wide.entry("ShearX")
    assert cut.value("Rotate", 30, size=(32, 32)) == pytest.approx(135 * 0.25)
    assert cut.value("Rotate", 0, size=(32, 32)) == 0.0
    assert [cut.value("Posterize", m, size=(32, 32)) for m in (0, 30)] == [8.0, 5.0]  # 8..2 bits cut to 8..5
    negated = cut.values("Rotate", torch.tensor([30.0]), size=(32, 32), negate=torch.tensor([True]))
    assert negated.item() == pytest.approx(-135 * 0.25)


@pytest.mark.parametrize(("strengths", "place"), [
    ({"Rotate": 0}, "strengths.Rotate"), ({"Rotate": 1.5}, "strengths.Rotate"), ({"Rotate": float("nan")},
                                                                                   "strengths.Rotate"),
    ({"Rotate": True}, "strengths.Rotate"), ({"Rotate": "0.5"}, "strengths.Rotate"),
    ({"AutoContrast": 0.5}, "strengths.AutoContrast"), ({"Invert": 0.5}, "strengths.Invert"),
    (["Rotate"], "strengths"), ("Rotate", "strengths")])
def test_bad_strengths_are_one_error_naming_the_place(strengths, place):
    with pytest.raises(PolicyError) as err:
        TrivialAugment(ops=["Identity", "Rotate", "AutoContrast"], strengths=strengths)
    assert str(err.value).startswith(place), err.value


def test_strengths_round_trip_through_files_and_draw_the_same_in_batches(tmp_path):
    policy = TrivialAugment(ops=["Identity", "Rotate", "Posterize", "TranslateX", "FlipUD"],
                            strengths={"Rotate": 0.25, "TranslateX": 0.5}, fill=255)
    loaded = augsearch.load_policy(policy.save(tmp_path / "ta.yaml"))
    assert loaded == policy and loaded.strengths == {"Rotate": 0.25, "TranslateX": 0.5}
    assert "strengths: {Rotate: 0.25, TranslateX: 0.5}" in (tmp_path / "ta.yaml").read_text()
    images = torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8)
    batch = loaded(images, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    one_by_one = torch.stack([loaded(image, generator=generator) for image in images])
    assert torch.equal(batch, one_by_one)
    # at full strength the policy is TrivialAugment's own, draw for draw
    full = TrivialAugment(ops=policy.ops, strengths={"Rotate": 1.0}, fill=255)
    plain = TrivialAugment(ops=policy.ops, fill=255)
    assert torch.equal(full(images, generator=torch.Generator().manual_seed(1)),
                       plain(images, generator=torch.Generator().manual_seed(1)))


def test_the_strongest_rotation_a_cut_policy_draws_is_its_share_of_the_range():
    policy = TrivialAugment(ops=["Rotate"], strengths={"Rotate": 0.2})
    angles = [abs(call.value) for _ in range(400) for call in policy.draw((32, 32))]
    assert max(angles) <= 27.0 + 1e-9 and max(angles) > 20  # 135 degrees x 0.2, reached by the top bins


def test_exports_follow_the_strengths():
    pytest.importorskip("albumentations")
    from augsearch.export.albumentations import to_albumentations

    text = str(to_albumentations(TrivialAugment(ops=["Rotate"], strengths={"Rotate": 0.2})))
    assert "rotate=(27.0, 27.0)" in text and "rotate=(135.0" not in text


# ----------------------------------------------------------------------------- the space


def test_the_adaptive_space_starts_from_trivialaugment_with_the_runs_base():
    space = build(SPACES.get("adaptive"), {"base": "crop", "trials": 3})
    (start,) = space.start()
    recipe = space.candidate(start)
    assert isinstance(recipe, AugmentationRecipe) and recipe.base == "crop"
    assert recipe.policy == TrivialAugment()  # wide, every op at full strength, black fill
    assert build(SPACES.get("adaptive"), {"base": "none"}).candidate(build(SPACES.get("adaptive"), {
        "base": "none"}).start()[0]).base == "crop-flip"  # a base the space does not search: its default
    assert set(space.distributions()) == {f"strength_{op}" for op in (*TRIVIAL_OPS[1:], "FlipLR", "FlipUD")} | {
        "fill", "base"}


def test_an_adaptive_candidate_drops_ops_cuts_strengths_and_fills_with_the_datas_mean():
    images = torch.full((6, 3, 8, 8), 250, dtype=torch.uint8)
    images[:, 2] = 10
    space = AdaptiveSpace().adapt(ImageSet(images, torch.zeros(6, dtype=torch.int64), ["a"], "flat"))
    params = {f"strength_{op}": 0.0 for op in (*TRIVIAL_OPS[1:], "FlipLR", "FlipUD")}
    params |= {"strength_Rotate": 0.25, "strength_FlipUD": 1.0, "strength_Equalize": 1.0, "fill": "mean",
               "base": "crop"}
    recipe = space.candidate(params)
    assert recipe.base == "crop" and recipe.policy.ops == ("Identity", "Rotate", "Equalize", "FlipUD")
    assert recipe.policy.strengths == {"Rotate": 0.25} and recipe.policy.fill == (250, 250, 10)


# ----------------------------------------------------------------------------- the crop base


def test_the_crop_base_shifts_but_never_mirrors():
    ramp = torch.arange(16, dtype=torch.uint8).view(1, 1, 1, 16).expand(200, 3, 16, 16).contiguous()
    torch.manual_seed(0)
    out = BASES.get("crop")()(ramp)
    rows = out[:, 0, 8].to(torch.int64)
    inside = rows[:, 1:] > 0
    steps = (rows[:, 1:] - rows[:, :-1])[inside & (rows[:, :-1] > 0)]
    assert (steps == 1).all()  # every row still runs left to right: shifted, never reversed
    assert len({tuple(r.tolist()) for r in rows}) > 3  # and shifted by different amounts
    torch.manual_seed(0)
    flipped = BASES.get("crop-flip")()(ramp)[:, 0, 8].to(torch.int64)
    assert ((flipped[:, 1:] - flipped[:, :-1]) == -1).any()


def test_train_takes_the_crop_base(tmp_path):
    metrics = augsearch.train("none", dataset="digits", subset=200, epochs=1, base="crop", out=str(tmp_path / "t"))
    assert metrics["base"] == "crop" and 0 <= metrics["train_acc"] <= 1


# ----------------------------------------------------------------------------- a search decides the flip


def test_a_search_on_arrows_drops_the_mirror_that_turns_one_class_into_the_other(tmp_path, capsys):
    folder = write_arrows_folder(tmp_path / "arrows", n=100)
    out = tmp_path / "run"
    assert main(["run", "--space", "adaptive", "--dataset", f"folder:{folder}", "--image-size", "16", "--epochs",
                 "10", "--batch-size", "16", "--trials", "8", "--score", "loss", "--engine", "local", "--no-report",
                 "--out", str(out), "--quiet"]) == 0
    trials = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    mirrored = [t["metrics"]["accuracy"] for t in trials if t["params"]["base"] == "crop-flip"]
    plain = [t["metrics"]["accuracy"] for t in trials if t["params"]["base"] == "crop"]
    assert mirrored and plain and max(mirrored) <= 0.6 < max(plain)  # the premise: mirroring erases the classes
    found = augsearch.load_policy(out / "policy.yaml")
    assert found.base == "crop" and "FlipLR" not in found.policy.ops
