"""timm_transform: timm's training transform with an augsearch policy where timm puts auto_augment,
and one-line errors for what cannot go there."""

from __future__ import annotations

import pickle

import pytest
import torch
from PIL import Image
from timm.data import create_transform

from augsearch import AugsearchError, load_policy
from augsearch.integrations import timm_transform


def stage_names(compose) -> list[str]:
    return [type(t).__name__ for t in compose.transforms]


def test_the_policy_takes_the_place_of_timms_auto_augment():
    kwargs = dict(input_size=(3, 48, 48), interpolation="bicubic", re_prob=0.25, vflip=0.5)
    ours = timm_transform("fast-aa/reduced-cifar10", **kwargs)
    timms = create_transform(is_training=True, auto_augment="rand-m9-mstd0.5", **kwargs)
    assert stage_names(ours) == [n if n != "RandAugment" else "Policy" for n in stage_names(timms)]
    assert ours.transforms[3] == load_policy("fast-aa/reduced-cifar10")
    assert "ColorJitter" not in stage_names(ours)  # off, as with auto_augment
    assert "ColorJitter" in stage_names(timm_transform("trivial", input_size=48, force_color_jitter=True))


def test_it_takes_odd_images_and_crosses_processes():
    transform = timm_transform("trivial", input_size=(3, 40, 56), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    copy = pickle.loads(pickle.dumps(transform))  # DataLoader workers under spawn pickle it
    for image in (Image.new("RGB", (7, 300), (200, 10, 10)), Image.new("L", (640, 9)).convert("RGB")):
        torch.manual_seed(0)
        out = transform(image)
        torch.manual_seed(0)
        assert out.shape == (3, 40, 56) and out.dtype == torch.float32 and torch.equal(out, copy(image))


def test_separate_gives_timms_three_stages_with_the_policy_first_in_the_second():
    primary, secondary, final = timm_transform("augmix:severity=3", input_size=32, separate=True,
                                               force_color_jitter=True)
    assert stage_names(primary) == ["RandomResizedCropAndInterpolation", "RandomHorizontalFlip"]
    assert stage_names(secondary) == ["AugMix", "ColorJitter"]
    assert stage_names(final) == ["MaybeToTensor", "Normalize"]


def test_a_policy_object_and_a_file_are_taken_too(tmp_path):
    policy = load_policy("randaugment:n=1,m=5")
    path = policy.save(tmp_path / "found.yaml")
    assert timm_transform(path, input_size=32).transforms[2] == policy
    assert timm_transform(policy, input_size=32).transforms[2] is policy


@pytest.mark.parametrize("policy, kwargs, message", [
    ("mixup:alpha=0.2,num_classes=10", {}, "a mixup policy mixes a batch with its labels"),
    ("cutmix:alpha=1.0,num_classes=10", {}, "a cutmix policy mixes a batch"),
    ("augmix:jsd=true", {}, "AugMix with jsd: true returns three views"),
    ("trivial", {"auto_augment": "rand-m9-mstd0.5"}, "auto_augment='rand-m9-mstd0.5' would add timm's own policy"),
    ("trivial", {"no_aug": True}, "no_aug=True would drop the policy"),
    ("trivial", {"is_training": False}, "timm_transform builds the training transform"),
    ("trivial", {"tf_preprocessing": True}, "tf_preprocessing=True has no place for a policy"),
    ("no-such-policy", {}, "unknown policy spec"),
    (42, {}, "expected a policy file"),
])
def test_what_cannot_go_there_is_a_one_line_error(policy, kwargs, message):
    with pytest.raises(AugsearchError) as err:
        timm_transform(policy, input_size=32, **kwargs)
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1
