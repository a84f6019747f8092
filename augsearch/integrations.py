"""A found policy inside other libraries' training pipelines, where they take only their own policies.

timm's ``create_transform(auto_augment=...)`` takes a timm string, not a file: :func:`timm_transform`
builds timm's training transform and puts an augsearch policy where timm puts its ``auto_augment``.
timm is imported only when it is called.
"""

from __future__ import annotations

import os
from typing import Any

from augsearch.errors import ConfigError, PolicyError
from augsearch.families import AugMix
from augsearch.policy import Augment, PolicyData
from augsearch.specs import load_policy


def timm_transform(policy: PolicyData | str | os.PathLike[str], *, force_color_jitter: bool = False,
                   **create_transform_kwargs: Any) -> Any:
    """``timm.data.create_transform(is_training=True, **create_transform_kwargs)`` with ``policy`` (a
    policy, a policy file, a bundled name or a spec) where timm puts ``auto_augment``: on the PIL image
    after the random resized crop and the flips, before colour jitter, ``ToTensor``, ``Normalize`` and
    random erasing. As with ``auto_augment``, timm's colour jitter is off unless ``force_color_jitter``
    (timm's own name for that switch). The policy keeps its own fill and interpolation (timm gives its
    policies the mean colour and the crop's interpolation).

    Returns a ``torchvision.transforms.Compose``; with ``separate=True`` timm's three stages (the
    policy first in the second), for timm's ``AugMixDataset`` and augmentation splits.
    """
    from timm.data import create_transform
    from torchvision import transforms

    augment = load_policy(policy)
    if not isinstance(augment, Augment):
        raise PolicyError(f"a {augment.kind} policy mixes a batch with its labels: apply it to batches in the "
                          "training loop, not in timm's per-image transform", value=policy)
    if isinstance(augment, AugMix) and augment.jsd:
        raise PolicyError("AugMix with jsd: true returns three views, which timm's transform cannot take: use "
                          "jsd: false, and separate=True with timm's AugMixDataset for the views", value=policy)
    kwargs = dict(create_transform_kwargs)
    for name, why in (("auto_augment", "would add timm's own policy to this one"),
                      ("no_aug", "would drop the policy with every other augmentation"),
                      ("tf_preprocessing", "has no place for a policy")):
        if kwargs.get(name):
            raise ConfigError(f"timm_transform: {name}={kwargs[name]!r} {why}; leave it out")
    if not kwargs.pop("is_training", True):
        raise ConfigError("timm_transform builds the training transform; for evaluation call "
                          "timm.data.create_transform(is_training=False, ...)")
    separate = kwargs.pop("separate", False)
    if not force_color_jitter:
        kwargs["color_jitter"] = None
    primary, secondary, final = create_transform(is_training=True, separate=True, **kwargs)
    secondary = transforms.Compose([augment, *secondary.transforms])
    if separate:
        return primary, secondary, final
    return transforms.Compose([*primary.transforms, *secondary.transforms, *final.transforms])
