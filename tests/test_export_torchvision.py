"""torchvision export: a v2 transform that applies the policy to PIL images, plain uint8 (or float
[0, 1]) tensors and tv_tensors.Image, passes labels through, and pickles (boxes, masks and
keypoints: tests/test_tv_transform.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from augsearch import AugMix, CutMix, Cutout, Mixup, Policy, RandAugment, load_policy
from augsearch.errors import PolicyError
from augsearch.export.torchvision import PolicyTransform, to_torchvision

INVERT = Policy([[("Invert", 1.0, None)]])
ROTATE = Policy([[("Rotate", 1.0, 9)]])


def tensor_image(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (3, 24, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_each_image_type_comes_back_as_that_type_with_augsearchs_output():
    x = tensor_image()
    pil = Image.fromarray(x.permute(1, 2, 0).numpy())
    transform = to_torchvision(INVERT)
    out_pil, out_tensor, out_image = transform(pil), transform(x), transform(tv_tensors.Image(x))
    assert isinstance(out_pil, Image.Image) and np.array_equal(np.asarray(out_pil), 255 - np.asarray(pil))
    assert type(out_tensor) is torch.Tensor and torch.equal(out_tensor, 255 - x)
    assert type(out_image) is tv_tensors.Image and torch.equal(out_image.as_subclass(torch.Tensor), 255 - x)


def test_the_output_is_what_the_policy_gives_under_the_same_seed():
    policy = load_policy("autoaugment/imagenet")
    x = tensor_image()
    torch.manual_seed(5)
    ours = [policy(x) for _ in range(5)]
    torch.manual_seed(5)
    exported = [to_torchvision(policy)(tv_tensors.Image(x)) for _ in range(5)]
    assert all(torch.equal(a, b.as_subclass(torch.Tensor)) for a, b in zip(ours, exported, strict=True))


def test_inside_compose_labels_masks_and_boxes_pass_through_untouched():
    x = tensor_image()
    mask = tv_tensors.Mask(torch.ones(24, 32, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes([[1, 2, 10, 12]], format="XYXY", canvas_size=(24, 32))
    pipeline = v2.Compose([to_torchvision(INVERT), v2.ToDtype(torch.float32, scale=True)])
    out = pipeline({"image": tv_tensors.Image(x), "mask": mask, "boxes": boxes, "label": 3})
    assert type(out["image"]) is tv_tensors.Image and out["image"].dtype == torch.float32
    assert torch.allclose(out["image"].as_subclass(torch.Tensor), (255 - x).float() / 255)
    assert out["mask"] is mask and out["boxes"] is boxes and out["label"] == 3


def test_a_plain_tensor_label_beside_a_plain_tensor_image_is_not_augmented():
    x, label = tensor_image(), torch.tensor(7)
    image, out_label = to_torchvision(INVERT)(x, label)
    assert torch.equal(image, 255 - x) and out_label is label


def test_images_of_one_sample_share_one_plan():
    x = tensor_image()
    first, second = to_torchvision(ROTATE)(tv_tensors.Image(x), tv_tensors.Image(x.clone()))
    assert torch.equal(first, second) and not torch.equal(first.as_subclass(torch.Tensor), x)


def test_a_batch_gets_one_plan_per_image():
    batch = tensor_image().expand(16, 3, 24, 32).contiguous()
    torch.manual_seed(0)
    out = to_torchvision(ROTATE)(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert len({bytes(img.numpy()) for img in out}) == 2  # +30 and -30 degrees


@pytest.mark.parametrize("policy", [load_policy("autoaugment/cifar10"), RandAugment(2, 9), AugMix(), Cutout(8)],
                         ids=["policy", "randaugment", "augmix", "cutout"])
def test_pickles_and_the_copy_behaves_the_same(policy):
    transform = to_torchvision(policy)
    copy = pickle.loads(pickle.dumps(transform))
    assert isinstance(copy, PolicyTransform) and copy.policy == policy
    x = tensor_image()
    torch.manual_seed(1)
    a = transform(x)
    torch.manual_seed(1)
    assert torch.equal(a, copy(x))


def test_float_images_in_0_1_are_taken_and_others_refused_with_the_expected_types():
    x = tensor_image()
    out = to_torchvision(INVERT)(x.float() / 255)
    assert out.dtype == torch.float32 and torch.allclose(out, (255 - x).float() / 255)
    with pytest.raises(TypeError, match="uint8"):
        to_torchvision(INVERT)(x.float())


def test_images_of_different_sizes_in_one_sample_are_refused():
    with pytest.raises(ValueError, match="one size"):
        small = tv_tensors.Image(torch.zeros(3, 5, 5, dtype=torch.uint8))
        to_torchvision(INVERT)(tv_tensors.Image(tensor_image()), small)


@pytest.mark.parametrize(("policy", "message"), [
    (Mixup(num_classes=10), "mixup mixes"),
    (CutMix(num_classes=10), "cutmix mixes"),
    (AugMix(jsd=True), "jsd"),
    ("randaugment-n2-m9", "expected an augsearch policy"),
], ids=["mixup", "cutmix", "augmix-jsd", "not-a-policy"])
def test_what_cannot_be_a_per_sample_transform_is_refused(policy, message):
    with pytest.raises(PolicyError, match=message):
        to_torchvision(policy)
