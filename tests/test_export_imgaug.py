"""imgaug export. imgaug 0.4.0 needs numpy < 2: in the main environment (numpy 2) only the refusal
is tested and the rest skips; tests/run_imgaug.sh runs the rest in .venv-imgaug (numpy 1.26)."""

from __future__ import annotations

import export_helpers
import numpy as np
import pytest
from export_helpers import SIZE, agreement_rows, assert_agrees_at_each_magnitude_and_sign, astronaut, refusals
from PIL import Image

from augsearch import Cutout, Policy, RandAugment, TrivialAugment, load_policy
from augsearch.errors import AugsearchError, PolicyError
from augsearch.export.imgaug import import_imgaug, to_imgaug
from augsearch.ops import DEFAULT_CUTOUT_FILL

NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
needs_imgaug = pytest.mark.skipif(NUMPY_2, reason="imgaug 0.4.0 needs numpy < 2: run tests/run_imgaug.sh")


@pytest.mark.skipif(not NUMPY_2, reason="checks the refusal on numpy 2")
def test_numpy_2_is_refused_with_the_way_out_and_numpy_is_left_alone():
    before = dict(vars(np))
    with pytest.raises(AugsearchError, match=r"needs numpy < 2: pip install 'augsearch\[imgaug\]'"):
        import_imgaug()
    assert dict(vars(np)) == before


def one_op(policy: Policy, negate: bool):
    """The exported augmenter of a one-op policy; for a signed op, the +v (first) or -v variant."""
    iaa = import_imgaug()
    sometimes = to_imgaug(policy)[0][0]
    chosen = sometimes.then_list
    chosen = chosen[0] if type(chosen) is iaa.Sequential else chosen
    return chosen[int(negate)] if isinstance(chosen, iaa.OneOf) else chosen


def agreement(convention: str, name: str, magnitude: float | None, negate: bool) -> tuple[float, float]:
    """Mean absolute difference and % of values within +-8 between augsearch and imgaug."""
    def theirs(policy: Policy, image: Image.Image) -> np.ndarray:
        return one_op(policy, negate)(image=np.array(image))
    return export_helpers.agreement(convention, name, magnitude, negate, theirs)


AGREEMENT = agreement_rows("imgaug")


@needs_imgaug
@pytest.mark.parametrize(("convention", "name", "magnitudes", "max_diff", "min_within"), AGREEMENT,
                         ids=[f"{c}-{n}-{m[0]}" for c, n, m, *_ in AGREEMENT])
def test_each_op_agrees_with_augsearch_within_its_measured_bound(convention, name, magnitudes, max_diff,
                                                                  min_within):
    assert_agrees_at_each_magnitude_and_sign(agreement, convention, name, magnitudes, max_diff, min_within)


@needs_imgaug
def test_cutout_erases_a_square_of_the_policys_side_in_its_colour():
    image = np.array(astronaut())
    augmenter = to_imgaug(Policy([[("Cutout", 1.0, 5)]]))
    augmenter.seed_(4)
    side = 5 / 9 * 60 / 331 * SIZE  # 12.9 px; imgaug truncates the corners to whole pixels
    inside = 0
    for _ in range(10):
        out = augmenter(image=image.copy())
        ys, xs = np.nonzero(np.any(out != image, axis=-1))
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        assert (out[y0:y1, x0:x1] == DEFAULT_CUTOUT_FILL).all()
        if x0 > 0 and y0 > 0 and x1 < SIZE and y1 < SIZE:  # not clipped at a border
            inside += 1
            assert abs((x1 - x0) - side) < 1 and abs((y1 - y0) - side) < 1
    assert inside >= 5


# ----------------------------------------------------------------------------- structure


@needs_imgaug
def test_policy_is_a_choice_of_sequences_of_ops_firing_with_their_probability():
    iaa = import_imgaug()
    augmenter = to_imgaug(Policy([[("Invert", 0.3, None), ("Rotate", 0.7, 4)], [("Equalize", 1.0, None)]]))
    assert isinstance(augmenter, iaa.OneOf) and len(augmenter) == 2
    first = augmenter[0]
    assert [op.p.p.value for op in first] == pytest.approx([0.3, 0.7])
    assert isinstance(first[1].then_list, iaa.OneOf) and len(first[1].then_list) == 2


@needs_imgaug
def test_an_ops_probability_is_the_rate_it_fires():
    augmenter = to_imgaug(Policy([[("Invert", 0.3, None)]]))
    augmenter.seed_(0)
    images = augmenter(images=np.zeros((1000, 2, 2, 3), np.uint8))
    assert 250 <= int((images[:, 0, 0, 0] == 255).sum()) <= 350


@needs_imgaug
def test_randaugment_is_n_independent_uniform_choices():
    iaa = import_imgaug()
    augmenter = to_imgaug(RandAugment(3, 9, prob=0.5))
    assert type(augmenter) is iaa.Sequential and len(augmenter) == 3
    assert all(isinstance(choice, iaa.OneOf) and len(choice) == 14 for choice in augmenter)
    assert augmenter[0] is not augmenter[1]


@needs_imgaug
def test_trivialaugment_is_a_uniform_op_then_a_uniform_bin():
    augmenter = to_imgaug(TrivialAugment())
    rotate = augmenter[TrivialAugment().ops.index("Rotate")]
    assert len(augmenter) == 14 and len(rotate) == 31


@needs_imgaug
def test_bundled_policies_run_on_a_batch():
    images = np.zeros((4, 16, 16, 3), np.uint8)
    for name in ("autoaugment/svhn", "fast-aa/reduced-cifar10", "randaugment/paper-n2-m9", "trivialaugment/wide"):
        out = to_imgaug(load_policy(name))(images=images)
        assert out.shape == images.shape and out.dtype == np.uint8


@needs_imgaug
@pytest.mark.parametrize(("policy", "message"),
                         refusals("imgaug", pytest.param(Cutout(16), "side in pixels", id="cutout-px")))
def test_what_cannot_be_exported_raises_a_policy_error(policy, message):
    with pytest.raises(PolicyError, match=message):
        to_imgaug(policy)
