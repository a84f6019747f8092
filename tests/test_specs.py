"""``load_policy`` specs: timm's config strings with timm's meaning, compact ``KIND:key=value``
specs, bundled names, and the errors for what it cannot read."""

from __future__ import annotations

import pytest
import timm.data.auto_augment as timm_aa

from augsearch import (
    AugMix,
    CutMix,
    Cutout,
    Mixup,
    Policy,
    PolicyError,
    RandAugment,
    TrivialAugment,
    bundled_policies,
    load_policy,
)
from augsearch.families import AUGMIX_OPS, RANDAUGMENT_OPS
from augsearch.specs import parse_spec

HPARAMS = {"translate_const": 250, "img_mean": (128, 128, 128)}


def _timm_rand(spec):
    return timm_aa.rand_augment_transform(spec, dict(HPARAMS))


@pytest.mark.parametrize("spec", ["rand-m9-n2-mstd0.5", "rand-m9-n3-inc1", "rand-m7-n1-p0.8", "rand-m10",
                                  "rand-n4-m3-mstd101", "rand-m12-mmax15-n2"])
def test_timm_rand_strings_build_timms_randaugment(spec):
    ours, theirs = load_policy(spec), _timm_rand(spec)
    assert isinstance(ours, RandAugment) and ours.convention.name == "timm"
    assert list(ours.ops) == [op.name for op in theirs.ops]
    assert ours.n == theirs.num_layers and theirs.choice_weights is None
    assert {op.prob for op in theirs.ops} == {ours.prob}
    assert {op.magnitude for op in theirs.ops} == {ours.m}
    assert {op.magnitude_std for op in theirs.ops} == {ours.magnitude_std}
    assert {op.magnitude_max for op in theirs.ops} == {ours.magnitude_max}
    assert ours.fill == (128, 128, 128)  # timm's img_mean


def test_timm_rand_lists_are_timms():
    assert list(load_policy("rand-m9-n2-mstd0.5").ops) == timm_aa._RAND_TRANSFORMS
    assert list(load_policy("rand-m9-n3-inc1").ops) == timm_aa._RAND_INCREASING_TRANSFORMS
    assert list(load_policy("augmix-m5-w4-d2").ops) == timm_aa._AUGMIX_TRANSFORMS
    ra = load_policy("rand-m9-n2-mstd0.5")
    assert (ra.n, ra.m, ra.prob, ra.magnitude_std) == (2, 9, 0.5, 0.5)
    assert load_policy("rand-m9-mstd101").magnitude_std == float("inf")  # timm: > 100 is uniform sampling
    assert load_policy("rand").m == 10 and load_policy("rand").n == 2  # timm's defaults


def test_timm_augmix_string():
    ours = load_policy("augmix-m5-w4-d2")
    theirs = timm_aa.augment_and_mix_transform("augmix-m5-w4-d2", dict(HPARAMS))
    assert isinstance(ours, AugMix) and ours.convention.name == "timm"
    assert (ours.severity, ours.width, ours.depth, ours.alpha) == (5, theirs.width, theirs.depth, theirs.alpha)
    assert list(ours.ops) == [op.name for op in theirs.ops]
    assert {op.magnitude for op in theirs.ops} == {ours.severity}
    # timm samples each op's magnitude uniformly in 0..m (mstd defaults to inf), as AugMix draws levels
    assert {op.magnitude_std for op in theirs.ops} == {float("inf")}
    defaults = load_policy("augmix")
    assert (defaults.severity, defaults.width, defaults.depth, defaults.alpha) == (3, 3, -1, 1.0)


@pytest.mark.parametrize("spec, timm_name, mstd", [("original", "original", 0.0),
                                                   ("originalr-mstd0.5", "originalr", 0.5),
                                                   ("original-mstd1", "original", 1.0)])
def test_timm_original_policies(spec, timm_name, mstd):
    ours = load_policy(spec)
    theirs = timm_aa.auto_augment_transform(spec, dict(HPARAMS)).policy
    assert isinstance(ours, Policy) and ours.convention.name == "timm" and ours.magnitude_std == mstd
    assert len(ours) == len(theirs) == 25
    for sub, their_sub in zip(ours.sub_policies, theirs):
        assert [op.name for op in sub.ops] == [op.name for op in their_sub]
        assert [op.prob for op in sub.ops] == [op.prob for op in their_sub]
        for op, their in zip(sub.ops, their_sub):
            # timm carries a magnitude it ignores for AutoContrast, Equalize and Invert
            expected = None if timm_aa.LEVEL_TO_ARG[their.name] is None else their.magnitude
            assert op.magnitude == expected, (op, their)
            assert their.magnitude_std == mstd
    posterize = {op.name for sub in ours.sub_policies for op in sub.ops if op.name.startswith("Posterize")}
    assert posterize == {"PosterizeOriginal" if timm_name == "original" else "PosterizeIncreasing"}


@pytest.mark.parametrize("spec, message", [
    ("rand-x9", r"sections supported here: m, mmax, mstd, n, p, inc \(got \[.x.\]\)"),
    ("rand-m9-w3", "sections supported here"),
    ("rand-mabc", "unsupported timm config section"), ("augmix-m5-inc1", "sections supported"),
    ("original-m5", "sections supported"), ("rand-m9-n2-tweights", "unsupported timm config section"),
    ("rand-m11", "m"), ("augmix-m5-w0", "width"),
])
def test_bad_timm_strings(spec, message):
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(spec)
    assert f"spec {spec!r}" in str(info.value)


def test_compact_specs():
    ra = load_policy("randaugment:n=2,m=9")
    assert ra == RandAugment(n=2, m=9) and ra.convention.name == "randaugment" and list(ra.ops) == list(RANDAUGMENT_OPS)
    assert load_policy("rand:n=1,m=5,convention=randaugment-31") == RandAugment(1, 5, convention="randaugment-31")
    assert load_policy("randaugment: n = 3 , ops=[Rotate, ShearX]") == RandAugment(n=3, ops=["Rotate", "ShearX"])
    assert load_policy("trivial") == TrivialAugment() and load_policy("trivialaugment-wide") == TrivialAugment()
    am = load_policy("augmix:severity=3")
    assert am == AugMix(severity=3) and list(am.ops) == list(AUGMIX_OPS) and am.convention.name == "augmix"
    assert load_policy("cutout:size=16") == Cutout(size=16) == load_policy("cutout/cifar10")
    assert load_policy("cutout:size=8,fill=[1, 2, 3]").fill == (1, 2, 3)
    assert load_policy("mixup:alpha=0.2,num_classes=10") == Mixup(0.2, num_classes=10)
    assert load_policy("cutmix:num_classes=5") == CutMix(num_classes=5)
    assert parse_spec("augmix:severity=3,jsd=true") == {"augsearch": 1, "kind": "augmix", "severity": 3, "jsd": True}


def test_bundled_names_and_instances_pass_through(tmp_path):
    for name, path in bundled_policies().items():
        if not name.startswith("fast-aa"):  # (big files: test_files reads those)
            assert load_policy(name) == load_policy(str(path)) == load_policy(path)
    policy = RandAugment()
    assert load_policy(policy) is policy
    mix = Mixup(num_classes=3)
    assert load_policy(mix) is mix
    path = RandAugment(n=1).save(tmp_path / "mine")  # no policy suffix: a file path still works
    assert load_policy(str(path)) == RandAugment(n=1)


@pytest.mark.parametrize("spec, match", [
    ("randomaugment", "unknown policy spec; expected a file, .*aa, augmix, .*trivial.*bundled name"),
    ("autoaugment/cifar11", "unknown policy spec"),
    ("randaugment:q=1", r"spec 'randaugment:q=1': q: unknown field for kind 'randaugment'"),
    ("randaugment:n", r"spec options are key=value.*\(got 'n'\)"),
    ("randaugment:=3", "spec options are key=value"),
    ("randaugment:n=-1", r"n: must be an integer"),
    ("randaugment:n=[1", "invalid YAML"),
    ("randaugment:n=!!python/object:os.system x", "YAML tags are not allowed"),
    ("aa", r"sub_policies: missing field for kind 'policy'"),
    ("  ", "expected a policy file, a bundled name or a spec"),
])
def test_bad_specs(spec, match):
    with pytest.raises(PolicyError, match=match):
        load_policy(spec)


def test_non_text_sources_are_refused():
    for bad in (None, 3, ["rand"]):
        with pytest.raises(PolicyError, match="expected a policy file"):
            load_policy(bad)


def test_repr_reads_like_the_spec():
    assert repr(load_policy("randaugment:n=2,m=9")).startswith(
        "RandAugment(n=2, m=9.0, prob=1.0, magnitude_std=0.0, ops=[")
    assert repr(load_policy("cutout:size=16")) == "Cutout(size=16, holes=1, fill=(125, 123, 114))"
    assert repr(load_policy("augmix:severity=3")).startswith("AugMix(severity=3.0, width=3, depth=-1, alpha=1.0")
    assert "convention='trivial-wide'" in repr(load_policy("trivial"))
    aa = repr(load_policy("autoaugment/cifar10"))
    assert aa.startswith("Policy(convention='autoaugment', 25 sub-policies: [[(Invert, 0.1), (Contrast, 0.2, 6)]")
    assert aa.endswith("... 22 more])")
    assert "magnitude_std=0.5" in repr(load_policy("originalr-mstd0.5"))
    assert repr(load_policy("mixup:alpha=0.2,num_classes=10")).startswith("Mixup(alpha=0.2, cutmix_alpha=0.0, "
                                                                          "num_classes=10")
