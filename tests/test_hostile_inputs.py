"""What users pass to a policy and write in its files that the ops cannot take: converted or
refused in one line, never an IndexError or a PIL error from deep inside an op, half the time."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from augsearch import AugMix, CutMix, Cutout, Mixup, PolicyError, RandAugment, TrivialAugment, load_policy
from augsearch.cli import main
from augsearch.formats import parse_text
from augsearch.options import read_file
from augsearch.recipe import AugmentationRecipe
from augsearch.search.config import RunConfig

OTHER_MODES = ("RGBA", "LA", "P", "I", "I;16", "F", "CMYK", "1", "HSV", "YCbCr")


def _image(mode: str) -> Image.Image:
    return Image.new("I;16", (16, 16)) if mode == "I;16" else Image.new("RGB", (16, 16), (90, 40, 200)).convert(mode)


@pytest.mark.parametrize("mode", OTHER_MODES)
def test_a_pil_mode_the_ops_cannot_take_is_refused_on_every_call(mode):
    policy = RandAugment(2, 9)
    for seed in range(30):  # before: PIL errors in some calls only, depending on the op drawn
        with pytest.raises(TypeError, match=rf"mode RGB or L, got mode '{mode}': convert it first"):
            policy(_image(mode), generator=torch.Generator().manual_seed(seed))
    with pytest.raises(TypeError, match="convert it first"):  # inside a sample too
        policy({"image": _image(mode), "label": 3})


@pytest.mark.parametrize("mode", ("RGB", "L"))
def test_rgb_and_grey_pil_images_keep_their_mode(mode):
    policy = TrivialAugment()
    for seed in range(40):
        assert policy(_image(mode), generator=torch.Generator().manual_seed(seed)).mode == mode


@pytest.mark.parametrize("image", [Image.new("RGB", (0, 0)), Image.new("L", (5, 0)),
                                   torch.zeros(3, 0, 0, dtype=torch.uint8), torch.zeros(2, 3, 4, 0, dtype=torch.uint8),
                                   tv_tensors.Image(torch.zeros(3, 0, 7, dtype=torch.uint8))])
def test_an_empty_image_is_refused(image):
    with pytest.raises(ValueError, match=r"the image is empty \(\d+x\d+ pixels\)"):
        RandAugment(2, 9)(image)


def test_a_policy_called_with_nothing_says_how_to_call_it():
    with pytest.raises(TypeError, match=r"call it as policy\(image\)"):
        TrivialAugment()()


def test_a_mask_of_no_objects_moves_with_its_image():
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    empty = tv_tensors.Mask(torch.zeros(0, 16, 16, dtype=torch.uint8))
    policy = RandAugment(2, 9)
    for seed in range(60):  # before: IndexError whenever a geometric op was drawn
        out, mask = policy(image, empty, generator=torch.Generator().manual_seed(seed))
        assert out.shape == image.shape and mask.shape == (0, 16, 16) and isinstance(mask, tv_tensors.Mask)
    pil_out, pil_mask = policy(Image.new("RGB", (16, 16)), empty, generator=torch.Generator().manual_seed(1))
    assert pil_mask.shape == (0, 16, 16)


def test_an_op_name_that_is_not_text_is_refused_with_its_place(tmp_path):
    path = tmp_path / "nested.yaml"
    path.write_text("augsearch: 1\nkind: randaugment\nn: 2\nm: 9\nops: [Rotate, [ShearX]]\n")
    with pytest.raises(PolicyError, match=r"nested\.yaml:5: ops\[1\]: must be an op name \(got \['ShearX'\]\)"):
        load_policy(path)
    with pytest.raises(PolicyError, match=r"ops\[0\]"):
        TrivialAugment(ops=[{"name": "Rotate"}])


@pytest.mark.parametrize("make", [lambda: AugMix(alpha=float("inf")), lambda: Mixup(float("inf"), num_classes=10),
                                  lambda: Mixup(1.0, cutmix_alpha=float("nan"), num_classes=10),
                                  lambda: CutMix(1e9, num_classes=10)])
def test_a_concentration_that_cannot_draw_is_refused(make):
    # before: AugMix turned every image black, mixup's targets became NaN and training "diverged"
    with pytest.raises(PolicyError, match=r"alpha: must be a number in \[[0-9e.-]+, 1000\]"):
        make()


def test_a_class_count_beyond_memory_is_refused():
    with pytest.raises(PolicyError, match=r"num_classes: must be an integer in \[2, 1,000,000\]"):
        Mixup(1.0, num_classes=10**9)
    with pytest.raises(PolicyError, match=r"num_classes"):
        AugmentationRecipe(num_classes=10**9)


def test_exponent_numbers_are_numbers_in_yaml_files(tmp_path):
    # YAML 1.1 reads 1e-3 as text; users (and YAML 1.2, JSON, Python) mean a number
    assert parse_text("a: 1e-3\nb: -2E+2\nc: 1.5e-3\nd: '1e-3'\ne: 1e3x\nf: 7\n") == {
        "a": 0.001, "b": -200.0, "c": 0.0015, "d": "1e-3", "e": "1e3x", "f": 7}
    path = tmp_path / "augmix.yaml"
    path.write_text("augsearch: 1\nkind: augmix\nalpha: 1e-06\n")
    assert load_policy(path).alpha == 1e-6
    options = tmp_path / "train.yaml"
    options.write_text("lr: 1e-3\nweight_decay: 5e-4\n")
    assert read_file(RunConfig, options) == {"lr": 0.001, "weight_decay": 0.0005}


@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "--num-sub-policies", "100000000"], "--num-sub-policies must be in [1, 1,000] (got 100000000)"),
    (["run", "--seed", "100000000000000000000"], "--seed must be in [0, 9,223,372,036,854,775,807]"),
    (["run", "--image-size", "2"], "--image-size must be in [8, 1,024] (got 2)"),
    (["train", "none", "--threads", "100000"], "--threads must be in [1, 256] (got 100000)"),
    (["train", "none", "--image-size", "3000", "--subset", "50"], "--image-size must be in [8, 1,024] (got 3000)"),
    (["compare", "none", "--seed", "-1"], "--seed must be in [0, 9,223,372,036,854,775,807] (got -1)"),
    (["train", "none", "--subset", "1"], "--subset must be at least 2 (got 1)"),
])
def test_numbers_beyond_what_the_machine_survives_are_refused_before_work_starts(tmp_path, capsys, argv, expected):
    # before: a MemoryError after gigabytes, libgomp out of memory, a 65 GB allocation, an overflow traceback
    out = ["--out", str(tmp_path / "run")]
    assert main([*argv, *out]) == 2
    err = capsys.readouterr().err
    assert f"error: command line: {expected}" in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


def test_a_bound_in_a_config_file_names_the_file_and_the_field(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 100000000000000000000\n")
    assert main(["run", "-c", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (f"augsearch run: error: {path}: seed must be in "
                                               "[0, 9,223,372,036,854,775,807] (got 100000000000000000000)")


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: AugMix(width=11), r"width: must be an integer in \[1, 10\] \(got 11\)"),
    (lambda: AugMix(depth=100), r"depth must be -1 \(1..3 at random\) or an integer 1..10"),
    (lambda: Cutout(4, holes=1000), r"holes: must be an integer in \[1, 128\] \(got 1000\)"),
])
def test_settings_that_make_a_call_absurdly_slow_are_refused(make, expected):
    with pytest.raises(PolicyError, match=expected):  # before: 58 s for 9 AugMix tiles, 7x slower training
        make()


def test_the_most_cutout_holes_draw_one_batch_as_one_image_at_a_time():
    policy = Cutout(3, holes=128)
    one_by_one = [policy.draw((16, 16), generator=torch.Generator().manual_seed(5)) for _ in range(1)]
    table = policy.draw_batch(1, (16, 16), generator=torch.Generator().manual_seed(5))
    assert table.plans() == one_by_one and len(one_by_one[0]) == 128
