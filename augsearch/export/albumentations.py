"""augsearch policies as albumentations pipelines, every magnitude pinned.

Why: a policy found with augsearch can then run where only albumentations is spoken, and be
saved with ``A.save`` and loaded without augsearch. Each op becomes albumentations' own
transform with its physical parameter pinned (a range ``(v, v)``) and ``p`` the op's
probability; a signed op becomes ``OneOf([+v, -v])``, the un-negated variant first.

What is exact (pixel for pixel on 3-channel uint8 images) and what only approximates augsearch;
the README's table has the measured agreement:

* exact: Identity, Invert, FlipLR/UD, Posterize, Solarize, Brightness, whole-pixel translations
  (absolute ranges, and relative ranges that truncate to pixels as albumentations'
  ``int(fraction * side)`` does, like the AutoAugment conventions), the Cutout family's squares;
* off by a grey level or two: AutoContrast (albumentations rounds its lookup table, PIL truncates),
  Contrast and Color (OpenCV's grey vs PIL's);
* close: Rotate (same centre and sign; OpenCV's nearest sampling breaks a few ties the other way),
  Sharpness above 1 (PIL's 3x3 kernel exactly, but OpenCV also filters the one-pixel border PIL
  leaves alone);
* approximate: Equalize (albumentations' PIL mode counts each bin into its own lookup entry, PIL
  only the bins below it); Shear, which albumentations pivots about the centre where augsearch
  pivots about the top-left corner: a translation moves the pivot back, but albumentations
  truncates it to whole pixels, and it assumes images of height/width ``aspect``; Sharpness below
  1 (a blend with PIL's smoothing filter), a Gaussian blur of the same variance instead;
  fractional translations and relative Cutout sides, truncated where augsearch rounds; Cutout
  squares lie fully inside the image, where augsearch centres them anywhere and clips them.

SolarizeAdd and SamplePairing have no albumentations counterpart; AugMix, mixup and CutMix are no
per-image pipeline of transforms; magnitude noise cannot be pinned: they raise :class:`PolicyError`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations must not call home on import

import albumentations as A  # noqa: E402, N812
import cv2  # noqa: E402
from albumentations.core.transforms_interface import BasicTransform  # noqa: E402

from augsearch.conventions import Convention  # noqa: E402
from augsearch.errors import PolicyError  # noqa: E402
from augsearch.export.pins import op_pins, refuse_noise, schedule_refused, unsupported  # noqa: E402
from augsearch.families import AugMix, Cutout, RandAugment, TrivialAugment  # noqa: E402
from augsearch.mixing import Mixup  # noqa: E402
from augsearch.ops import DEFAULT_CUTOUT_FILL, Fill, Interpolation  # noqa: E402
from augsearch.policy import Augment, Policy, PolicyData  # noqa: E402
from augsearch.schedule import Schedule  # noqa: E402

Transform = BasicTransform | A.BaseCompose

REFUSED_OPS: Mapping[str, str] = MappingProxyType({
    "SolarizeAdd": "albumentations has no transform that adds a level to dark pixels only",
    "SamplePairing": "it blends two images of a batch, and albumentations augments one image at a time",
})
_CV2_INTERPOLATION = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}
_SHARPEN_MAX = 14.0  # Sharpen's alpha = (factor - 1) / 13 must stay within [0, 1]


def to_albumentations(policy: PolicyData, *, aspect: float = 1.0) -> A.Compose:
    """An ``A.Compose`` that draws what ``policy`` draws, with every op's magnitude pinned.

    ``aspect`` is the height/width of the images the pipeline will see; only the translation
    that moves albumentations' shear pivot to augsearch's corner depends on it.
    """
    return A.Compose([_transform(policy, aspect)], p=1.0)


@functools.singledispatch
def _transform(policy: object, aspect: float) -> Transform:
    """The transform of ``policy``'s kind; a kind not registered below cannot be exported."""
    raise unsupported(policy, "albumentations")


@_transform.register(Mixup)
def _mixing(policy: Mixup, aspect: float) -> Transform:
    raise PolicyError(f"{policy.kind} mixes the images and labels of a batch; it cannot be exported to "
                      "albumentations, which augments one image at a time: apply it to batches instead",
                      value=policy.kind)


@_transform.register(AugMix)
def _augmix(policy: AugMix, aspect: float) -> Transform:
    raise PolicyError("AugMix blends several augmented copies of an image with random weights; it cannot be "
                      "exported to albumentations, which has no such composition", value=policy.kind)


@_transform.register(Schedule)
def _schedule(policy: Schedule, aspect: float) -> Transform:
    raise schedule_refused(policy, "albumentations")


@_transform.register(Policy)
def _policy(policy: Policy, aspect: float) -> Transform:
    """One sub-policy chosen uniformly (``OneOf`` weighs its children by their equal ``p``)."""
    pins = _Pins.of(policy, aspect)
    refuse_noise(policy.magnitude_std, policy.kind, "albumentations")
    subs = [A.Sequential([pins.op(op.name, op.magnitude, prob=op.prob) for op in sp.ops], p=1.0)
            for sp in policy.sub_policies]
    return A.OneOf(subs, p=1.0)


@_transform.register(RandAugment)
def _randaugment(policy: RandAugment, aspect: float) -> Transform:
    """``RandomOrder`` with replacement keeps the draw order, as RandAugment applies its ``n`` ops
    (``SomeOf`` would sort them into list order)."""
    pins = _Pins.of(policy, aspect)
    refuse_noise(policy.magnitude_std, policy.kind, "albumentations")
    ops = [pins.op(name, policy.m, prob=policy.prob) for name in policy.ops]
    return A.RandomOrder(ops, n=policy.n, replace=True, p=1.0)


@_transform.register(TrivialAugment)
def _trivialaugment(policy: TrivialAugment, aspect: float) -> Transform:
    """A uniform op, then a uniform magnitude bin: one pinned transform per bin."""
    pins = _Pins.of(policy, aspect)
    conv = policy.convention
    if conv.levels is None:
        raise PolicyError(f"TrivialAugment draws magnitudes from the continuous scale of the {conv.name!r} "
                          "convention; pinned albumentations transforms can only express a convention with "
                          "integer bins", value=conv.name)
    choices = []
    for name in policy.ops:
        if conv.entry(name).range is None:
            choices.append(pins.op(name, None, prob=1.0))
        else:
            choices.append(A.OneOf([pins.op(name, m, prob=1.0) for m in range(conv.levels)], p=1.0))
    return A.OneOf(choices, p=1.0)


@_transform.register(Cutout)
def _cutout_family(policy: Cutout, aspect: float) -> Transform:
    """``holes`` squares of ``size`` pixels in the family's own colour."""
    pins = _Pins.of(policy, aspect)
    return A.CoarseDropout(num_holes_range=(policy.holes, policy.holes),
                           hole_height_range=(policy.size, policy.size),
                           hole_width_range=(policy.size, policy.size), fill=pins.fill, p=1.0)


def _colour(fill: Fill) -> tuple[float, ...]:
    return tuple(float(v) for v in fill)


class _Pins:
    """Turns ops of one convention into pinned albumentations transforms."""

    def __init__(self, convention: Convention, *, fill: Fill, interpolation: Interpolation, aspect: float) -> None:
        self.convention = convention
        self.fill = _colour(fill)
        self.interpolation = _CV2_INTERPOLATION[interpolation]
        self.aspect = aspect

    @classmethod
    def of(cls, policy: Augment, aspect: float) -> _Pins:
        """``policy``'s pins; ``aspect`` is checked here, once the kind is known to be exportable."""
        if isinstance(aspect, bool) or not isinstance(aspect, (int, float)) or not aspect > 0:
            raise PolicyError("aspect (height / width) must be a number above 0", place="aspect", value=aspect)
        return cls(policy.convention, fill=policy.fill, interpolation=policy.interpolation, aspect=float(aspect))

    def op(self, name: str, magnitude: float | None, *, prob: float) -> Transform:
        """Op ``name`` at ``magnitude``, firing with ``prob``; a signed op picks +v or -v evenly;
        relative ranges stay fractions of the side, for albumentations to scale to each image (and
        truncate to pixels)."""
        op, values = op_pins(self.convention, name, magnitude, target="albumentations", mapped=MAPPED_OPS,
                             refused=REFUSED_OPS)
        variants = [_BUILDERS[op](self, value, relative) for value, relative in values]
        if len(variants) == 1:
            variants[0].p = prob
            return variants[0]
        return A.OneOf(variants, p=prob)

    def affine(self, **kwargs) -> Transform:
        return A.Affine(interpolation=self.interpolation, fill=self.fill, border_mode=cv2.BORDER_CONSTANT,
                        p=1.0, **kwargs)

    def shear(self, value: float, axis: str) -> Transform:
        """albumentations shears by an angle (``tan(angle)`` is augsearch's factor) about the centre;
        moving the result by ``-factor * other side / 2`` pivots it about the top-left corner."""
        other = "y" if axis == "x" else "x"
        angle = math.degrees(math.atan(value))
        shift = -value / 2 * (self.aspect if axis == "x" else 1 / self.aspect)
        return self.affine(shear={axis: (angle, angle), other: (0.0, 0.0)},
                           translate_percent={axis: (shift, shift), other: (0.0, 0.0)})

    def translate(self, value: float, axis: str, *, relative: bool) -> Transform:
        other = "y" if axis == "x" else "x"
        if relative:
            return self.affine(translate_percent={axis: (value, value), other: (0.0, 0.0)})
        shift = math.ceil(value - 0.5)  # the whole-pixel shift augsearch's nearest sampling makes
        return self.affine(translate_px={axis: (shift, shift), other: (0, 0)})


def _solarize(threshold: float) -> Transform:
    """augsearch inverts pixels ``>= threshold``; albumentations those ``>= fraction * 255``."""
    first = math.ceil(threshold)  # the darkest pixel value that is inverted
    if first > 255:
        return A.NoOp(p=1.0)
    fraction = max(first - 0.5, 0.0) / 255
    return A.Solarize(threshold_range=(fraction, fraction), p=1.0)


def _posterize(value: float) -> Transform:
    bits = int(value)
    if bits >= 8:
        return A.NoOp(p=1.0)
    if bits <= 0:  # keeps no bit: black, which Posterize (1..7 bits) cannot say
        return _jitter(brightness=0.0)
    return A.Posterize(num_bits=bits, p=1.0)


def _jitter(*, brightness: float = 1.0, contrast: float = 1.0, saturation: float = 1.0) -> Transform:
    """ColorJitter with one factor pinned: the others are 1 (and hue 0), which it skips."""
    return A.ColorJitter(brightness=(brightness, brightness), contrast=(contrast, contrast),
                         saturation=(saturation, saturation), hue=(0.0, 0.0), p=1.0)


def _sharpness(factor: float) -> Transform:
    """PIL blends with the smoothing kernel ``[[1,1,1],[1,5,1],[1,1,1]] / 13``. Above 1 that is
    Sharpen's kernel with ``alpha = (f - 1) / 13``, ``lightness = 1``; below 1 a Gaussian blur with
    the blend's variance along each axis, ``(1 - f) * 6 / 13``, stands in for it."""
    if factor == 1.0:
        return A.NoOp(p=1.0)
    if factor > 1.0:
        if factor > _SHARPEN_MAX:
            raise PolicyError(f"Sharpness above {_SHARPEN_MAX:g} cannot be exported to albumentations", value=factor)
        alpha = (factor - 1.0) / 13.0
        return A.Sharpen(alpha=(alpha, alpha), lightness=(1.0, 1.0), method="kernel", p=1.0)
    variance = (1.0 - factor) * 6.0 / 13.0
    weight = variance / (2.0 * (1.0 - variance))  # the 3-tap Gaussian [w, 1, w] / (1 + 2w) of that variance
    sigma = math.sqrt(-1.0 / (2.0 * math.log(weight)))
    return A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(sigma, sigma), p=1.0)


def _cutout(side: float, *, relative: bool) -> Transform:
    """Policies fill Cutout with CIFAR-10's mean colour, as augsearch's op does."""
    if side <= 0:
        return A.NoOp(p=1.0)
    sides = (side, side) if relative else (round(side), round(side))
    return A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=sides, hole_width_range=sides,
                           fill=_colour(DEFAULT_CUTOUT_FILL), p=1.0)


Builder = Callable[[_Pins, float | None, bool], Transform]  # (pins, pinned value, whether it is a fraction)

# augsearch's op -> albumentations' transform for one pinned value; the ops with no equivalent are REFUSED_OPS
_BUILDERS: dict[str, Builder] = {
    "Identity": lambda pins, value, relative: A.NoOp(p=1.0),
    "ShearX": lambda pins, value, relative: pins.shear(value, "x"),
    "ShearY": lambda pins, value, relative: pins.shear(value, "y"),
    "TranslateX": lambda pins, value, relative: pins.translate(value, "x", relative=relative),
    "TranslateY": lambda pins, value, relative: pins.translate(value, "y", relative=relative),
    "Rotate": lambda pins, value, relative: pins.affine(rotate=(value, value)),
    "FlipLR": lambda pins, value, relative: A.HorizontalFlip(p=1.0),
    "FlipUD": lambda pins, value, relative: A.VerticalFlip(p=1.0),
    "AutoContrast": lambda pins, value, relative: A.AutoContrast(cutoff=0, method="pil", p=1.0),
    "Equalize": lambda pins, value, relative: A.Equalize(mode="pil", by_channels=True, p=1.0),
    "Invert": lambda pins, value, relative: A.InvertImg(p=1.0),
    "Solarize": lambda pins, value, relative: _solarize(value),
    "Posterize": lambda pins, value, relative: _posterize(value),
    "Brightness": lambda pins, value, relative: _jitter(brightness=value),
    "Contrast": lambda pins, value, relative: _jitter(contrast=value),
    "Color": lambda pins, value, relative: _jitter(saturation=value),
    "Sharpness": lambda pins, value, relative: _sharpness(value),
    "Cutout": lambda pins, value, relative: _cutout(value, relative=relative),
}
MAPPED_OPS: frozenset[str] = frozenset(_BUILDERS)
