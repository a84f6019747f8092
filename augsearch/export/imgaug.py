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

import math
from typing import Any

import numpy as np

from augsearch.conventions import Convention
from augsearch.errors import AugsearchError, PolicyError
from augsearch.export import op_pins, refuse_noise
from augsearch.families import AugMix, Cutout, RandAugment, TrivialAugment
from augsearch.mixing import Mixup
from augsearch.ops import DEFAULT_CUTOUT_FILL, Fill
from augsearch.policy import Augment, Policy

_REMOVED_ALIASES = {"bool": bool, "complex": complex}  # gone in numpy 1.24, still used by imgaug 0.4.0
_NO_EQUIVALENT = {
    "SolarizeAdd": "imgaug has no augmenter that adds a level to dark pixels only",
    "SamplePairing": "it blends two images of a batch",
}


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


def to_imgaug(policy: Augment | Mixup) -> Any:
    """imgaug augmenters that draw what ``policy`` draws, with every op's magnitude pinned."""
    if isinstance(policy, Mixup):
        raise PolicyError(f"{policy.kind} mixes the images and labels of a batch; it cannot be exported to "
                          "imgaug: apply it to batches instead", value=policy.kind)
    if isinstance(policy, AugMix):
        raise PolicyError("AugMix blends several augmented copies of an image with random weights; it cannot be "
                          "exported to imgaug", value=policy.kind)
    if not isinstance(policy, Augment):
        raise PolicyError("expected an augsearch policy", value=type(policy).__name__)
    if isinstance(policy, Cutout):
        raise PolicyError("imgaug's Cutout takes its side as a fraction of the image; a Cutout of a side in "
                          "pixels cannot be exported to imgaug", value=policy.size)
    iaa = import_imgaug()
    pins = _Pins(iaa, policy.convention, fill=policy.fill)
    if isinstance(policy, Policy):
        refuse_noise(policy.magnitude_std, policy.kind, "imgaug")
        return iaa.OneOf([iaa.Sequential([pins.op(op.name, op.magnitude, prob=op.prob) for op in sp.ops])
                          for sp in policy.sub_policies])
    if isinstance(policy, RandAugment):
        # n independent uniform choices in a row: with replacement and in draw order, as RandAugment
        # draws (iaa.SomeOf would choose without replacement)
        refuse_noise(policy.magnitude_std, policy.kind, "imgaug")
        return iaa.Sequential([iaa.OneOf([pins.op(name, policy.m, prob=policy.prob) for name in policy.ops])
                               for _ in range(policy.n)])
    if isinstance(policy, TrivialAugment):
        return iaa.OneOf([_bins(pins, name) for name in policy.ops])
    raise PolicyError("cannot be exported to imgaug", value=type(policy).__name__)


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
        self.iap = iap
        self.fill = iap.DeterministicList(list(fill))  # one value per channel; a tuple would be a range
        self.convention = convention

    def op(self, name: str, magnitude: float | None, *, prob: float) -> Any:
        """Op ``name`` at ``magnitude``, firing with ``prob``; a signed op picks +v or -v evenly;
        relative ranges stay fractions of the side, for imgaug to scale to each image."""
        op, values = op_pins(self.convention, name, magnitude, target="imgaug", refused=_NO_EQUIVALENT)
        variants = [self._pinned(op, value, relative) for value, relative in values]
        chosen = variants[0] if len(variants) == 1 else self.iaa.OneOf(variants)
        return self.iaa.Sometimes(prob, chosen)

    def _pinned(self, op: str, value: float | None, relative: bool) -> Any:
        iaa = self.iaa
        pil = iaa.pillike
        match op:
            case "Identity":
                return iaa.Identity()
            case "ShearX" | "ShearY":
                return self._shear(value, "x" if op == "ShearX" else "y")
            case "TranslateX" | "TranslateY":
                return self._translate(value, "x" if op == "TranslateX" else "y", relative=relative)
            case "Rotate":  # pillike turns the other way from augsearch for the same angle
                return pil.Affine(rotate=-value, fillcolor=self.fill, center=(0.5, 0.5))
            case "FlipLR":
                return iaa.Fliplr(1.0)
            case "FlipUD":
                return iaa.Flipud(1.0)
            case "AutoContrast":
                return pil.Autocontrast(cutoff=0)
            case "Equalize":
                return pil.Equalize()
            case "Invert":
                return iaa.Invert(1.0)
            case "Solarize":
                first = math.ceil(value)  # the darkest pixel value that is inverted
                return iaa.Identity() if first > 255 else pil.Solarize(p=1.0, threshold=max(first, 0))
            case "Posterize":
                bits = int(value)
                if bits <= 0:  # keeps no bit: black, which Posterize (1..8 bits) cannot say
                    return pil.EnhanceBrightness(factor=0.0)
                return pil.Posterize(nb_bits=min(bits, 8))
            case "Brightness":
                return pil.EnhanceBrightness(factor=value)
            case "Contrast":
                return pil.EnhanceContrast(factor=value)
            case "Color":
                return pil.EnhanceColor(factor=value)
            case "Sharpness":
                return pil.EnhanceSharpness(factor=value)
            case "Cutout":
                return self._cutout(value, relative=relative)
        raise PolicyError("cannot be exported to imgaug", value=op)

    def _shear(self, value: float, axis: str) -> Any:
        """pillike.Affine shears by ``tanh`` of its angle in radians (where PIL's factor is ``tan``),
        so the angle that gives augsearch's factor is ``atanh(factor)``; ``(0, 0)`` pivots at the corner."""
        if abs(value) >= 1:
            raise PolicyError("imgaug's PIL-like shear is tanh of an angle: it cannot reach a shear factor of 1 "
                              "or more", value=value)
        angle = -math.degrees(math.atanh(value))
        other = "y" if axis == "x" else "x"
        return self.iaa.pillike.Affine(shear={axis: angle, other: 0.0}, fillcolor=self.fill, center=(0.0, 0.0))

    def _translate(self, value: float, axis: str, *, relative: bool) -> Any:
        other = "y" if axis == "x" else "x"
        if relative:
            return self.iaa.pillike.Affine(translate_percent={axis: value, other: 0.0}, fillcolor=self.fill)
        shift = math.ceil(value - 0.5)  # the whole-pixel shift augsearch's nearest sampling makes
        return self.iaa.pillike.Affine(translate_px={axis: shift, other: 0}, fillcolor=self.fill)

    def _cutout(self, side: float, *, relative: bool) -> Any:
        """A square of ``side`` (a fraction of the image), centre uniform, clipped, in CIFAR-10's
        mean colour as augsearch's op fills it."""
        if not relative:
            raise PolicyError("imgaug's Cutout takes its side as a fraction of the image; a side in pixels "
                              "cannot be exported to imgaug", value=side)
        colour = self.iap.DeterministicList(list(DEFAULT_CUTOUT_FILL))
        return self.iaa.Cutout(nb_iterations=1, position="uniform", size=side, squared=True, fill_mode="constant",
                               cval=colour, fill_per_channel=True)
