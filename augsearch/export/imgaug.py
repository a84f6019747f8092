"""augsearch policies as imgaug augmenters, every magnitude pinned.

Why: pipelines built on imgaug can run augsearch's policies. imgaug 0.4.0 (2020) is its last
release and needs numpy < 2, so it lives in its own environment (``pip install 'augsearch[imgaug]'``).

Each op becomes ``iaa.Sometimes(prob, ...)`` around imgaug's PIL-like augmenter with the physical
parameter pinned; a signed op is ``iaa.OneOf([+v, -v])``, the un-negated variant first. The
``pillike`` augmenters call PIL as augsearch's PIL kernels do, so every op matches augsearch pixel
for pixel (nearest sampling), with two exceptions: imgaug keeps relative translations as fractions
of the side where the AutoAugment conventions truncate them to whole pixels, and places Cutout
squares with its own rounding. Geometric ops always sample the nearest pixel, as ``pillike.Affine``
does. SolarizeAdd, SamplePairing, Cutout sides in pixels, AugMix, mixup, CutMix and magnitude noise
raise :class:`PolicyError`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from augsearch.conventions import Convention
from augsearch.errors import AugsearchError, PolicyError
from augsearch.export.pins import op_pins, refuse_noise, schedule_refused, unsupported
from augsearch.families import AugMix, Cutout, RandAugment, TrivialAugment
from augsearch.mixing import Mixup
from augsearch.ops import DEFAULT_CUTOUT_FILL, Fill
from augsearch.policy import Augment, Policy
from augsearch.schedule import Schedule

REFUSED_OPS: Mapping[str, str] = MappingProxyType({
    "SolarizeAdd": "imgaug has no augmenter that adds a level to dark pixels only",
    "SamplePairing": "it blends two images of a batch",
})
_REMOVED_ALIASES = {"bool": bool, "complex": complex}  # gone in numpy 1.24, still used by imgaug 0.4.0


def import_imgaug() -> Any:
    """``imgaug.augmenters``, with the numpy aliases imgaug 0.4.0 still uses restored (numpy 1 only)."""
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        raise AugsearchError("imgaug 0.4.0 needs numpy < 2: pip install 'augsearch[imgaug]' in its own environment")
    for name, alias in _REMOVED_ALIASES.items():
        if name not in vars(np):  # hasattr would warn: numpy 1.2x answers through __getattr__
            setattr(np, name, alias)
    try:
        import imgaug.augmenters as iaa  # noqa: PLC0415
    except ImportError as err:
        raise AugsearchError(f"imgaug is not installed ({err}): pip install 'augsearch[imgaug]'") from None
    return iaa


@functools.singledispatch
def to_imgaug(policy: object) -> Any:
    """imgaug augmenters that draw what ``policy`` draws, with every op's magnitude pinned.

    One implementation per policy kind is registered below; any other kind is refused."""
    raise unsupported(policy, "imgaug")


@to_imgaug.register(Mixup)
def _mixing(policy: Mixup) -> Any:
    raise PolicyError(f"{policy.kind} mixes the images and labels of a batch; it cannot be exported to "
                      "imgaug: apply it to batches instead", value=policy.kind)


@to_imgaug.register(AugMix)
def _augmix(policy: AugMix) -> Any:
    raise PolicyError("AugMix blends several augmented copies of an image with random weights; it cannot be "
                      "exported to imgaug", value=policy.kind)


@to_imgaug.register(Cutout)
def _cutout_family(policy: Cutout) -> Any:
    raise PolicyError("imgaug's Cutout takes its side as a fraction of the image; a Cutout of a side in "
                      "pixels cannot be exported to imgaug", value=policy.size)


@to_imgaug.register(Schedule)
def _schedule(policy: Schedule) -> Any:
    raise schedule_refused(policy, "imgaug")


@to_imgaug.register(Policy)
def _policy(policy: Policy) -> Any:
    """One sub-policy chosen uniformly, its ops in order."""
    pins = _Pins.of(policy)
    refuse_noise(policy.magnitude_std, policy.kind, "imgaug")
    return pins.iaa.OneOf([pins.iaa.Sequential([pins.op(op.name, op.magnitude, prob=op.prob) for op in sp.ops])
                           for sp in policy.sub_policies])


@to_imgaug.register(RandAugment)
def _randaugment(policy: RandAugment) -> Any:
    """``n`` independent uniform choices in a row: with replacement and in draw order, as RandAugment
    draws (``iaa.SomeOf`` would choose without replacement)."""
    pins = _Pins.of(policy)
    refuse_noise(policy.magnitude_std, policy.kind, "imgaug")
    return pins.iaa.Sequential([pins.iaa.OneOf([pins.op(name, policy.m, prob=policy.prob) for name in policy.ops])
                                for _ in range(policy.n)])


@to_imgaug.register(TrivialAugment)
def _trivialaugment(policy: TrivialAugment) -> Any:
    """A uniform op, then a uniform magnitude bin."""
    pins = _Pins.of(policy)
    return pins.iaa.OneOf([_bins(pins, name) for name in policy.ops])


def _bins(pins: _Pins, name: str) -> Any:
    """TrivialAugment's op ``name`` at a uniform magnitude bin: one pinned augmenter per bin."""
    conv = pins.convention
    if conv.entry(name).range is None:
        return pins.op(name, None, prob=1.0)
    if conv.levels is None:
        raise PolicyError(f"TrivialAugment draws magnitudes from the continuous scale of the {conv.name!r} "
                          "convention; pinned imgaug augmenters can only express a convention with integer bins",
                          value=conv.name)
    return pins.iaa.OneOf([pins.op(name, m, prob=1.0) for m in range(conv.levels)])


class _Pins:
    """Turns ops of one convention into pinned imgaug augmenters."""

    def __init__(self, iaa: Any, convention: Convention, *, fill: Fill) -> None:
        import imgaug.parameters as iap  # noqa: PLC0415  (import_imgaug has run)

        self.iaa = iaa
        self.pil = iaa.pillike
        self.iap = iap
        self.fill = iap.DeterministicList(list(fill))  # one value per channel; a tuple would be a range
        self.convention = convention

    @classmethod
    def of(cls, policy: Augment) -> _Pins:
        """``policy``'s pins; imgaug is imported here, once the kind is known to be exportable."""
        return cls(import_imgaug(), policy.convention, fill=policy.fill)

    def op(self, name: str, magnitude: float | None, *, prob: float) -> Any:
        """Op ``name`` at ``magnitude``, firing with ``prob``; a signed op picks +v or -v evenly;
        relative ranges stay fractions of the side, for imgaug to scale to each image."""
        op, values = op_pins(self.convention, name, magnitude, target="imgaug", mapped=MAPPED_OPS,
                             refused=REFUSED_OPS)
        variants = [_BUILDERS[op](self, value, relative) for value, relative in values]
        chosen = variants[0] if len(variants) == 1 else self.iaa.OneOf(variants)
        return self.iaa.Sometimes(prob, chosen)

    def rotate(self, value: float) -> Any:
        """pillike turns the other way from augsearch for the same angle."""
        return self.pil.Affine(rotate=-value, fillcolor=self.fill, center=(0.5, 0.5))

    def shear(self, value: float, axis: str) -> Any:
        """pillike.Affine shears by ``tanh`` of its angle in radians (where PIL's factor is ``tan``),
        so the angle that gives augsearch's factor is ``atanh(factor)``; ``(0, 0)`` pivots at the corner."""
        if abs(value) >= 1:
            raise PolicyError("imgaug's PIL-like shear is tanh of an angle: it cannot reach a shear factor of 1 "
                              "or more", value=value)
        angle = -math.degrees(math.atanh(value))
        other = "y" if axis == "x" else "x"
        return self.pil.Affine(shear={axis: angle, other: 0.0}, fillcolor=self.fill, center=(0.0, 0.0))

    def translate(self, value: float, axis: str, *, relative: bool) -> Any:
        other = "y" if axis == "x" else "x"
        if relative:
            return self.pil.Affine(translate_percent={axis: value, other: 0.0}, fillcolor=self.fill)
        shift = math.ceil(value - 0.5)  # the whole-pixel shift augsearch's nearest sampling makes
        return self.pil.Affine(translate_px={axis: shift, other: 0}, fillcolor=self.fill)

    def solarize(self, threshold: float) -> Any:
        first = math.ceil(threshold)  # the darkest pixel value that is inverted
        return self.iaa.Identity() if first > 255 else self.pil.Solarize(p=1.0, threshold=max(first, 0))

    def posterize(self, value: float) -> Any:
        bits = int(value)
        if bits <= 0:  # keeps no bit: black, which Posterize (1..8 bits) cannot say
            return self.pil.EnhanceBrightness(factor=0.0)
        return self.pil.Posterize(nb_bits=min(bits, 8))

    def cutout(self, side: float, *, relative: bool) -> Any:
        """A square of ``side`` (a fraction of the image), centre uniform, clipped, in CIFAR-10's
        mean colour as augsearch's op fills it."""
        if not relative:
            raise PolicyError("imgaug's Cutout takes its side as a fraction of the image; a side in pixels "
                              "cannot be exported to imgaug", value=side)
        colour = self.iap.DeterministicList(list(DEFAULT_CUTOUT_FILL))
        return self.iaa.Cutout(nb_iterations=1, position="uniform", size=side, squared=True, fill_mode="constant",
                               cval=colour, fill_per_channel=True)


Builder = Callable[[_Pins, float | None, bool], Any]  # (pins, pinned value, whether it is a fraction)

# augsearch's op -> imgaug's augmenter for one pinned value; the ops with no equivalent are REFUSED_OPS
_BUILDERS: dict[str, Builder] = {
    "Identity": lambda pins, value, relative: pins.iaa.Identity(),
    "ShearX": lambda pins, value, relative: pins.shear(value, "x"),
    "ShearY": lambda pins, value, relative: pins.shear(value, "y"),
    "TranslateX": lambda pins, value, relative: pins.translate(value, "x", relative=relative),
    "TranslateY": lambda pins, value, relative: pins.translate(value, "y", relative=relative),
    "Rotate": lambda pins, value, relative: pins.rotate(value),
    "FlipLR": lambda pins, value, relative: pins.iaa.Fliplr(1.0),
    "FlipUD": lambda pins, value, relative: pins.iaa.Flipud(1.0),
    "AutoContrast": lambda pins, value, relative: pins.pil.Autocontrast(cutoff=0),
    "Equalize": lambda pins, value, relative: pins.pil.Equalize(),
    "Invert": lambda pins, value, relative: pins.iaa.Invert(1.0),
    "Solarize": lambda pins, value, relative: pins.solarize(value),
    "Posterize": lambda pins, value, relative: pins.posterize(value),
    "Brightness": lambda pins, value, relative: pins.pil.EnhanceBrightness(factor=value),
    "Contrast": lambda pins, value, relative: pins.pil.EnhanceContrast(factor=value),
    "Color": lambda pins, value, relative: pins.pil.EnhanceColor(factor=value),
    "Sharpness": lambda pins, value, relative: pins.pil.EnhanceSharpness(factor=value),
    "Cutout": lambda pins, value, relative: pins.cutout(value, relative=relative),
}
MAPPED_OPS: frozenset[str] = frozenset(_BUILDERS)
