"""Policies inside DataLoader workers and torchvision pipelines: picklable, different randomness
per worker, reproducible under ``torch.manual_seed``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import natural, to_pil, to_tensor
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torchvision import tv_tensors
from torchvision.transforms import v2

from augsearch import AugMix, Cutout, Mixup, Policy, RandAugment, TrivialAugment, bundled_policies, load_policy

SPECS = ["rand-m9-n2-mstd0.5", "trivial", "augmix:severity=3", "cutout:size=8", "original", *bundled_policies()]


@pytest.mark.parametrize("spec", SPECS)
def test_every_policy_pickles(spec, astronaut, bundled):
    policy = bundled(spec)
    copy = pickle.loads(pickle.dumps(policy))
    assert copy == policy and type(copy) is type(policy) and repr(copy) == repr(policy)
    if not isinstance(policy, Mixup):
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        assert torch.equal(policy(astronaut, generator=g1), copy(astronaut, generator=g2))


class Pictures(Dataset):
    """``count`` copies of one 32x32 picture (so any difference is the augmentation's), as PIL
    images or tensors; each item also says which worker made it."""

    def __init__(self, policy, count=24, pil=True):
        self.policy, self.count, self.pil = policy, count, pil
        self.image = natural("astronaut", (32, 32))

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        image = self.image if self.pil else to_tensor(self.image)
        out = self.policy(image)
        out = to_tensor(out) if self.pil else out
        info = get_worker_info()
        return out, -1 if info is None else info.id


def _run(policy, *, pil=True, workers=2, seed=None):
    if seed is not None:
        torch.manual_seed(seed)
    loader = DataLoader(Pictures(policy, pil=pil), batch_size=4, num_workers=workers, shuffle=False)
    images, ids = zip(*loader)
    return torch.cat(images), torch.cat(ids)


@pytest.mark.parametrize("pil", [True, False])
def test_workers_draw_different_augmentations(pil):
    policy = RandAugment(n=2, m=9, convention="randaugment-31")
    images, ids = _run(policy, pil=pil, seed=0)
    assert images.shape == (24, 3, 32, 32) and images.dtype == torch.uint8
    assert set(ids.tolist()) == {0, 1}
    first, second = images[ids == 0], images[ids == 1]
    assert not torch.equal(first, second)  # the workers are not seeded alike
    assert len({tuple(img.flatten().tolist()) for img in images}) > 12  # and each draws afresh per item


def test_manual_seed_makes_runs_identical():
    policy = load_policy("autoaugment/svhn")
    a, _ = _run(policy, seed=123)
    b, _ = _run(policy, seed=123)
    c, _ = _run(policy, seed=321)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_main_process_loading_is_reproducible_too():
    policy = TrivialAugment()
    a, ids = _run(policy, workers=0, seed=5)
    b, _ = _run(policy, workers=0, seed=5)
    assert torch.equal(a, b) and set(ids.tolist()) == {-1}


def test_policies_compose_with_torchvision_transforms(astronaut_pil, astronaut):
    for policy in (load_policy("autoaugment/imagenet"), RandAugment(), AugMix(), Cutout(size=8)):
        pipeline = v2.Compose([policy, v2.ToDtype(torch.float32, scale=True)])
        out = pipeline(astronaut)
        assert out.dtype == torch.float32 and out.shape == astronaut.shape and 0 <= out.min() <= out.max() <= 1
        pipeline = v2.Compose([policy, v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])
        out = pipeline(astronaut_pil)
        assert out.dtype == torch.float32 and out.shape == (3, 64, 64)
    torch.manual_seed(0)
    first = v2.Compose([v2.RandomHorizontalFlip(0.0), Policy([[("Rotate", 1.0, 9)]])])(tv_tensors.Image(astronaut))
    assert first.shape == astronaut.shape and not torch.equal(first.as_subclass(torch.Tensor), astronaut)


def test_a_policy_in_a_pipeline_inside_workers():
    pipeline = v2.Compose([load_policy("rand-m9-n2-mstd0.5"), v2.ToDtype(torch.float32, scale=True)])

    class Floats(Pictures):
        def __getitem__(self, index):
            return pipeline(to_tensor(self.image)), 0

    torch.manual_seed(1)
    images = torch.cat([b for b, _ in DataLoader(Floats(None, count=8), batch_size=4, num_workers=2)])
    assert images.dtype == torch.float32 and images.shape == (8, 3, 32, 32)
    assert not torch.equal(images[0], images[4])  # batch 0 from worker 0, batch 1 from worker 1


def test_batches_on_the_main_process_after_loading(batch):
    policy = load_policy("trivial")
    mix = Mixup(0.2, num_classes=6)
    images, targets = mix(policy(batch), torch.arange(6), generator=torch.Generator().manual_seed(0))
    assert images.shape == batch.shape and images.dtype == torch.uint8 and targets.shape == (6, 6)
    assert np.isclose(targets.sum().item(), 6)
    assert to_pil(images[0]).size == (32, 32)
