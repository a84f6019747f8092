"""A whole augmentation recipe as one policy file (``kind: recipe``): what each image gets (a
per-image policy, the base crop/flip, Cutout) and what each batch gets (mixup/CutMix, label
smoothing), so a search over mixing and erasing has one result to save, train with and show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

import augsearch.families  # noqa: F401  (the per-image kinds a recipe may name register themselves)
from augsearch.bases import BASES
from augsearch.draws import MAX_ALPHA
from augsearch.errors import PolicyError
from augsearch.families import AugMix, Cutout
from augsearch.formats import FORMAT_VERSION
from augsearch.mixing import MAX_CLASSES, MODES, Mixup, soft_targets
from augsearch.plans import check_image, is_batch
from augsearch.policy import Augment, PolicyData, build_config

MIX_FIELDS = {"alpha": 0.0, "cutmix_alpha": 0.0, "prob": 1.0, "switch_prob": 0.5, "mode": "batch"}
CUTOUT_FIELDS = ("size", "holes")


class AugmentationRecipe(PolicyData):
    """Per image: ``policy`` (any per-image kind), then ``base`` (``crop-flip``, ``flip`` or
    ``none``; ``None`` leaves it to the trainer), then Cutout (``cutout: {size, holes}``).
    Per batch: mixup/CutMix (``mix``: ``alpha``, ``cutmix_alpha``, ``prob``, ``switch_prob``,
    ``mode``) and ``label_smoothing``. :meth:`image` is for datasets, :meth:`batch` for the
    training step."""

    kind: ClassVar[str] = "recipe"

    def __init__(self, *, policy: Mapping[str, Any] | Augment | None = None, base: str | None = None,
                 cutout: Mapping[str, Any] | None = None, mix: Mapping[str, Any] | None = None,
                 label_smoothing: float = 0.0, num_classes: int | None = None) -> None:
        self.policy = _per_image(policy)
        if base is not None and base not in BASES:
            raise PolicyError(f"base must be one of {', '.join(BASES.names())} or null", place="base", value=base)
        self.base = base
        self._base_fn = None if base is None else BASES.get(base)()
        self.cutout = None if cutout is None else _cutout(cutout)
        self.mix = None if mix is None else _mix(mix)
        if (isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float))
                or not 0 <= label_smoothing < 1):
            raise PolicyError("label_smoothing must be a number in [0, 1)", place="label_smoothing",
                              value=label_smoothing)
        self.label_smoothing = float(label_smoothing)
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or not 2 <= num_classes <= MAX_CLASSES):
            raise PolicyError(f"num_classes must be an integer in [2, {MAX_CLASSES:,}] or null", place="num_classes",
                              value=num_classes)
        self.num_classes = num_classes

    # -- per image
    def image(self, image: Image.Image | torch.Tensor, *, generator: torch.Generator | None = None,
              default_base: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """Augment one image (PIL or uint8 tensor) or a uint8 batch: policy, base, Cutout.
        ``default_base`` (a batched augmentation) stands in when the recipe names no base."""
        check_image(image)
        out = image if self.policy is None else self.policy(image, generator=generator)
        base = self._base_fn if self.base is not None else default_base
        if base is not None:
            out = _on_batch(out, base, generator)
        if self.cutout is not None:
            out = self.cutout(out, generator=generator)
        return out

    __call__ = image

    # -- per batch
    def batch(self, images: torch.Tensor, labels: torch.Tensor, *, num_classes: int | None = None,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix a batch and return ``(images, soft targets)`` with the recipe's label smoothing."""
        classes = num_classes or self.num_classes
        if classes is None:
            raise PolicyError("the recipe needs the number of classes: pass num_classes=", place="num_classes")
        mixer = self.mixer(classes)
        if mixer is not None:
            return mixer(images, labels, generator=generator)
        return images, soft_targets(labels.to(images.device), classes, self.label_smoothing)

    def mixer(self, num_classes: int) -> Mixup | None:
        """The recipe's mixup/CutMix for ``num_classes`` classes, or ``None`` when it mixes nothing."""
        if not self._mixing:
            return None
        return Mixup(self.mix["alpha"], cutmix_alpha=self.mix["cutmix_alpha"], num_classes=num_classes,
                     prob=self.mix["prob"], switch_prob=self.mix["switch_prob"], mode=self.mix["mode"],
                     label_smoothing=self.label_smoothing)

    @property
    def mixes(self) -> bool:
        """Whether :meth:`batch` changes anything (mixing or label smoothing)."""
        return self.label_smoothing > 0 or self._mixing

    @property
    def _mixing(self) -> bool:
        return self.mix is not None and (self.mix["alpha"] > 0 or self.mix["cutmix_alpha"] > 0)

    # -- per epoch: a schedule inside the recipe
    def set_epoch(self, epoch: int) -> None:
        """Select the phase of the recipe's schedule in force at ``epoch`` (the trainer calls it)."""
        if hasattr(self.policy, "set_epoch"):
            self.policy.set_epoch(epoch)

    def stretch(self, epochs: int) -> AugmentationRecipe:
        """This recipe for a training of ``epochs`` epochs: its schedule stretched to them."""
        if not hasattr(self.policy, "stretch"):
            return self
        return build_config({**self.to_config(), "policy": self.policy.stretch(epochs).to_config()})

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"augsearch": FORMAT_VERSION, "kind": self.kind}
        config["policy"] = None if self.policy is None else self.policy.to_config()
        config |= {"base": self.base, "cutout": self.cutout and {"size": self.cutout.size, "holes": self.cutout.holes},
                   "mix": self.mix, "label_smoothing": self.label_smoothing}
        return config | ({"num_classes": self.num_classes} if self.num_classes is not None else {})

    def __repr__(self) -> str:
        parts = [f"policy={self.policy!r}"] if self.policy is not None else []
        parts += [f"base={self.base!r}"] if self.base is not None else []
        parts += [f"cutout={self.cutout.size}x{self.cutout.holes}"] if self.cutout is not None else []
        parts += [f"mix={self.mix}"] if self.mix is not None else []
        parts += [f"label_smoothing={self.label_smoothing:g}"] if self.label_smoothing else []
        return f"AugmentationRecipe({', '.join(parts)})"


def _per_image(policy: Mapping[str, Any] | Augment | None) -> Augment | None:
    if policy is None or isinstance(policy, Augment):
        built = policy
    elif isinstance(policy, Mapping):
        try:
            built = build_config({"augsearch": FORMAT_VERSION, **policy})
        except PolicyError as err:
            raise err.located(place_prefix="policy") from None
    else:
        raise PolicyError("policy must be a per-image policy mapping or null", place="policy", value=policy)
    if built is not None and not isinstance(built, Augment):
        raise PolicyError(f"a recipe's policy must be a per-image kind, not {built.kind!r}", place="policy.kind",
                          value=built.kind)
    if isinstance(built, AugMix) and built.jsd:
        raise PolicyError("a recipe cannot hold AugMix with jsd: true (train with the augmix policy itself)",
                          place="policy.jsd", value=True)
    return built


def _fields(value: Any, place: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{place} must be a mapping of {', '.join(allowed)}", place=place, value=value)
    for key in value:
        if key not in allowed:
            raise PolicyError(f"unknown field; allowed: {', '.join(allowed)}", place=f"{place}.{key}")
    return dict(value)


def _cutout(value: Any) -> Cutout:
    fields = _fields(value, "cutout", CUTOUT_FIELDS)
    try:
        return Cutout(**fields)
    except PolicyError as err:
        raise err.located(place_prefix="cutout") from None


def _mix(value: Any) -> dict[str, Any]:
    mix = MIX_FIELDS | _fields(value, "mix", tuple(MIX_FIELDS))
    for key in ("alpha", "cutmix_alpha", "prob", "switch_prob"):
        v = mix[key]
        high = 1.0 if key in ("prob", "switch_prob") else MAX_ALPHA
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= high:
            raise PolicyError(f"must be a number in [0, {high:g}]", place=f"mix.{key}", value=v)
        mix[key] = float(v)
    if mix["mode"] not in MODES:
        raise PolicyError(f"mode must be one of {', '.join(MODES)}", place="mix.mode", value=mix["mode"])
    return mix


def _on_batch(image: Image.Image | torch.Tensor, fn: Any, generator: torch.Generator | None):
    """Run a batched base augmentation on one image or a batch, keeping the input's type.
    The base draws from torch's global generator unless ``generator`` seeds a private stream."""
    if isinstance(image, Image.Image):
        array = np.asarray(image)
        tensor = torch.from_numpy(array.copy()).reshape(array.shape[0], array.shape[1], -1).permute(2, 0, 1)
        out = _seeded(fn, tensor[None], generator)[0].permute(1, 2, 0).numpy()
        return Image.fromarray(out[..., 0] if array.ndim == 2 else out, mode=image.mode)
    if is_batch(image):
        return _seeded(fn, image, generator)
    return _seeded(fn, image[None], generator)[0]


def _seeded(fn: Any, batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return fn(batch)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[batch.device] if batch.device.type == "cuda" else []):
        torch.manual_seed(seed)
        return fn(batch)
