"""Plans and their executor: what a policy drew for an image, and how a plan is applied.

Every augmentation first *draws* a plan (which ops fire, with which parameter) and then
*applies* it. The plan is what ``trace`` returns and what sample grids annotate; applying the
same plan on a PIL image and on a tensor gives the same result. A 4-D uint8 tensor is a batch:
each image gets its own plan, and the batch is applied op by op on its device.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from augsearch.ops import DEFAULT_CUTOUT_FILL, OPS, Fill, Interpolation


@dataclass(frozen=True)
class Applied:
    """One op that fired: what a grid annotates and what the backends apply."""

    name: str
    op: str
    value: float | None
    aux: tuple[float, float] = (0.0, 0.0)

    def __str__(self) -> str:
        text = OPS[self.op].describe(self.value)
        return text if self.name == self.op else f"{self.name}: {text}"


Plan = tuple[Applied, ...]


# ----------------------------------------------------------------------------- applying plans

def is_batch(image: Any) -> bool:
    return isinstance(image, torch.Tensor) and image.ndim == 4


def check_image(image: Any) -> None:
    if isinstance(image, Image.Image):
        return
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a PIL image or a uint8 tensor, got {type(image).__name__}")
    if image.dtype != torch.uint8 or image.ndim not in (3, 4) or image.shape[-3] not in (1, 3):
        raise TypeError("expected a uint8 tensor (C, H, W) or (N, C, H, W) with 1 or 3 channels, "
                        f"got {image.dtype} {tuple(image.shape)}")


def image_size(image: Image.Image | torch.Tensor) -> tuple[int, int]:
    """(width, height) of a PIL image or an image tensor."""
    if isinstance(image, Image.Image):
        return image.size
    return int(image.shape[-1]), int(image.shape[-2])


def apply_plan(image: Image.Image | torch.Tensor, plan: Plan, *, fill: Fill, interpolation: Interpolation,
               cutout_fill: Fill = DEFAULT_CUTOUT_FILL) -> Image.Image | torch.Tensor:
    """Apply a plan to one PIL image or one (C, H, W) tensor."""
    if isinstance(image, Image.Image):
        for call in plan:
            image = OPS[call.op].pil(image, call.value, call.aux, fill=fill, interpolation=interpolation,
                                     cutout_fill=cutout_fill)
        return image
    return apply_plans(image.unsqueeze(0), [plan], fill=fill, interpolation=interpolation,
                       cutout_fill=cutout_fill)[0]


SLICE_VALUES = 1 << 21  # values per slice of a CPU batch of small images: 680 of 32x32
LARGE_IMAGE = 1 << 16  # values from which a CPU batch goes one image at a time (148x148 RGB)


def apply_plans(images: torch.Tensor, plans: Sequence[Plan], *, fill: Fill, interpolation: Interpolation,
                cutout_fill: Fill = DEFAULT_CUTOUT_FILL) -> torch.Tensor:
    """Apply one plan per image of a uint8 batch: step by step, each op once on the sub-batch of
    images that fire it (gathered, transformed, scattered back); Identity costs nothing.

    On the CPU the batch goes in slices, so that the kernels' temporaries stay small enough to be
    reused from cache and the allocator instead of being faulted in afresh: images of
    :data:`LARGE_IMAGE` values or more one at a time (measured at 224x224: 1.5x the rate of 13-image
    slices), smaller ones :data:`SLICE_VALUES` values at a time (per-op overhead dominates there). A GPU
    takes the batch whole (fewer, larger launches); SamplePairing draws partners from the whole batch,
    so a batch with it is one slice."""
    out = images.clone()
    if not plans:
        return out
    whole = images.device.type != "cpu" or any(call.op == "SamplePairing" for plan in plans for call in plan)
    per_image = max(1, images[0].numel())
    rows_per_slice = len(plans) if whole else 1 if per_image >= LARGE_IMAGE else max(1, SLICE_VALUES // per_image)
    settings = {"fill": fill, "interpolation": interpolation, "cutout_fill": cutout_fill}
    for start in range(0, len(plans), rows_per_slice):
        _apply_slice(out[start:start + rows_per_slice], plans[start:start + rows_per_slice], out, settings)
    return out


def _apply_slice(out: torch.Tensor, plans: Sequence[Plan], pool: torch.Tensor, settings: dict[str, Any]) -> None:
    """Apply ``plans`` to ``out`` (a slice of the batch ``pool``) in place."""
    for step in range(max((len(p) for p in plans), default=0)):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, plan in enumerate(plans):
            if step < len(plan):
                groups[plan[step].op].append(i)
        for op, rows in groups.items():
            opdef = OPS[op]
            if opdef.kind == "identity":
                continue
            calls = [plans[i][step] for i in rows]
            values = torch.tensor([c.value if c.value is not None else 0.0 for c in calls], dtype=torch.float64)
            aux = torch.tensor([c.aux for c in calls], dtype=torch.float64)
            if len(rows) == len(plans):
                out.copy_(opdef.tensor(out, values, aux, pool=pool, **settings))
                continue
            index = torch.tensor(rows, device=out.device)
            out.index_copy_(0, index, opdef.tensor(out.index_select(0, index), values, aux, pool=pool, **settings))
