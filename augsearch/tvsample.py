"""torchvision samples: how a policy augments what ``transforms.v2`` passes, so that every part
of a sample agrees with its image.

Why: a detection or segmentation sample is only right when its boxes, masks and keypoints move
exactly as its image did. A policy draws one plan per sample. The images take it with augsearch's
kernels; masks take the plan's geometric steps with the kernels that moved the image (PIL's for
a PIL image), nearest neighbour, filled with 0, so that a mask pixel always labels the image pixel
it came with; boxes and
keypoints take the same steps through torchvision's own functional ops (``affine``, the flips)
with the parameters each step stands for, so they follow torchvision's rules for their formats,
clamping and canvas. Colour and erasing ops (Cutout) leave them as they are.

What a sample may hold: PIL images, plain tensors (the first one is the image when the sample
has no other, as in torchvision), ``tv_tensors.Image`` and ``Video`` (uint8, or float in [0, 1]:
converted to uint8 with rounding, augmented, converted back, so the output has the input's
dtype on a 1/255 grid), ``BoundingBoxes``, ``Mask``, ``KeyPoints``; other ``tv_tensors`` types
are refused, and labels and every other value pass through, as do plain tensors beside the image.
A 4-D image is a batch: each image gets its own plan, so nothing can follow it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import PIL.Image
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from augsearch.errors import PolicyError
from augsearch.ops import OPS
from augsearch.plans import Applied, Plan, check_pil_image, check_size, image_size

TARGETS = (tv_tensors.BoundingBoxes, tv_tensors.Mask, tv_tensors.KeyPoints)
MASK_FILL = (0,)  # what masks get where a geometric op uncovers the canvas: background
_INT32 = torch.iinfo(torch.int32)


def is_plain_tensor(inpt: Any) -> bool:
    return isinstance(inpt, torch.Tensor) and not isinstance(inpt, tv_tensors.TVTensor)


TRANSFORMED_TYPES = (PIL.Image.Image, tv_tensors.TVTensor, is_plain_tensor)


class SampleAugment(Protocol):
    """What this module needs from a policy (``augsearch.policy.Augment`` provides it)."""

    kind: str

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Any: ...
    def apply(self, image: Any, plan: Any) -> Any: ...
    def apply_batch(self, images: torch.Tensor, plans: Sequence[Any]) -> torch.Tensor: ...
    def trace(self, image: Any, *, generator: torch.Generator | None = None) -> tuple[Any, Any]: ...
    def check_inputs(self, flat_inputs: list[Any]) -> None: ...
    def _needs_transform_list(self, flat_inputs: list[Any]) -> list[bool]: ...
    def transform(self, inpt: Any, params: dict[str, Any]) -> Any: ...
    def _geometry(self, plan: Any) -> Plan | str: ...
    def _views(self) -> int: ...


def is_plain_input(inpt: Any) -> bool:
    """What policies took before they were torchvision transforms, taken the same way: one PIL
    image, one plain uint8 tensor (a batch included), or something that is neither a tensor nor a
    container (refused as before)."""
    if isinstance(inpt, PIL.Image.Image):
        return True
    if isinstance(inpt, torch.Tensor):
        return type(inpt) is torch.Tensor and inpt.dtype == torch.uint8
    return not isinstance(inpt, (list, tuple, dict))


def augment_sample(augment: SampleAugment, inputs: tuple[Any, ...], *,
                   generator: torch.Generator | None) -> Any:
    """``transforms.v2.Transform.forward`` with the policy's ``generator``: the same flattening,
    the same choice of what to transform, one plan for the sample."""
    flat, spec = tree_flatten(inputs if len(inputs) > 1 else inputs[0])
    augment.check_inputs(flat)
    needs = augment._needs_transform_list(flat)
    params = draw_params(augment, [x for x, n in zip(flat, needs, strict=True) if n], generator=generator)
    out = [augment.transform(x, params) if n else x for x, n in zip(flat, needs, strict=True)]
    return tree_unflatten(out, spec)


# ----------------------------------------------------------------------------- drawing a sample's plan

def draw_params(augment: SampleAugment, flat_inputs: list[Any], *,
                generator: torch.Generator | None = None) -> dict[str, Any]:
    """Check the sample, then draw its plan (one per view; batches draw theirs when applied) and the
    steps its boxes, masks and keypoints follow, or refuse them when they cannot follow."""
    images = [x for x in flat_inputs if _is_image(x)]
    targets = [x for x in flat_inputs if isinstance(x, TARGETS)]
    for x in flat_inputs:
        if not (_is_image(x) or isinstance(x, TARGETS)):
            raise TypeError(f"{augment.kind} cannot augment a {type(x).__name__}: it moves images, videos, "
                            "BoundingBoxes, Mask and KeyPoints")
    if not images:
        what = ", ".join(sorted({type(x).__name__ for x in flat_inputs})) or "nothing to augment"
        raise TypeError("expected a PIL image or a uint8 tensor (or a float one in [0, 1], a tv_tensors.Image "
                        f"or Video, or a sample holding one), got {what}")
    for x in images:
        _check_image(x)
    sizes = {image_size(x) for x in images}
    if len(sizes) > 1:
        raise ValueError(f"the images of one sample must have one size to share a plan, got {sorted(sizes)} "
                         "(width, height)")
    size = sizes.pop()
    for x in targets:
        _check_target(x, size)
    singles = [x for x in images if not _is_batch(x)]
    if targets and len(singles) < len(images):
        raise ValueError(f"a batch of images gets one plan per image, so its {_names(targets)} cannot follow; "
                         "augment the samples one by one")
    plans = tuple(augment.draw(size, generator=generator) for _ in range(augment._views())) if singles else ()
    steps: Plan = ()
    if targets:
        geometries = [augment._geometry(plan) for plan in plans]
        reasons = [g for g in geometries if isinstance(g, str)]
        if not reasons and len(plans) > 1 and any(geometries):
            reasons = ["it returns several views of the image, each moved its own way"]
        reasons += [f"they cannot follow op {s.op}" for g in geometries if not isinstance(g, str)
                    for s in g if s.op not in MOVES]
        if reasons:
            raise PolicyError(f"{augment.kind} cannot move the sample's {_names(targets)}: {reasons[0]}; give it only "
                              f"colour ops, or leave the {_names(targets)} out of what it augments")
        steps = geometries[0] if geometries else ()
    pil = any(isinstance(x, PIL.Image.Image) for x in images)  # masks then take PIL's kernels too
    return {"plans": plans, "steps": steps, "size": size, "generator": generator, "pil": pil}


def _is_image(x: Any) -> bool:
    return isinstance(x, (PIL.Image.Image, tv_tensors.Image, tv_tensors.Video)) or is_plain_tensor(x)


def _is_batch(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and not isinstance(x, tv_tensors.Video) and x.ndim == 4


def _names(targets: list[Any]) -> str:
    """``BoundingBoxes``, ``BoundingBoxes and Mask``, ``BoundingBoxes, KeyPoints and Mask``."""
    names = sorted({type(x).__name__ for x in targets})
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def _check_image(x: Any) -> None:
    if isinstance(x, PIL.Image.Image):
        check_pil_image(x)
        return
    what = type(x).__name__
    video = isinstance(x, tv_tensors.Video)
    dims_ok = x.ndim >= 4 if video else x.ndim in (3, 4)
    if not (x.dtype == torch.uint8 or x.is_floating_point()) or not dims_ok or x.shape[-3] not in (1, 3):
        shape = "(..., T, C, H, W)" if video else "(C, H, W) or (N, C, H, W)"
        raise TypeError(f"expected a uint8 or float {what} {shape} with 1 or 3 channels, "
                        f"got {x.dtype} {tuple(x.shape)}")
    check_size(image_size(x))
    if x.is_floating_point() and x.numel():
        low, high = x.amin().item(), x.amax().item()
        if not 0.0 <= low <= high <= 1.0:
            raise TypeError(f"a float {what} must hold values in [0, 1], got {x.dtype} values in "
                            f"[{low:g}, {high:g}]; give a uint8 image or scale it to [0, 1]")


def _check_target(x: Any, size: tuple[int, int]) -> None:
    width, height = size
    if isinstance(x, tv_tensors.Mask):
        if x.ndim < 2 or tuple(x.shape[-2:]) != (height, width):
            raise ValueError(f"a Mask must have its image's height and width {(height, width)}, got shape "
                             f"{tuple(x.shape)}")
    elif tuple(x.canvas_size) != (height, width):
        raise ValueError(f"{type(x).__name__} must have its image's canvas_size {(height, width)} (height, width), "
                         f"got {tuple(x.canvas_size)}")


# ----------------------------------------------------------------------------- applying it

def transform(augment: SampleAugment, inpt: Any, params: dict[str, Any]) -> Any:
    """One part of a sample, augmented with the sample's plan."""
    if isinstance(inpt, tv_tensors.Mask):
        return _move_mask(inpt, params["steps"], pil=params["pil"])
    if isinstance(inpt, (tv_tensors.BoundingBoxes, tv_tensors.KeyPoints)):
        return _move_points(inpt, params["steps"], params["size"])
    if isinstance(inpt, PIL.Image.Image):
        return _views(inpt, [augment.apply(inpt, plan) for plan in params["plans"]])
    plain = inpt.as_subclass(torch.Tensor)
    pixels = _to_uint8(plain)
    if isinstance(inpt, tv_tensors.Video):
        frames = pixels.reshape(-1, *pixels.shape[-3:])
        outs = [augment.apply_batch(frames, [plan] * len(frames)).reshape(pixels.shape) for plan in params["plans"]]
    elif _is_batch(plain):
        out = augment.trace(pixels, generator=params["generator"])[0]
        outs = list(out[1:]) if isinstance(out, tuple) else [out]  # (batch, view, view) for several views
    else:
        outs = [augment.apply(pixels, plan) for plan in params["plans"]]
    return _views(inpt, [_restore(out, inpt, plain) for out in outs])


def _views(original: Any, outs: list[Any]) -> Any:
    """One augmented image, or ``(original, view, view, ...)`` for kinds that return several views."""
    return outs[0] if len(outs) == 1 else (original, *outs)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.uint8 else x.mul(255).round_().to(torch.uint8)


def _restore(out: torch.Tensor, like: Any, plain: torch.Tensor) -> Any:
    """Back to the input's dtype and type."""
    if out.dtype != plain.dtype:
        out = out.to(plain.dtype).div_(255)
    return tv_tensors.wrap(out, like=like) if isinstance(like, tv_tensors.TVTensor) else out


def _move_mask(mask: tv_tensors.Mask, steps: Plan, *, pil: bool) -> tv_tensors.Mask:
    """The geometric steps through the kernels that moved the image (PIL's when the sample's image is
    a PIL image, else the tensor ones), nearest neighbour: each mask pixel comes from the source pixel
    its image pixel came from, even where a sample point lies on a pixel edge."""
    if not steps or not mask.numel():  # a mask of no objects, (0, H, W), has nothing to move
        return mask
    plain = mask.as_subclass(torch.Tensor)
    if pil:
        layers = [_pil_moved(layer, steps) for layer in plain.reshape(-1, *plain.shape[-2:])]
        out = torch.stack(layers).to(device=plain.device, dtype=plain.dtype)
    else:
        out = plain.reshape(1, -1, *plain.shape[-2:])
        for step in steps:
            values = torch.tensor([0.0 if step.value is None else step.value], dtype=torch.float64)
            aux = torch.tensor([step.aux], dtype=torch.float64)
            out = OPS[step.op].tensor(out, values, aux, fill=MASK_FILL, interpolation="nearest")
    return tv_tensors.wrap(out.reshape(plain.shape), like=mask)


def _pil_moved(layer: torch.Tensor, steps: Plan) -> torch.Tensor:
    """One (H, W) mask layer as a 32-bit PIL image (mode I, or F for float masks), moved by PIL's kernels."""
    if layer.is_floating_point():
        array = layer.cpu().numpy().astype(np.float32)
    else:
        wide = layer.to(torch.int64)
        if layer.numel() and not (_INT32.min <= wide.min().item() and wide.max().item() <= _INT32.max):
            raise ValueError("with a PIL image, a Mask is moved as a 32-bit PIL image; its values must fit int32, "
                             f"got {wide.min().item()}..{wide.max().item()}")
        array = wide.cpu().numpy().astype(np.int32)
    image = PIL.Image.fromarray(array)
    for step in steps:
        image = OPS[step.op].pil(image, step.value, step.aux, fill=MASK_FILL, interpolation="nearest")
    return torch.from_numpy(np.asarray(image).copy())


def _move_points(inpt: Any, steps: Plan, size: tuple[int, int]) -> Any:
    for step in steps:
        inpt = MOVES[step.op](inpt, step.value, size)
    return inpt


# ----------------------------------------------------------------------------- boxes and keypoints

Move = Callable[[Any, float | None, tuple[int, int]], Any]


def torchvision_affine(op: str, value: float, width: int, height: int) -> dict[str, Any]:
    """The arguments of ``torchvision.transforms.v2.functional.affine`` that move points as augsearch's
    op moves pixels (see :func:`augsearch.ops.affine_coefficients`): shears about the top-left corner
    (torchvision's shear angle is the arctangent of augsearch's factor), rotation counter-clockwise
    about the image centre (torchvision's affine angle turns clockwise)."""
    args: dict[str, Any] = {"angle": 0.0, "translate": [0.0, 0.0], "scale": 1.0, "shear": [0.0, 0.0],
                            "center": [0.0, 0.0]}
    if op == "ShearX":
        return args | {"shear": [math.degrees(math.atan(value)), 0.0]}
    if op == "ShearY":
        return args | {"shear": [0.0, math.degrees(math.atan(value))]}
    if op == "TranslateX":
        return args | {"translate": [value, 0.0]}
    if op == "TranslateY":
        return args | {"translate": [0.0, value]}
    if op == "Rotate":
        return args | {"angle": -value, "center": [width / 2.0, height / 2.0]}
    raise KeyError(op)


def _affine(op: str) -> Move:
    def move(inpt: Any, value: float | None, size: tuple[int, int]) -> Any:
        return F.affine(inpt, **torchvision_affine(op, float(value or 0.0), *size))
    return move


# How boxes and keypoints follow each geometric op (tests check that every geometric op is here).
MOVES: Mapping[str, Move] = MappingProxyType({
    **{op: _affine(op) for op in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")},
    "FlipLR": lambda inpt, value, size: F.horizontal_flip(inpt),
    "FlipUD": lambda inpt, value, size: F.vertical_flip(inpt),
})


def geometric_steps(plan: Any) -> Plan | None:
    """The steps of a plan that move pixels, in order; ``None`` when the plan is not a sequence of ops."""
    if not isinstance(plan, tuple) or not all(isinstance(step, Applied) for step in plan):
        return None
    return tuple(step for step in plan if OPS[step.op].kind == "geometric")
