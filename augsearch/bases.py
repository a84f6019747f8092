"""Base augmentations: the crop and flip that every training image gets after its policy.

They are augmentations (a recipe file names one and applies it), so they live beside the policy
kinds, below the training loop that applies them by name. Each is batched on uint8 tensors on
any device, drawing from torch's generator for the batch's device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from augsearch.errors import ConfigError
from augsearch.registry import Registry

BatchAugment = Callable[[torch.Tensor], torch.Tensor]


def random_crop_flip(*, padding: int = 4, flip: bool = True) -> BatchAugment:
    """The standard CIFAR baseline augmentation: zero-pads by ``padding``, takes a random crop of
    the original size per image, and mirrors half the images horizontally when ``flip`` (leave it
    off for digits, text and anything else that a mirror changes)."""
    if padding < 0:
        raise ConfigError(f"padding must be >= 0, got {padding}")

    def augment(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        device = images.device
        padded = F.pad(images, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
        dx = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
        rows = (dy + torch.arange(h, device=device))[:, :, None]
        cols = (dx + torch.arange(w, device=device))[:, None, :]
        batch = torch.arange(n, device=device)[:, None, None]
        out = padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        if flip:
            mirror = torch.rand(n, device=device) < 0.5
            out = torch.where(mirror[:, None, None, None], out.flip(3), out)
        return out.contiguous()

    return augment


BASES: Registry[Callable[[], BatchAugment | None]] = Registry("base augmentation")
"""The augmentation every training image gets after the policy: ``crop-flip`` (pad 4, random crop,
horizontal flip; the CIFAR default), ``crop`` (pad 4 and random crop, no flip: text, digits, any
data a mirror changes), ``flip`` (horizontal flip only), ``none``."""
BASES.register("crop-flip", lambda: random_crop_flip(padding=4, flip=True))
BASES.register("crop", lambda: random_crop_flip(padding=4, flip=False))
BASES.register("flip", lambda: random_crop_flip(padding=0, flip=True))
BASES.register("none", lambda: None)
