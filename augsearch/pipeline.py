"""What the training loop does to each batch for a policy of any kind: the augmentation of a uint8
batch, the mixing of images and labels into soft targets, or AugMix's three views. ``augsearch
train``, ``compare`` and the proxies of trained searches all build their batches here.
"""

from __future__ import annotations

import torch

from augsearch.bases import BatchAugment
from augsearch.errors import ConfigError
from augsearch.families import AugMix
from augsearch.mixing import Mixup
from augsearch.policy import Augment, PolicyData
from augsearch.recipe import AugmentationRecipe
from augsearch.trainer import Mix, Views


def pipeline(policy: PolicyData | None, base: BatchAugment | None, *,
             num_classes: int) -> tuple[BatchAugment | None, Mix | None, Views | None]:
    """What the training loop does to each batch: (augment, mix, views) for ``policy``."""
    if policy is None:
        return base, None, None
    if isinstance(policy, AugmentationRecipe):
        if policy.num_classes not in (None, num_classes):
            raise ConfigError(f"the recipe is for {policy.num_classes} classes, the data has {num_classes}")
        def augment_recipe(batch: torch.Tensor) -> torch.Tensor:
            return policy.image(batch, default_base=base)

        def mix(batch: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return policy.batch(batch, labels, num_classes=num_classes)
        return augment_recipe, mix if policy.mixes else None, None
    if isinstance(policy, Mixup):
        if policy.num_classes != num_classes:
            raise ConfigError(f"the {policy.kind} policy is for {policy.num_classes} classes, the data has "
                              f"{num_classes}: set num_classes={num_classes}")
        return base, policy, None
    if isinstance(policy, AugMix) and policy.jsd:
        def views(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            clean = base(batch) if base is not None else batch
            return policy(clean)
        return None, None, views
    if not isinstance(policy, Augment):
        raise ConfigError(f"augsearch train cannot apply a {policy.kind} policy")

    def augment(batch: torch.Tensor) -> torch.Tensor:
        out = policy(batch)
        return base(out) if base is not None else out
    return augment, None, None
