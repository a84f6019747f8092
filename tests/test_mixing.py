"""Mixup and CutMix: uint8 batches, soft targets, the three modes, label smoothing, CutMix's
lambda from the pasted area, and the switch probability."""

from __future__ import annotations

import math

import pytest
import torch

import augsearch.plans as plans_module
from augsearch import CutMix, Mixup, PolicyError


def _flat_batch(n=6, size=16):
    """Image i is constant 20 * (i + 1): every pixel says which sample it came from."""
    values = torch.arange(1, n + 1, dtype=torch.uint8).view(n, 1, 1, 1) * 20
    return values.expand(n, 3, size, size).contiguous(), torch.arange(n)


def _lambdas(targets, labels):
    """With distinct one-hot labels, lambda is the target weight of the sample's own label."""
    return targets[torch.arange(len(labels)), labels]


def test_mixup_mixes_uint8_batches_with_its_reversed_copy(batch):
    labels = torch.arange(len(batch))
    mix = Mixup(1.0, num_classes=10)
    out, targets = mix(batch, labels, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == batch.shape
    assert targets.shape == (len(batch), 10) and targets.dtype == torch.float32
    assert torch.allclose(targets.sum(1), torch.ones(len(batch)))
    lam = _lambdas(targets, labels)
    assert torch.allclose(lam, lam[0].expand_as(lam)) and 0 < lam[0] < 1  # mode 'batch': one lambda
    assert torch.allclose(targets[torch.arange(len(batch)), labels.flip(0)], 1 - lam)
    expected = batch.double() * lam[0].double() + batch.flip(0).double() * (1 - lam[0].double())
    assert (out.double() - expected).abs().max() <= 0.5 + 1e-4  # rounded to the nearest level


def test_float_batches_stay_unrounded(batch):
    x = batch.float() / 255
    out, targets = Mixup(0.4, num_classes=6)(x, torch.arange(6), generator=torch.Generator().manual_seed(1))
    lam = float(targets[0, 0])
    assert out.dtype == torch.float32 and torch.allclose(out, x * lam + x.flip(0) * (1 - lam), atol=1e-6)


def test_modes():
    images, labels = _flat_batch(6)
    g = torch.Generator().manual_seed(2)
    _, t = Mixup(1.0, num_classes=6, mode="elem")(images, labels, generator=g)
    lam = _lambdas(t, labels)
    assert len(set(lam.tolist())) == 6  # one lambda per sample
    _, t = Mixup(1.0, num_classes=6, mode="pair")(images, labels, generator=g)
    lam = _lambdas(t, labels)
    assert torch.equal(lam, lam.flip(0)) and len(set(lam.tolist())) == 3  # one per pair (i, n-1-i)
    with pytest.raises(PolicyError, match="even batch size"):
        Mixup(1.0, num_classes=5, mode="pair")(*_flat_batch(5))
    _, t = CutMix(num_classes=6, mode="elem")(images, labels, generator=g)
    assert len(set(_lambdas(t, labels).tolist())) > 1


def test_label_smoothing_and_prob():
    images, labels = _flat_batch(4)
    out, t = Mixup(1.0, num_classes=10, prob=0.0, label_smoothing=0.1)(images, labels)
    assert torch.equal(out, images)  # nothing mixed
    assert torch.allclose(t.sum(1), torch.ones(4))
    assert torch.allclose(t[torch.arange(4), labels], torch.full((4,), 0.9 + 0.01))
    assert torch.allclose(t.min(1).values, torch.full((4,), 0.01))
    _, t = Mixup(1.0, num_classes=10, label_smoothing=0.2)(images, labels, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(t.sum(1), torch.ones(4)) and t.min() >= 0.02 - 1e-7
    soft = torch.softmax(torch.randn(4, 10, generator=torch.Generator().manual_seed(0)), 1)
    _, t = Mixup(1.0, num_classes=10)(images, soft, generator=torch.Generator().manual_seed(4))  # soft labels
    assert torch.allclose(t.sum(1), torch.ones(4))
    fired = sum(not torch.equal(Mixup(1.0, num_classes=4, prob=0.3)(images, labels)[0], images) for _ in range(400))
    assert abs(fired / 400 - 0.3) <= 5 * math.sqrt(0.3 * 0.7 / 400)


def test_cutmix_lambda_is_the_pasted_area():
    images, labels = _flat_batch(6, size=20)
    g = torch.Generator().manual_seed(5)
    for mode in ("batch", "elem", "pair"):
        for _ in range(30):
            out, t = CutMix(1.0, num_classes=6, mode=mode)(images, labels, generator=g)
            assert out.dtype == torch.uint8
            lam = _lambdas(t, labels)
            pasted = (out != images).any(1)  # every pixel of the partner differs
            assert torch.equal(out[pasted.unsqueeze(1).expand_as(out)],
                               images.flip(0)[pasted.unsqueeze(1).expand_as(out)])
            for i in range(6):
                area = int(pasted[i].sum())
                assert lam[i].item() == pytest.approx(1 - area / 400, abs=1e-6), (mode, i)
                if area:  # a rectangle
                    ys, xs = pasted[i].nonzero(as_tuple=True)
                    assert area == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
            assert torch.allclose(t.sum(1), torch.ones(6))


def test_cutmix_box_follows_beta_lambda_before_clipping():
    images, labels = _flat_batch(2, size=32)
    g = torch.Generator().manual_seed(6)
    areas = [1 - _lambdas(CutMix(1.0, num_classes=2)(images, labels, generator=g)[1], labels)[0].item()
             for _ in range(400)]
    # Beta(1, 1): uniform box area before clipping; clipping only shrinks it
    assert 0.2 < sum(areas) / len(areas) < 0.5 and max(areas) > 0.7


def test_switch_prob_chooses_cutmix_or_mixup():
    images, labels = _flat_batch(2, size=8)
    g = torch.Generator().manual_seed(7)
    n, cut = 500, 0
    mix = Mixup(1.0, cutmix_alpha=1.0, num_classes=2, switch_prob=0.3)
    for _ in range(n):
        out, _ = mix(images, labels, generator=g)
        values = set(out[0].unique().tolist())
        cut += values <= {20, 40} and len(values) == 2  # pasted: only the two original values
    assert abs(cut / n - 0.3) <= 5 * math.sqrt(0.3 * 0.7 / n) + 0.02  # (an empty or full box looks like mixup)
    only_cut = Mixup(0.0, cutmix_alpha=1.0, num_classes=2)
    out, _ = only_cut(images, labels, generator=g)
    assert set(out[0].unique().tolist()) <= {20, 40}


def test_generator_reproducibility(batch):
    mix = Mixup(1.0, cutmix_alpha=1.0, num_classes=6, mode="elem")
    a = mix(batch, torch.arange(6), generator=torch.Generator().manual_seed(8))
    b = mix(batch, torch.arange(6), generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("kwargs, place", [
    ({"alpha": 0.0}, "alpha"), ({"alpha": -1}, "alpha"), ({"alpha": True}, "alpha"),
    ({"num_classes": 1}, "num_classes"),
    ({"num_classes": 2.0}, "num_classes"), ({"prob": 1.5}, "prob"), ({"switch_prob": -0.1}, "switch_prob"),
    ({"mode": "sample"}, "mode"), ({"label_smoothing": 2}, "label_smoothing"), ({"correct_lam": 1}, "correct_lam"),
])
def test_validation(kwargs, place):
    args = {"num_classes": 10, **kwargs}
    with pytest.raises(PolicyError) as info:
        Mixup(**args)
    assert info.value.place == place


def test_mixing_needs_a_batch(astronaut):
    with pytest.raises(TypeError, match=r"\(N, C, H, W\)"):
        Mixup(num_classes=3)(astronaut, torch.tensor([0]))
    config = CutMix(num_classes=3).to_config()
    assert config["kind"] == "cutmix" and "switch_prob" not in config


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
def test_mixup_blends_each_image_with_its_partner_by_its_lambda_and_leaves_the_input_alone(dtype, mode):
    images = (torch.rand(8, 3, 5, 6, generator=torch.Generator().manual_seed(1)) * 255).to(dtype)
    before = images.clone()
    mix = Mixup(0.4, num_classes=8, mode=mode, prob=0.7)
    out, targets = mix(images, torch.arange(8), generator=torch.Generator().manual_seed(2))
    assert torch.equal(images, before)
    for i in range(8):  # every label differs from its partner's, so the target's own class holds lambda
        lam = float(targets[i, i])
        expected = images[i].to(torch.float32) * lam + images[7 - i].to(torch.float32) * (1 - lam)
        if dtype == torch.uint8:
            expected = expected.round().clamp(0, 255)
        tolerance = 1.0 if dtype == torch.uint8 else 1e-3  # lambda read back through float32 targets
        assert (out[i].to(torch.float32) - expected).abs().max() <= tolerance


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
def test_mixing_a_slice_of_the_batch_at_a_time_changes_nothing(mode, monkeypatch):
    images = torch.randint(0, 256, (12, 3, 9, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    for mix in (Mixup(0.4, num_classes=12, mode=mode, prob=0.8), Mixup(0.4, cutmix_alpha=1.0, num_classes=12,
                                                                        mode=mode, switch_prob=0.5)):
        whole, targets = mix(images, torch.arange(12), generator=torch.Generator().manual_seed(4))
        for rows in (1, 5):  # one image a slice; five, the last short
            monkeypatch.setattr(plans_module, "SLICE_VALUES", rows * images[0].numel())
            sliced, sliced_targets = mix(images, torch.arange(12), generator=torch.Generator().manual_seed(4))
            assert torch.equal(sliced, whole) and torch.equal(sliced_targets, targets)
        monkeypatch.undo()


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("cls", [Mixup, CutMix])
def test_an_empty_batch_mixes_to_an_empty_batch(cls, mode):
    images = torch.zeros(0, 3, 8, 8, dtype=torch.uint8)  # a DataLoader's last, empty shard
    out, targets = cls(num_classes=4, mode=mode)(images, torch.zeros(0, dtype=torch.long))
    assert out.shape == images.shape and targets.shape == (0, 4)
