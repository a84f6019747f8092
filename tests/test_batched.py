"""The batched executor against per-image application and against plain reference formulas.

``apply_plans`` runs each op once on the sub-batch of images that fire it, in slices of the batch
on the CPU, and its kernels use integer shortcuts (Sharpness's smoothing, Solarize, Posterize) and
a fill-framed gather for nearest warps: all of these must give exactly what applying each image's
plan alone gives, and what the straightforward float formulas give.
"""

from __future__ import annotations

import pickle
import random

import pytest
import torch
import torch.nn.functional as F

import augsearch
import augsearch.ops as ops_module
import augsearch.plans as plans_module
from augsearch.conventions import get_convention
from augsearch.ops import OPS, affine_coefficients, warp_affine
from augsearch.plans import Applied, apply_plan, apply_plans

SETTINGS = {"fill": (9, 200, 77), "interpolation": "nearest"}
OP_NAMES = [name for name in OPS if name != "SamplePairing"]


def random_value(name: str, rng: random.Random) -> float | None:
    if OPS[name].param is None:
        return None
    return {
        "Posterize": float(rng.randint(0, 8)),
        "Solarize": rng.choice([rng.uniform(0, 256), float(rng.randint(0, 256)), 0.0, 255.5, 256.0]),
        "SolarizeAdd": rng.uniform(0, 255),
        "TranslateX": rng.choice([rng.uniform(-20, 20), float(rng.randint(-20, 20)), -10.5]),
        "TranslateY": rng.choice([rng.uniform(-20, 20), float(rng.randint(-20, 20)), 0.5]),
        "Rotate": rng.uniform(-180, 180),
        "ShearX": rng.uniform(-0.6, 0.6),
        "ShearY": rng.uniform(-0.6, 0.6),
        "Cutout": float(rng.randint(0, 40)),
    }.get(name, rng.uniform(0.0, 3.0))


def random_plans(n: int, rng: random.Random, *, ops: list[str] = OP_NAMES, most: int = 3) -> list[tuple]:
    return [tuple(Applied(op, op, random_value(op, rng), (rng.random(), rng.random()))
                  for op in (rng.choice(ops) for _ in range(rng.randint(0, most)))) for _ in range(n)]


def one_by_one(images: torch.Tensor, plans: list[tuple], **settings) -> torch.Tensor:
    if len(images) == 0:
        return images.clone()
    return torch.stack([apply_plan(image, plan, **settings) for image, plan in zip(images, plans)])


@pytest.mark.parametrize("shape", [(40, 3, 32, 32), (9, 1, 17, 31), (7, 3, 5, 64), (5, 3, 1, 1), (6, 3, 2, 3),
                                   (3, 1, 3, 1), (1, 3, 224, 224)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_batched_equals_each_image_alone_on_random_plans(shape, interpolation):
    rng = random.Random(f"{shape} {interpolation}")
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    images[0] //= 85  # a nearly flat image: AutoContrast's and Equalize's special cases
    plans = random_plans(shape[0], rng)
    settings = {**SETTINGS, "interpolation": interpolation}
    before = images.clone()
    out = apply_plans(images, plans, **settings)
    assert torch.equal(images, before)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out, one_by_one(images, plans, **settings))


def test_slices_of_the_batch_change_nothing(monkeypatch):
    rng = random.Random(3)
    images = torch.randint(0, 256, (50, 3, 24, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    plans = random_plans(50, rng)
    before = images.clone()
    whole = apply_plans(images, plans, **SETTINGS)
    for values, large, colour in ((1, 10**9, 10**9), (24 * 20 * 3 * 7, 10**9, 10**9), (10**9, 10**9, 10**9),
                                  (10**9, 1, 10**9), (10**9, 10**9, 24 * 20 * 3 * 3), (10**9, 10**9, 1)):
        monkeypatch.setattr(plans_module, "SLICE_VALUES", values)  # one image a slice, 7, one slice
        monkeypatch.setattr(plans_module, "LARGE_IMAGE", large)  # and every image counted large
        monkeypatch.setattr(plans_module, "COLOUR_VALUES", colour)  # colour ops 3 images at a time, or one
        assert torch.equal(apply_plans(images, plans, **SETTINGS), whole)
        assert torch.equal(images, before)  # kernels map the input's slices, never write them


def test_edge_batches():
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    empty = torch.zeros((0, 3, 8, 8), dtype=torch.uint8)
    assert apply_plans(empty, [], **SETTINGS).shape == (0, 3, 8, 8)
    nothing = apply_plans(images, [()] * 4, **SETTINGS)  # no op fires: a copy, never the input itself
    assert torch.equal(nothing, images) and nothing.data_ptr() != images.data_ptr()
    identity = apply_plans(images, [(Applied("Identity", "Identity", None),)] * 4, **SETTINGS)
    assert torch.equal(identity, images)
    for name in OP_NAMES:  # every image fires the same op: the kernel runs on the whole batch
        rng = random.Random(name)
        plans = [(Applied(name, name, random_value(name, rng), (rng.random(), rng.random())),)] * 4
        assert torch.equal(apply_plans(images, plans, **SETTINGS), one_by_one(images, plans, **SETTINGS)), name
    single = random_plans(1, random.Random(5), most=3)
    assert torch.equal(apply_plans(images[:1], single, **SETTINGS), one_by_one(images[:1], single, **SETTINGS))


def test_sample_pairing_sees_the_whole_batch_even_with_slices(monkeypatch):
    images = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8)
    plans = [(Applied("SamplePairing", "SamplePairing", 0.5, (0.99, 0.0)),)] * 12  # everyone pairs with the last
    monkeypatch.setattr(plans_module, "SLICE_VALUES", 1)
    out = apply_plans(images, plans, **SETTINGS)
    expected = (images.float() * 0.5 + images[-1:].float() * 0.5).clamp(0, 255).to(torch.uint8)
    assert torch.equal(out, expected)


def test_sharpness_smoothing_in_integers_equals_the_float_convolution():
    images = torch.randint(0, 256, (64, 3, 19, 23), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))
    images[:8] = torch.tensor([0, 255], dtype=torch.uint8)[torch.randint(0, 2, (8, 3, 19, 23))]  # extremes
    for factor in (0.0, 0.3, 1.0, 1.7, 3.0):
        kernel = torch.ones(3, 3)
        kernel[1, 1] = 5.0
        out = images.float()
        blurred = F.conv2d(out, (kernel / 13.0).expand(3, 1, 3, 3), groups=3).round_()
        inner = out[..., 1:-1, 1:-1]
        inner.addcmul_(blurred - inner, torch.full((64, 1, 1, 1), 1.0 - factor))
        expected = out.clamp_(0, 255).to(torch.uint8)
        got = OPS["Sharpness"].tensor(images, torch.full((64,), factor, dtype=torch.float64), torch.zeros(64, 2))
        assert torch.equal(got, expected), factor


def test_smoothing_sums_round_as_the_division():
    """Sharpness rounds a sum over 13 as floor(t * (1/13) + 1/2): the same as round(t / 13) for every sum."""
    total = torch.arange(13 * 255 + 1, dtype=torch.float32)
    assert torch.equal(ops_module._round_thirteenth(total.clone()), (total / 13.0).round())


def test_truncating_through_int16_equals_the_direct_conversion():
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 255.0, 255.99, 256.0, -0.99, 1e30])
    x = torch.cat([special, torch.linspace(-300, 600, 100_003)])
    for values in (x, x[::3], x[:7]):  # the vector loop, a strided one, the scalar tail
        assert torch.equal(ops_module.to_uint8(values.clone()), values.clamp(0, 255).to(torch.uint8))


@pytest.mark.parametrize("sliced", [0, 10**9])
def test_cutout_by_slices_equals_cutout_by_masks(monkeypatch, sliced):
    monkeypatch.setattr(ops_module, "_CUTOUT_SLICED", sliced)
    images = torch.randint(0, 256, (9, 3, 13, 21), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    sides = torch.tensor([0.0, 1.0, 4.5, 8.0, 30.0, float("inf"), float("nan"), 5.0, -3.0], dtype=torch.float64)
    aux = torch.tensor([[0.5, 0.5], [0.0, 0.99], [0.3, 0.7], [0.99, 0.0], [0.5, 0.5], [0.2, 0.2], [0.5, 0.5],
                        [float("nan"), 0.5], [0.5, 0.5]], dtype=torch.float64)
    got = OPS["Cutout"].tensor(images, sides, aux, cutout_fill=(1, 2, 3))
    expected = images.clone()
    for image, (x0, y0, x1, y1) in zip(expected, ops_module.cutout_boxes(sides, aux, 21, 13).tolist()):
        inside = ((torch.arange(21) >= x0) & (torch.arange(21) < x1)) & ((torch.arange(13) >= y0)
                                                                          & (torch.arange(13) < y1)).view(13, 1)
        image[:, inside] = torch.tensor([1, 2, 3], dtype=torch.uint8).view(3, 1)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0, 127.2, 128.0, 254.9, 255.0, 255.5, 256.0, -3.0, 1e9,
                                       float("nan")])
def test_solarize_in_uint8_equals_the_comparison(threshold):
    images = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(2, 3, 1, 1)
    got = OPS["Solarize"].tensor(images, torch.full((2,), threshold, dtype=torch.float64), torch.zeros(2, 2))
    expected = torch.where(images.double() >= threshold, 255 - images, images)
    assert torch.equal(got, expected)


def test_solarize_add_and_posterize_equal_their_formulas():
    images = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(9, 3, 1, 1)
    bits = torch.arange(9, dtype=torch.float64)
    got = OPS["Posterize"].tensor(images, bits, torch.zeros(9, 2))
    for b in range(9):
        assert torch.equal(got[b], images[b] & ((255 << (8 - b)) & 255)), b
    add = torch.tensor([0.0, 0.5, 1.0, 99.9999, 110.0, 127.0, 128.0, 200.3, 255.0], dtype=torch.float64)
    got = OPS["SolarizeAdd"].tensor(images, add, torch.zeros(9, 2))
    added = (images.float() + add.float().view(-1, 1, 1, 1)).clamp(0, 255).to(torch.uint8)
    assert torch.equal(got, torch.where(images < 128, added, images))


def reference_nearest_warp(images, coeffs, fill):
    """The plain formula: floor the float64 source coordinates, fill where they leave the image."""
    n, c, h, w = images.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5,
                            indexing="ij")
    a, b, cc, d, e, f = (coeffs[:, i].view(n, 1, 1) for i in range(6))
    ix, iy = torch.floor(a * xs + b * ys + cc), torch.floor(d * xs + e * ys + f)
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)  # NaN is outside
    index = (iy.nan_to_num(0).clamp(0, h - 1) * w + ix.nan_to_num(0).clamp(0, w - 1)).long()
    out = images.reshape(n, c, h * w).gather(2, index.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)
    return torch.where(inside.unsqueeze(1), out, torch.tensor(fill, dtype=torch.uint8)[:c].view(1, c, 1, 1))


@pytest.mark.parametrize("fill", [(1, 2, 3), (7, 7, 7)])
@pytest.mark.parametrize("name", ["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"])
def test_framed_nearest_warp_equals_the_masked_formula(name, fill):
    images = torch.randint(0, 256, (8, 3, 13, 21), dtype=torch.uint8)
    values = torch.tensor([0.0, 0.5, -7.25, 3.0, 100.0, -1e6, float("inf"), float("nan")], dtype=torch.float64)
    coeffs = affine_coefficients(name, values, 21, 13)
    got = warp_affine(images, coeffs, fill=fill, interpolation="nearest")
    assert torch.equal(got, reference_nearest_warp(images, coeffs, fill))
    for few in (slice(0, 3), slice(5, 8)):  # a few maps read as floats: finite ones skip the NaN guard; inf, NaN
        assert torch.equal(warp_affine(images[few], coeffs[few], fill=fill, interpolation="nearest"),
                           reference_nearest_warp(images[few], coeffs[few], fill))


def test_axis_aligned_warps_equal_the_general_formula():
    """A map whose x (or y) source ignores the other axis forms it on one row (column) and broadcasts it;
    adding the other axis's zero product, as the general formula does, changes no floor."""
    rng = torch.Generator().manual_seed(9)
    images = torch.randint(0, 256, (64, 3, 11, 17), dtype=torch.uint8, generator=rng)
    scale = torch.tensor([1.0, -1.0, 1e-300, 1e300, 0.5, 3.0], dtype=torch.float64)
    coeffs = torch.randn(64, 6, dtype=torch.float64, generator=rng) * scale[torch.randint(0, 6, (64, 6), generator=rng)]
    coeffs[:, 2] += torch.rand(64, dtype=torch.float64, generator=rng) * 40 - 20
    coeffs[:, 5] += torch.rand(64, dtype=torch.float64, generator=rng) * 40 - 20
    for zero_b, zero_d in ((True, False), (False, True), (True, True)):
        aligned = coeffs.clone()
        if zero_b:
            aligned[:, 1] = torch.where(torch.arange(64) % 2 == 0, 0.0, -0.0)
        if zero_d:
            aligned[:, 3] = 0.0
        got = warp_affine(images, aligned, fill=(5, 6, 7), interpolation="nearest")
        assert torch.equal(got, reference_nearest_warp(images, aligned, (5, 6, 7))), (zero_b, zero_d)


@pytest.mark.parametrize("spec", ["autoaugment/cifar10", "randaugment/torchvision", "trivialaugment/wide",
                                  "augmix:severity=3", "cutout/cifar10", "fast-aa/reduced-cifar10"])
@pytest.mark.parametrize("sliced", [False, True])
def test_policies_on_a_batch_equal_the_same_plans_one_image_at_a_time(spec, sliced, monkeypatch):
    if sliced:  # 5 images a slice, the last one short
        monkeypatch.setattr(plans_module, "SLICE_VALUES", 5 * 3 * 32 * 32)
    policy = augsearch.load_policy(spec)
    images = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    out, plans = policy.trace(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.stack([policy.apply(x, p) for x, p in zip(images, plans)]))


def test_augmix_that_may_pair_samples_mixes_the_whole_batch_at_once(monkeypatch):
    policy = augsearch.AugMix(ops=["SamplePairing", "Equalize", "Posterize"], depth=2, convention="autoaugment")
    images = torch.randint(0, 256, (24, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    whole = policy(images, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(plans_module, "SLICE_VALUES", 5 * 3 * 16 * 16)  # slices would change the partners
    assert torch.equal(policy(images, generator=torch.Generator().manual_seed(0)), whole)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_equal_the_cpu():
    rng = random.Random(11)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    plans = random_plans(64, rng)
    cpu = apply_plans(images, plans, **SETTINGS)
    cuda = apply_plans(images.cuda(), plans, **SETTINGS).cpu()
    colour = {"Brightness", "Color", "Contrast", "Sharpness", "AutoContrast", "SolarizeAdd"}  # float rounding
    exact = [i for i, plan in enumerate(plans) if not any(call.op in colour for call in plan)]
    assert torch.equal(cuda[exact], cpu[exact])
    assert (cuda.int() - cpu.int()).abs().max() <= 1


class _ThreadsSeen:
    nbytes, run_path = 0, "."

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, k: int, device: torch.device) -> None:
        self.seen.append(torch.get_num_threads())


def test_run_local_uses_cpus_per_trial_threads_and_restores_the_callers():
    pytest.importorskip("optuna")  # augsearch.search needs it; a bare GPU machine may lack it
    from augsearch.jobs.engines import LocalEngine, Resources

    run_local = LocalEngine()

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        work = _ThreadsSeen()
        run_local([0, 1], work, Resources(cpus_per_trial=1.0, gpus_per_trial=0))
        assert work.seen == [1, 1] and torch.get_num_threads() == 2
        work = _ThreadsSeen()
        run_local([0], work, Resources(cpus_per_trial=3.0, gpus_per_trial=0))
        assert work.seen == [3] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- batched draws

def random_policies(rng: random.Random) -> list:
    """Policies of every kind with a batched draw, over every convention, with odd settings."""
    from augsearch.conventions import CONVENTIONS

    found = []
    for name in CONVENTIONS.names():
        convention = CONVENTIONS.get(name)
        ops = list(convention.entries)

        def magnitude(op, convention=convention):
            if convention.entry(op).range is None:
                return None
            if convention.levels is not None:
                return rng.randint(0, convention.levels - 1)
            return rng.choice([0.0, convention.max_magnitude, rng.uniform(0, convention.max_magnitude)])

        subs = [[(op, rng.choice([0.0, 1.0, rng.random()]), magnitude(op)) for op in rng.sample(ops, rng.randint(1, 4))]
                for _ in range(rng.randint(1, 6))]
        found.append(augsearch.Policy(subs, convention=name))
        choice = [op for op in ops if op != "SamplePairing"] or ops
        m = rng.randint(0, convention.levels - 1) if convention.levels else rng.uniform(0, convention.max_magnitude)
        found.append(augsearch.RandAugment(rng.randint(0, 4), m, convention=name, prob=rng.choice([1.0, 0.5]),
                                           ops=rng.sample(choice, rng.randint(1, len(choice)))))
        found.append(augsearch.TrivialAugment(convention=name, ops=rng.sample(choice, rng.randint(1, len(choice)))))
    found.append(augsearch.Cutout(size=rng.randint(0, 40), holes=rng.randint(1, 3)))
    return found


@pytest.mark.parametrize("spec", sorted(augsearch.bundled_policies()))
@pytest.mark.parametrize("n", [1, 5, 300])
def test_a_batch_draws_the_plans_image_by_image_draws(spec, n):
    policy = augsearch.load_policy(spec)
    for size in [(32, 32), (224, 160), (1, 3)]:
        before, after = torch.Generator().manual_seed(n), torch.Generator().manual_seed(n)
        one_by_one_plans = [policy.draw(size, generator=before) for _ in range(n)]
        batch = policy.draw_batch(n, size, generator=after)
        listed = batch.plans() if isinstance(batch, plans_module.PlanTable) else batch
        assert listed == one_by_one_plans
        assert torch.equal(torch.rand(4, generator=before), torch.rand(4, generator=after))  # same values read


def test_random_policies_draw_the_same_plans_batched_in_every_convention():
    rng = random.Random(5)
    tables = 0
    for policy in random_policies(rng) + random_policies(rng):
        size = rng.choice([(32, 32), (17, 40), (224, 224)])
        before, after = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        expected = [policy.draw(size, generator=before) for _ in range(64)]
        batch = policy.draw_batch(64, size, generator=after)
        tables += isinstance(batch, plans_module.PlanTable)
        listed = batch.plans() if isinstance(batch, plans_module.PlanTable) else batch
        assert listed == expected, policy
        assert torch.equal(torch.rand(4, generator=before), torch.rand(4, generator=after))
    assert tables >= 40  # the batched draws ran, not the per-image fallback


def test_policies_that_draw_a_varying_number_of_values_fall_back_to_image_by_image():
    noisy = augsearch.RandAugment(2, 9, magnitude_std=0.5)
    assert isinstance(noisy.draw_batch(3, (8, 8)), list)
    long = augsearch.Policy([[("Rotate", 0.5, 3)] * 70])  # past one chunk of draws per image
    before, after = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert long.draw_batch(5, (8, 8), generator=after) == [long.draw((8, 8), generator=before) for _ in range(5)]


def test_a_kept_value_table_is_used_only_for_what_it_was_computed_from():
    """Batched draws keep their last table of op values; a new size, magnitude, op list or convention
    (set on the same policy) draws what a fresh policy draws, and so does the policy after pickling."""
    policy = augsearch.RandAugment(2, 9, convention="augmix")  # its translations are fractions of the side
    changes = [{}, {}, {"m": 3}, {"ops": policy.ops[::-1]}, {"convention": get_convention("autoaugment")}]
    for change, size in zip(changes, [(32, 32), (64, 48), (64, 48), (64, 48), (64, 48)]):
        for name, value in change.items():
            setattr(policy, name, value)
        fresh = augsearch.RandAugment(2, policy.m, ops=policy.ops, convention=policy.convention)
        drawn = policy.draw_batch(40, size, generator=torch.Generator().manual_seed(1)).plans()
        assert drawn == fresh.draw_batch(40, size, generator=torch.Generator().manual_seed(1)).plans(), change
        again = pickle.loads(pickle.dumps(policy)).draw_batch(40, size, generator=torch.Generator().manual_seed(1))
        assert again.plans() == drawn


def test_a_table_applies_as_its_plans_do():
    rng = random.Random(9)
    images = torch.randint(0, 256, (50, 3, 20, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    for policy in random_policies(rng):
        if not any(op == "SamplePairing" for op in getattr(policy, "ops", ())):
            table = policy.draw_batch(50, (24, 20), generator=torch.Generator().manual_seed(3))
            if isinstance(table, plans_module.PlanTable):
                assert torch.equal(policy.apply_batch(images, table), policy.apply_batch(images, table.plans()))


def test_plans_round_trip_through_a_table():
    plans = random_plans(30, random.Random(4), ops=list(OPS), most=4)
    table = plans_module.PlanTable.from_plans(plans)
    assert table.index.shape == (30, max(map(len, plans)))
    assert [tuple((c.name, c.op, c.value, c.aux) for c in p) for p in table.plans()] == \
        [tuple((c.name, c.op, c.value if c.value is not None else None, c.aux) for c in p) for p in plans]
    empty = plans_module.PlanTable.from_plans([(), ()])
    assert empty.index.shape == (2, 0) and empty.plans() == [(), ()]


def test_a_batch_without_a_generator_reads_the_default_generator_of_its_device():
    policy = augsearch.load_policy("autoaugment/cifar10")
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    torch.manual_seed(3)
    first = policy(images)
    torch.manual_seed(3)
    assert torch.equal(policy(images), first)
    assert torch.equal(first, policy(images, generator=torch.Generator().manual_seed(3)))


def test_grouping_on_a_device_equals_grouping_on_the_host():
    rng = random.Random(3)
    for n in (1, 2, 17, 500):
        plans = [tuple(Applied(op, op, 1.0, (rng.random(), rng.random())) for op in rng.sample(OP_NAMES, 2))
                 if rng.random() < 0.8 else () for _ in range(n)]
        table = plans_module.PlanTable.from_plans(plans)
        lists = (table.index.tolist(), table.value.tolist(), table.aux.tolist())
        for step in range(table.index.shape[1]):
            on_host = plans_module._host_groups(table, *lists, step)
            on_device = plans_module._device_groups(table, step)  # its tensor ops, here on the CPU
            assert [g[0] for g in on_device] == [g[0] for g in on_host]
            assert [g[1] is None for g in on_device] == [g[1] is None for g in on_host]  # None: every row
            pairs = [(a, b) for d, h in zip(on_device, on_host) for a, b in zip(d[1:], h[1:])]
            assert all(a is b is None or torch.equal(a, b) for a, b in pairs)


def test_scattering_rows_as_words_equals_index_copy():
    for shape, dtype in [((9, 3, 32, 32), torch.uint8), ((7, 3, 5, 7), torch.uint8), ((6, 1, 2, 2), torch.uint8),
                         ((5, 1, 3, 4), torch.int64), ((4, 1, 3, 3), torch.bool)]:
        out = torch.randint(0, 2 if dtype == torch.bool else 200, shape).to(dtype)
        rows = torch.randint(0, 2 if dtype == torch.bool else 200, (3, *shape[1:])).to(dtype)
        index = torch.tensor([0, 2, len(out) - 1])
        expected = out.clone().index_copy_(0, index, rows)
        plans_module._put_rows(out, index, rows)
        assert torch.equal(out, expected)
        sliced = torch.zeros(2 * shape[0], *shape[1:], dtype=dtype)[shape[0]:]  # a slice of a batch
        plans_module._put_rows(sliced, index, rows)
        assert torch.equal(sliced[index], rows)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("spec", ["autoaugment/cifar10", "randaugment/torchvision", "trivialaugment/wide",
                                  "cutout/cifar10"])
def test_a_cuda_batch_draws_on_its_gpu_and_applies_what_it_traces(spec):
    policy = augsearch.load_policy(spec)
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(0)
    out, plans = policy.trace(images.cuda())
    torch.manual_seed(0)
    assert torch.equal(policy(images.cuda()), out)  # the CUDA generator, seeded by manual_seed
    on_cpu = policy.apply_batch(images, plans)
    assert (out.cpu().int() - on_cpu.int()).abs().max() <= 1  # colour ops round differently on a GPU


@pytest.mark.parametrize("shape", [(1, 3, 13, 21), (4, 1, 5, 4), (2, 3, 1, 1), (3, 3, 2, 9), (1, 3, 224, 224)])
def test_shifts_by_block_copies_equal_the_formula(shape, monkeypatch):
    """A few images translated (both sources axis-aligned) move by block copies, one per image."""
    import augsearch.ops as ops_module

    copied = []
    shifted = ops_module._shifted
    monkeypatch.setattr(ops_module, "_shifted", lambda *args: copied.append(shifted(*args)) or copied[-1])
    n, c, h, w = shape
    rng = random.Random(str(shape))
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    for name in ("TranslateX", "TranslateY"):
        for _ in range(40):
            values = torch.tensor([rng.choice([0.0, 0.5, -0.5, rng.uniform(-w, w), float(rng.randint(-h, h)),
                                               w / 2 + 0.25, -1e9, float("nan"), 1e-300])
                                   for _ in range(n)], dtype=torch.float64)
            coeffs = affine_coefficients(name, values, w, h)
            for fill in [(1, 2, 3), (7, 7, 7)]:
                got = warp_affine(images, coeffs, fill=fill, interpolation="nearest")
                assert torch.equal(got, reference_nearest_warp(images, coeffs, fill)), (name, values)
    assert any(result is not None for result in copied)  # the block copies ran, not only the gather


def test_augmix_with_jsd_gives_the_clean_batch_and_two_views():
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    policy = augsearch.AugMix(jsd=True)
    clean, first, second = policy(images, generator=torch.Generator().manual_seed(1))
    assert clean is images and first.shape == second.shape == images.shape and not torch.equal(first, second)
    (again, one, two), (plans1, plans2) = policy.trace(images, generator=torch.Generator().manual_seed(1))
    assert torch.equal(one, first) and torch.equal(two, second) and len(plans1) == len(plans2) == 6


@pytest.mark.parametrize("spec", ["autoaugment/cifar10", "randaugment/torchvision", "trivialaugment/wide",
                                  "cutout/cifar10", "augmix:severity=3", "pba/reduced-cifar10", "rand-m9-n2-mstd0.5"])
def test_every_kind_augments_empty_tiny_and_grey_batches(spec):
    policy = augsearch.load_policy(spec)
    for shape in [(0, 3, 32, 32), (1, 3, 1, 1), (3, 1, 2, 2), (2, 3, 5, 7)]:
        images = torch.randint(0, 256, shape, dtype=torch.uint8)
        out, plans = policy.trace(images, generator=torch.Generator().manual_seed(0))
        assert policy(images).shape == out.shape == images.shape and len(plans) == shape[0]
        assert torch.equal(out, policy(images, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("large", [False, True])
def test_batches_in_any_memory_layout_give_the_contiguous_result_and_stay_unwritten(large, monkeypatch):
    """The executor hands the caller's own slices to the kernels (no copy in): channels_last batches,
    and strided views must come out as the contiguous batch does, and untouched."""
    if large:  # every image counted large: one image at a time, op after op
        monkeypatch.setattr(plans_module, "LARGE_IMAGE", 1)
    rng = random.Random(f"layouts {large}")
    base = torch.randint(0, 256, (12, 3, 24, 30), dtype=torch.uint8, generator=torch.Generator().manual_seed(6))
    plans = random_plans(6, rng, most=4)
    expected = apply_plans(base[::2].contiguous(), plans, **SETTINGS)
    for images in (base[::2], base.contiguous(memory_format=torch.channels_last)[::2],
                   base.transpose(2, 3).contiguous().transpose(2, 3)[::2]):
        before = images.clone()
        assert torch.equal(apply_plans(images, plans, **SETTINGS), expected)
        assert torch.equal(images, before)


@pytest.mark.parametrize("shape", [(6, 3, 32, 32), (2, 3, 160, 160), (3, 32, 32)])
def test_results_are_normal_tensors_though_kernels_run_in_inference_mode(shape):
    """A training loop may write its augmented batch in place, which an inference tensor refuses outside
    inference mode (and autograd could not save one for backward)."""
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    for spec in ("autoaugment/cifar10", "augmix:severity=3", "cutout/cifar10"):
        out = augsearch.load_policy(spec)(images)
        assert not out.is_inference(), spec
        out.add_(1)  # raises for an inference tensor


def test_a_colour_op_that_every_image_fires_goes_a_chunk_at_a_time_with_the_same_result(monkeypatch):
    images = torch.randint(0, 256, (7, 3, 9, 11), dtype=torch.uint8, generator=torch.Generator().manual_seed(8))
    images[1] //= 85
    monkeypatch.setattr(plans_module, "COLOUR_VALUES", 3 * 9 * 11 * 3)  # three images a chunk, the last one short
    for name in OP_NAMES:
        rng = random.Random(name)
        plans = [(Applied(name, name, random_value(name, rng), (rng.random(), rng.random())),)] * 7
        before = images.clone()
        assert torch.equal(apply_plans(images, plans, **SETTINGS), one_by_one(images, plans, **SETTINGS)), name
        assert torch.equal(images, before), name
