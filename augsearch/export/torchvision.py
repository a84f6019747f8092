"""augsearch policies as torchvision ``transforms.v2`` transforms.

Why: torchvision pipelines (``v2.Compose``, datasets that return ``(image, target)`` or dicts)
can then use any augsearch policy as one of their steps, with augsearch's own kernels, so the
output is exactly what augsearch gives. Images are PIL images, plain uint8 tensors and
``tv_tensors.Image``; labels, masks, boxes and everything else pass through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from augsearch.errors import PolicyError
from augsearch.export.pins import schedule_refused, unsupported
from augsearch.families import AugMix
from augsearch.mixing import Mixup
from augsearch.ops import OPS
from augsearch.plans import check_image, image_size, is_batch
from augsearch.policy import Augment
from augsearch.schedule import Schedule

# The transform applies augsearch's own kernels, so every op maps to itself and none is refused.
MAPPED_OPS: frozenset[str] = frozenset(OPS)
REFUSED_OPS: Mapping[str, str] = MappingProxyType({})


def _is_plain_tensor(inpt: Any) -> bool:
    return isinstance(inpt, torch.Tensor) and not isinstance(inpt, tv_tensors.TVTensor)


class PolicyTransform(v2.Transform):
    """Applies an augsearch policy to the images of a sample.

    One plan is drawn per call, so every image of one sample gets the same ops (as torchvision
    transforms share their parameters across a sample); a batch ``(N, C, H, W)`` gets one plan per
    image, as augsearch applies batches. Plans come from torch's default generator, which
    ``DataLoader`` seeds per worker.
    """

    # v2 treats a plain tensor as the image only when the sample has no other image, as it does
    # for its own transforms; masks, boxes and other tv_tensors are not images and pass through.
    _transformed_types = (PIL.Image.Image, tv_tensors.Image, _is_plain_tensor)

    def __init__(self, policy: Augment) -> None:
        super().__init__()
        _check(policy)
        self.policy = policy

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        for inpt in flat_inputs:
            check_image(inpt.as_subclass(torch.Tensor) if isinstance(inpt, torch.Tensor) else inpt)
        sizes = {image_size(inpt) for inpt in flat_inputs}
        if len(sizes) > 1:
            raise ValueError(f"the images of one sample must have one size to share a plan, got {sorted(sizes)}")
        singles = [inpt for inpt in flat_inputs if not is_batch(inpt)]
        return {"plan": self.policy.draw(image_size(singles[0])) if singles else None}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, PIL.Image.Image):
            return self.policy.apply(inpt, params["plan"])
        plain = inpt.as_subclass(torch.Tensor)
        out = self.policy(plain) if is_batch(plain) else self.policy.apply(plain, params["plan"])
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out

    def extra_repr(self) -> str:
        return repr(self.policy)


@functools.singledispatch
def _check(policy: object) -> None:
    """Refuses what a per-sample transform cannot apply; the kinds it can are registered below."""
    raise unsupported(policy, "torchvision")


@_check.register(Augment)
def _per_image(policy: Augment) -> None:
    """Any per-image policy: the transform draws its plans and applies them with augsearch's kernels."""


@_check.register(AugMix)
def _augmix(policy: AugMix) -> None:
    if policy.jsd:
        raise PolicyError("AugMix with jsd=True returns three views of each image, which a torchvision "
                          "transform cannot; export it with jsd=False", place="jsd", value=True)


@_check.register(Schedule)
def _schedule(policy: Schedule) -> None:
    raise schedule_refused(policy, "torchvision")


@_check.register(Mixup)
def _mixing(policy: Mixup) -> None:
    raise PolicyError(f"{policy.kind} mixes the images and labels of a batch; it cannot be a per-sample "
                      "torchvision transform: apply it to batches after the DataLoader", value=policy.kind)


def to_torchvision(policy: Augment) -> PolicyTransform:
    """A ``torchvision.transforms.v2.Transform`` that applies ``policy`` (see :class:`PolicyTransform`)."""
    return PolicyTransform(policy)
