"""augsearch policies as torchvision ``transforms.v2`` transforms.

Why: every per-image policy already is a ``v2.Transform``; ``to_torchvision`` gives the same
behaviour behind the exporters' interface (a table of mapped ops, refusals of what a per-sample
transform cannot be). The output is exactly the policy's: PIL images, plain tensors,
``tv_tensors.Image`` and ``Video`` (uint8, or float in [0, 1]) are augmented with augsearch's
kernels; ``BoundingBoxes``, ``Mask`` and ``KeyPoints`` move exactly as the image did, or the
call refuses them with a one-line error (AugMix with geometric ops); labels and everything else
pass through untouched. See :mod:`augsearch.tvsample`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torchvision.transforms import v2

from augsearch.errors import PolicyError
from augsearch.export.pins import schedule_refused, unsupported
from augsearch.families import AugMix
from augsearch.mixing import Mixup
from augsearch.ops import OPS
from augsearch.policy import Augment
from augsearch.schedule import Schedule

# The transform applies augsearch's own kernels, so every op maps to itself and none is refused.
MAPPED_OPS: frozenset[str] = frozenset(OPS)
REFUSED_OPS: Mapping[str, str] = MappingProxyType({})


class PolicyTransform(v2.Transform):
    """Applies an augsearch policy to a sample, as the policy itself does when called.

    One plan is drawn per call, so every image of one sample gets the same ops (as torchvision
    transforms share their parameters across a sample) and its boxes, masks and keypoints follow
    them; a batch ``(N, C, H, W)`` gets one plan per image, as augsearch applies batches. Plans
    come from torch's default generator, which ``DataLoader`` seeds per worker.
    """

    _transformed_types = Augment._transformed_types

    def __init__(self, policy: Augment) -> None:
        super().__init__()
        _check(policy)
        self.policy = policy

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return self.policy.make_params(flat_inputs)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self.policy.transform(inpt, params)


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
