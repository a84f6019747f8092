"""Policies as torchvision v2 transforms: whole samples, tv_tensors kept, and boxes, masks and
keypoints moved by every geometric op exactly as the image was (checked against torchvision's own
functional ops with the plan's parameters, against augsearch's own affine maps, and against the
pixels of the moved image), or refused with one line."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from conftest import to_pil, to_tensor
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from augsearch import Augment, AugMix, Cutout, Policy, PolicyError, RandAugment, TrivialAugment, load_policy
from augsearch.ops import OPS, affine_coefficients
from augsearch.plans import Applied
from augsearch.tvsample import MOVES

H, W = 30, 40  # not square, so width/height mix-ups show
GEOMETRIC = sorted(name for name in OPS.names() if OPS[name].kind == "geometric")
AFFINE = [name for name in GEOMETRIC if not name.startswith("Flip")]
GEOMETRIC_ONLY = [
    Policy([[("Rotate", 1.0, 9), ("ShearX", 1.0, 6)], [("TranslateY", 1.0, 7), ("FlipLR", 1.0, None)],
            [("ShearY", 1.0, 8), ("TranslateX", 1.0, 5), ("FlipUD", 1.0, None)]]),
    TrivialAugment(ops=GEOMETRIC),
    RandAugment(3, 9, ops=GEOMETRIC),
    Policy([[("Rotate", 1.0, 0.7), ("ShearY", 1.0, 0.4)]], convention="fast-aa"),
]
KINDS = [load_policy("autoaugment/imagenet"), RandAugment(2, 9), TrivialAugment(), AugMix(), Cutout(8)]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(seed: int = 0, channels: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (channels, H, W), dtype=torch.uint8, generator=seeded(seed))


def boxes(fmt: str = "XYXY") -> tv_tensors.BoundingBoxes:
    if tv_tensors.is_rotated_bounding_format(tv_tensors.BoundingBoxFormat[fmt]):
        base = tv_tensors.BoundingBoxes([[4, 3, 16, 14, 0], [15.5, 10.25, 12, 8, 30]], format="XYWHR",
                                        canvas_size=(H, W))
    else:
        base = tv_tensors.BoundingBoxes([[4, 3, 20, 17], [15.5, 10.25, 33, 26], [0, 0, W, H]], format="XYXY",
                                        canvas_size=(H, W))
    return F.convert_bounding_box_format(base, new_format=fmt)


def keypoints() -> tv_tensors.KeyPoints:
    return tv_tensors.KeyPoints([[0.0, 0.0], [3.5, 7.25], [20, 15], [39, 29], [12.0, 25.5]], canvas_size=(H, W))


def one_op(name: str, magnitude: float | None, **options) -> Policy:
    return Policy([[(name, 1.0, magnitude)]], **options)


def only_step(policy: Augment, seed: int) -> Applied:
    (step,) = policy.draw((W, H), generator=seeded(seed))
    return step


def torchvision_args(step: Applied) -> dict:
    """torchvision's affine arguments for one augsearch step, written out from the ops' docs:
    shears about the top-left corner by atan(factor), shifts in pixels, rotation counter-clockwise
    about the centre (torchvision's affine angle is clockwise)."""
    v = step.value
    args = {"angle": 0.0, "translate": [0.0, 0.0], "scale": 1.0, "shear": [0.0, 0.0], "center": [0.0, 0.0]}
    return args | {"ShearX": {"shear": [math.degrees(math.atan(v or 0)), 0.0]},
                   "ShearY": {"shear": [0.0, math.degrees(math.atan(v or 0))]},
                   "TranslateX": {"translate": [v, 0.0]},
                   "TranslateY": {"translate": [0.0, v]},
                   "Rotate": {"angle": -(v or 0), "center": [W / 2, H / 2]}}[step.op]


def torchvision_moved(step: Applied, inpt):
    if step.op == "FlipLR":
        return F.horizontal_flip(inpt)
    if step.op == "FlipUD":
        return F.vertical_flip(inpt)
    return F.affine(inpt, **torchvision_args(step), interpolation=v2.InterpolationMode.NEAREST)


def plain(x: torch.Tensor) -> torch.Tensor:
    return x.as_subclass(torch.Tensor)


# ----------------------------------------------------------------------------- every geometric op

def test_every_geometric_op_of_the_table_has_a_way_for_boxes_and_keypoints():
    assert set(MOVES) == set(GEOMETRIC) == {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
                                            "FlipLR", "FlipUD"}


def edge_ties(step: Applied) -> torch.Tensor:
    """Output pixels whose source point lies on a pixel edge, where nearest-neighbour sampling may
    go either way (augsearch's float64 floor, like PIL, vs torchvision's float32 grid)."""
    if step.op.startswith("Flip"):
        return torch.zeros(H, W, dtype=torch.bool)
    a, b, c, d, e, f = affine_coefficients(step.op, torch.tensor([step.value], dtype=torch.float64), W, H)[0]
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5, torch.arange(W, dtype=torch.float64) + 0.5,
                            indexing="ij")
    src_x, src_y = a * xs + b * ys + c, d * xs + e * ys + f
    return ((src_x - src_x.round()).abs() < 1e-3) | ((src_y - src_y.round()).abs() < 1e-3)


@pytest.mark.parametrize("name", GEOMETRIC)
@pytest.mark.parametrize("magnitude", [3, 6, 9])
def test_boxes_masks_and_keypoints_move_as_torchvisions_functional_ops_move_them(name, magnitude):
    policy = one_op(name, None if name.startswith("Flip") else magnitude)
    mask = tv_tensors.Mask(torch.randint(0, 5, (H, W), generator=seeded(1)))
    for seed in range(4):  # both signs
        out_img, out_boxes, out_mask, out_points = policy(
            tv_tensors.Image(image()), boxes(), mask, keypoints(), generator=seeded(seed))
        step = only_step(policy, seed)
        assert step.op == name
        expected_boxes = torchvision_moved(step, boxes())
        assert type(out_boxes) is tv_tensors.BoundingBoxes and out_boxes.canvas_size == (H, W)
        torch.testing.assert_close(plain(out_boxes), plain(expected_boxes))
        torch.testing.assert_close(plain(out_points), plain(torchvision_moved(step, keypoints())))
        # masks take the image's own sampling, which only edge ties tell apart from torchvision's
        expected_mask = plain(torchvision_moved(step, mask))
        assert type(out_mask) is tv_tensors.Mask
        ties = edge_ties(step)
        assert torch.equal(plain(out_mask)[~ties], expected_mask[~ties]) and ties.float().mean() < 0.25


@pytest.mark.parametrize("name", AFFINE)
def test_keypoints_move_by_the_inverse_of_augsearchs_own_affine_map(name):
    """Independent of torchvision's parameters: augsearch's kernels sample input (a x + b y + c, ...)
    for output (x, y), so a point at p goes to the inverse map of p."""
    policy = one_op(name, 8)
    points = keypoints()
    for seed in range(4):
        _, out = policy(tv_tensors.Image(image()), points, generator=seeded(seed))
        step = only_step(policy, seed)
        a, b, c, d, e, f = affine_coefficients(name, torch.tensor([step.value], dtype=torch.float64), W, H)[0]
        inverse = torch.linalg.inv(torch.tensor([[a, b, c], [d, e, f], [0, 0, 1]], dtype=torch.float64))
        expected = plain(points).double() @ inverse[:2, :2].T + inverse[:2, 2]
        torch.testing.assert_close(plain(out).double(), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", GEOMETRIC)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_a_box_still_frames_its_object_after_the_image_moved(name, interpolation):
    """A white rectangle on black, its box around it: after any geometric op the box is the
    extent of the moved rectangle's pixels (within the pixel grid's rounding)."""
    x0, y0, x1, y1 = 11, 8, 27, 19
    picture = torch.zeros(1, H, W, dtype=torch.uint8)
    picture[:, y0:y1, x0:x1] = 255
    box = tv_tensors.BoundingBoxes([[x0, y0, x1, y1]], format="XYXY", canvas_size=(H, W))
    policy = one_op(name, None if name.startswith("Flip") else 6, interpolation=interpolation)
    for seed in range(4):
        out_img, out_box = policy(tv_tensors.Image(picture), box, generator=seeded(seed))
        ys, xs = torch.nonzero(plain(out_img)[0] > 127, as_tuple=True)
        extent = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        torch.testing.assert_close(plain(out_box)[0].float(), extent, atol=1.5, rtol=0)


@pytest.mark.parametrize("policy", GEOMETRIC_ONLY, ids=["policy", "trivial", "randaugment", "fast-aa"])
@pytest.mark.parametrize("as_pil", [False, True], ids=["tensor", "pil"])
def test_a_mask_that_is_the_thresholded_image_moves_exactly_like_the_image(policy, as_pil):
    """Exactly, edge ties included (the first policy shears by 0.2, where many sample points lie on
    pixel edges): a PIL image's mask moves with PIL's kernels, a tensor's with the tensor ones."""
    picture = image(3)
    mask = tv_tensors.Mask((picture[0] > 127).to(torch.uint8))  # fill 0 stays below the threshold
    moved = 0
    for seed in range(12):
        inpt = to_pil(picture) if as_pil else tv_tensors.Image(picture)
        out_img, out_mask = policy(inpt, mask, generator=seeded(seed))
        out_img = to_tensor(out_img) if as_pil else plain(out_img)
        assert torch.equal(plain(out_mask), (out_img[0] > 127).to(torch.uint8))
        moved += not torch.equal(plain(out_mask), plain(mask))
    assert moved >= 10


def test_colour_ops_and_cutout_leave_boxes_masks_and_keypoints_as_they_are():
    mask, bxs, points = tv_tensors.Mask(torch.ones(H, W, dtype=torch.uint8)), boxes(), keypoints()
    colour = Policy([[("Invert", 1.0, None), ("Solarize", 1.0, 5), ("Equalize", 1.0, None)]])
    for policy in (colour, Cutout(12, holes=3), RandAugment(2, 9, ops=["Color", "Posterize", "Sharpness"])):
        x = image()
        out = policy({"image": tv_tensors.Image(x), "mask": mask, "boxes": bxs, "points": points, "label": 4})
        assert out["mask"] is mask and out["boxes"] is bxs and out["points"] is points and out["label"] == 4
        assert not torch.equal(plain(out["image"]), x)


def test_masks_of_many_objects_and_any_label_dtype_move_and_keep_their_values():
    labels = torch.randint(0, 1000, (2, H, W), generator=seeded(2))  # int64 ids beyond 255
    masks = tv_tensors.Mask(labels)
    flags = tv_tensors.Mask(labels > 500)
    policy = one_op("Rotate", 9)
    out_img, out_masks, out_flags = policy(tv_tensors.Image(image()), masks, flags, generator=seeded(0))
    assert out_masks.dtype == torch.int64 and out_masks.shape == (2, H, W) and out_flags.dtype == torch.bool
    assert set(plain(out_masks).unique().tolist()) <= set(labels.unique().tolist()) | {0}
    assert torch.equal(plain(out_flags), plain(out_masks) > 500)  # the fill 0 is no flag either
    pil_img, pil_masks, pil_flags = policy(to_pil(image()), masks, flags, generator=seeded(0))
    assert pil_masks.dtype == torch.int64 and pil_flags.dtype == torch.bool
    assert torch.equal(plain(pil_flags), plain(pil_masks) > 500)
    with pytest.raises(ValueError, match="must fit int32"):
        policy(to_pil(image()), tv_tensors.Mask(torch.full((H, W), 2**40)))


# ----------------------------------------------------------------------------- types, pipelines, samples

def test_every_kind_is_a_torchvision_transform_and_a_module():
    for policy in KINDS:
        assert isinstance(policy, v2.Transform) and isinstance(policy, nn.Module)


@pytest.mark.parametrize("policy", KINDS, ids=["policy", "randaugment", "trivial", "augmix", "cutout"])
def test_tv_tensor_images_and_videos_keep_their_type_and_get_the_plain_tensor_output(policy):
    x = image()
    out = policy(tv_tensors.Image(x), generator=seeded(5))
    assert type(out) is tv_tensors.Image and torch.equal(plain(out), policy(x, generator=seeded(5)))
    video = tv_tensors.Video(x.expand(4, 3, H, W).contiguous())
    frames = policy(video, generator=seeded(5))
    assert type(frames) is tv_tensors.Video and frames.shape == video.shape
    assert all(torch.equal(plain(frame), plain(out)) for frame in frames)  # one plan for the whole clip


def test_a_pil_image_in_a_sample_gets_what_the_policy_gives_it_alone():
    x = image()
    policy = load_policy("autoaugment/imagenet")
    out, label = policy(to_pil(x), 3, generator=seeded(2))
    assert label == 3 and torch.equal(to_tensor(out), to_tensor(policy(to_pil(x), generator=seeded(2))))


def test_in_nn_sequential_and_v2_compose_with_boxes():
    x = image()
    policy = one_op("Rotate", 9)
    out = nn.Sequential(policy, v2.ToDtype(torch.float32, scale=True))(tv_tensors.Image(x))
    assert type(out) is tv_tensors.Image and out.dtype == torch.float32
    torch.manual_seed(0)
    img, bxs = v2.Compose([policy, v2.ToDtype(torch.float32, scale=True)])(tv_tensors.Image(x), boxes())
    torch.manual_seed(0)
    step = policy.draw((W, H))[0]
    assert img.dtype == torch.float32 and type(bxs) is tv_tensors.BoundingBoxes
    torch.testing.assert_close(plain(bxs), plain(torchvision_moved(step, boxes())))
    net = nn.Sequential(policy, nn.Conv2d(3, 3, 1))
    seen = []
    assert net.apply(seen.append) is net and policy in seen  # nn.Module.apply still reaches every module


def test_dict_and_nested_samples_keep_their_shape_and_labels():
    x = image()
    sample = {"image": tv_tensors.Image(x), "target": {"boxes": boxes(), "labels": torch.tensor([1, 2, 3]),
                                                       "name": "cat", "iscrowd": [0, 0, 1]}}
    out = one_op("ShearX", 9)(sample, generator=seeded(0))
    assert out.keys() == sample.keys() and out["target"].keys() == sample["target"].keys()
    assert out["target"]["labels"] is sample["target"]["labels"] and out["target"]["name"] == "cat"
    assert out["target"]["iscrowd"] == [0, 0, 1] and not torch.equal(plain(out["target"]["boxes"]), plain(boxes()))


def test_a_plain_tensor_next_to_a_tv_image_passes_through_as_in_torchvision():
    x, extra = image(), torch.ones(5, 4)
    out, same = one_op("Rotate", 9)(tv_tensors.Image(x), extra)
    assert same is extra and type(out) is tv_tensors.Image


def test_the_same_generator_gives_the_same_sample():
    policy = TrivialAugment()
    a = policy((tv_tensors.Image(image()), boxes(), keypoints()), generator=seeded(7))
    b = policy((tv_tensors.Image(image()), boxes(), keypoints()), generator=seeded(7))
    assert all(torch.equal(plain(p), plain(q)) for p, q in zip(a, b, strict=True))


class Fixed(Augment):
    """A kind of its own that defines only what the subclass contract asks for."""

    def __init__(self, views: int = 1):
        super().__init__(convention="autoaugment")
        self.views = views

    def draw(self, size, *, generator=None):
        return (Applied("Rotate", "Rotate", 20.0), Applied("Invert", "Invert", None))

    def _options(self):
        return {}

    def _views(self):
        return self.views


Fixed.kind = "fixed"  # after the class body, so that KINDS does not register it


def test_a_subclass_defining_only_draw_and_options_moves_boxes_too():
    _, out = Fixed()(tv_tensors.Image(image()), boxes())
    torch.testing.assert_close(plain(out), plain(F.rotate(boxes(), 20.0, center=[W / 2, H / 2])))
    with pytest.raises(PolicyError, match="several views of the image, each moved"):
        Fixed(views=2)(tv_tensors.Image(image()), boxes())


# ----------------------------------------------------------------------------- float images

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("policy", KINDS, ids=["policy", "randaugment", "trivial", "augmix", "cutout"])
def test_float_images_in_0_1_are_augmented_as_uint8_and_come_back_in_their_dtype(policy, dtype):
    x = image()
    expected = policy(x, generator=seeded(3)).to(dtype) / 255
    for inpt in (x.to(dtype) / 255, tv_tensors.Image(x.to(dtype) / 255)):
        out = policy(inpt, generator=seeded(3))
        assert out.dtype == dtype and type(out) is type(inpt)
        torch.testing.assert_close(plain(out), expected, atol=0, rtol=0)
    batch = torch.stack([x, image(1)]).to(dtype) / 255
    out = policy(batch, generator=seeded(3))
    expected = policy(torch.stack([x, image(1)]), generator=seeded(3)).to(dtype) / 255
    assert out.dtype == dtype and torch.equal(out, expected)


@pytest.mark.parametrize("bad", [torch.full((3, 8, 8), 2.0), torch.full((3, 8, 8), -0.5),
                                 torch.full((3, 8, 8), float("nan"))], ids=["above", "below", "nan"])
def test_float_images_outside_0_1_are_refused(bad):
    for inpt in (bad, tv_tensors.Image(bad)):
        with pytest.raises(TypeError, match=r"values in \[0, 1\].*uint8"):
            one_op("Invert", None)(inpt)


# ----------------------------------------------------------------------------- AugMix

@pytest.mark.parametrize("target", [boxes(), tv_tensors.Mask(torch.zeros(H, W, dtype=torch.uint8)), keypoints()],
                         ids=["boxes", "mask", "keypoints"])
def test_augmix_with_geometric_ops_refuses_boxes_masks_and_keypoints(target):
    name = type(target).__name__
    with pytest.raises(PolicyError, match=rf"^augmix cannot move the sample's {name}: it mixes") as err:
        AugMix()(tv_tensors.Image(image()), target)
    assert "\n" not in str(err.value) and "Rotate" in str(err.value)


def test_augmix_of_colour_ops_lets_boxes_through_and_jsd_gives_three_typed_views():
    bxs = boxes()
    colour = AugMix(ops=["AutoContrast", "Equalize", "Posterize", "Solarize"])
    _, out = colour(tv_tensors.Image(image()), bxs)
    assert out is bxs
    x = image()
    views = AugMix(jsd=True)(tv_tensors.Image(x), generator=seeded(0))
    expected = AugMix(jsd=True)(x, generator=seeded(0))
    assert len(views) == 3 and all(type(v) is tv_tensors.Image for v in views)
    assert all(torch.equal(plain(v), e) for v, e in zip(views, expected, strict=True))
    views, out = AugMix(jsd=True, ops=["Equalize"])(tv_tensors.Image(x), bxs)
    assert len(views) == 3 and out is bxs
    with pytest.raises(PolicyError, match="it mixes"):
        AugMix(jsd=True)(tv_tensors.Image(x), bxs)


# ----------------------------------------------------------------------------- workers

def _listed(batch):
    return batch


class Detection(Dataset):
    """A white rectangle and its box; the policy runs in the worker."""

    def __init__(self, policy):
        self.policy = policy

    def __len__(self):
        return 8

    def __getitem__(self, index):
        picture = torch.zeros(3, H, W, dtype=torch.uint8)
        picture[:, 8:20, 10:26] = 255
        box = tv_tensors.BoundingBoxes([[10, 8, 26, 20]], format="XYXY", canvas_size=(H, W))
        return self.policy(tv_tensors.Image(picture), box)


def test_a_dataloader_with_two_workers_returns_boxes_that_follow_their_images():
    torch.manual_seed(0)
    policy = TrivialAugment(ops=["Rotate", "ShearX", "TranslateY", "FlipLR"])
    loader = DataLoader(Detection(policy), batch_size=2, num_workers=2, collate_fn=_listed)
    items = [item for batch in loader for item in batch]
    assert len(items) == 8 and len({bytes(plain(img).numpy()) for img, _ in items}) > 4
    for img, box in items:
        assert type(img) is tv_tensors.Image and type(box) is tv_tensors.BoundingBoxes
        ys, xs = torch.nonzero(plain(img)[0] > 127, as_tuple=True)
        extent = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        torch.testing.assert_close(plain(box)[0].float(), extent, atol=1.5, rtol=0)
    assert pickle.loads(pickle.dumps(policy)) == policy


# ----------------------------------------------------------------------------- hostile samples

@pytest.mark.parametrize("fmt", ["XYWH", "CXCYWH", "XYWHR", "CXCYWHR", "XYXYXYXY"])
def test_boxes_in_other_formats_move_in_their_own_format(fmt):
    policy = one_op("Rotate", 6)
    _, out = policy(tv_tensors.Image(image()), boxes(fmt), generator=seeded(1))
    assert out.format == tv_tensors.BoundingBoxFormat[fmt]
    torch.testing.assert_close(plain(out), plain(torchvision_moved(only_step(policy, 1), boxes(fmt))))
    if fmt in ("XYWH", "CXCYWH"):
        _, xyxy = policy(tv_tensors.Image(image()), boxes(), generator=seeded(1))
        back = F.convert_bounding_box_format(out, new_format="XYXY")
        torch.testing.assert_close(plain(back), plain(xyxy), atol=1e-4, rtol=0)


def test_empty_boxes_and_keypoints_stay_empty():
    empty = tv_tensors.BoundingBoxes(torch.zeros(0, 4), format="XYXY", canvas_size=(H, W))
    none = tv_tensors.KeyPoints(torch.zeros(0, 2), canvas_size=(H, W))
    _, out, points = one_op("ShearY", 9)(tv_tensors.Image(image()), empty, none)
    assert out.shape == (0, 4) and type(out) is tv_tensors.BoundingBoxes and points.shape == (0, 2)


@pytest.mark.parametrize(("target", "message"), [
    (tv_tensors.Mask(torch.zeros(H, W + 1, dtype=torch.uint8)), r"Mask must have its image's height and width"),
    (tv_tensors.Mask(torch.zeros(W, dtype=torch.uint8)), r"Mask must have its image's height and width"),
    (tv_tensors.BoundingBoxes([[1, 1, 4, 4]], format="XYXY", canvas_size=(W, H)), "BoundingBoxes must have its"),
    (tv_tensors.KeyPoints([[1, 1]], canvas_size=(H * 2, W)), "KeyPoints must have its"),
], ids=["mask-size", "mask-1d", "boxes-canvas", "keypoints-canvas"])
def test_targets_of_another_size_than_the_image_are_refused(target, message):
    with pytest.raises(ValueError, match=message) as err:
        one_op("Rotate", 9)(tv_tensors.Image(image()), target)
    assert "\n" not in str(err.value)


def test_other_hostile_samples_get_one_line_errors():
    x = image()
    policy = one_op("Rotate", 9)
    with pytest.raises(ValueError, match="one plan per image"):
        policy(tv_tensors.Image(torch.stack([x, x])), boxes())
    with pytest.raises(ValueError, match="one size"):
        policy(tv_tensors.Image(x), tv_tensors.Image(x[:, :10]))
    with pytest.raises(TypeError, match="PIL image or a uint8 tensor"):
        policy((x.numpy(), 3))
    with pytest.raises(TypeError, match="1 or 3 channels"):
        policy(tv_tensors.Image(torch.zeros(4, H, W, dtype=torch.uint8)), boxes())
    with pytest.raises(TypeError, match="uint8 or float"):
        policy(tv_tensors.Image(x.to(torch.int32)))

    class Heatmap(tv_tensors.TVTensor):
        pass

    with pytest.raises(TypeError, match="cannot augment a Heatmap"):
        policy(tv_tensors.Image(x), torch.zeros(H, W).as_subclass(Heatmap))
    with pytest.raises(PolicyError, match="batch"):
        one_op("SamplePairing", 5)(tv_tensors.Image(x), boxes())
