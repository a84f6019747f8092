"""Magnitude conventions: how each published method maps a stored magnitude to an op's parameter.

A convention is only data: a magnitude scale (integer bins or a continuous interval) and, per
op name, a :class:`Range`. The published policies are meaningful only in their own convention,
so every policy names one. Facts and sources are in the README's "Conventions" section.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch

from augsearch.errors import PolicyError
from augsearch.ops import OPS, OpDef, rounded
from augsearch.registry import Registry


@dataclass(frozen=True)
class Range:
    """Linear map from a magnitude fraction ``t`` in [0, 1] to the op's parameter.

    ``value = low + t * (high - low)``; ``relative`` ranges are fractions of the image side
    (width for X ops and Cutout, height for Y ops); ``rounding`` is applied next; ``signed``
    ranges are then mirrored around the op's identity value with probability 1/2.
    """

    low: float
    high: float
    signed: bool = False
    relative: bool = False
    rounding: str | None = None


@dataclass(frozen=True)
class Entry:
    """An op as a convention names it (timm, e.g., has three ranges for Posterize)."""

    op: str
    range: Range | None

    @property
    def opdef(self) -> OpDef:
        return OPS[self.op]


@dataclass(frozen=True)
class Convention:
    """A magnitude scale plus the ranges of the ops it knows."""

    name: str
    description: str
    levels: int | None  # integer bins 0..levels-1, or None for a continuous scale
    max_magnitude: float
    entries: dict[str, Entry] = field(repr=False)

    def entry(self, name: str) -> Entry:
        try:
            return self.entries[name]
        except KeyError:
            raise PolicyError(f"op is not part of the {self.name!r} convention; it knows: "
                              f"{', '.join(self.entries)}", value=name) from None

    def scaled(self, strengths: Mapping[str, float]) -> Convention:
        """This convention with the range of each op in ``strengths`` cut to its first ``strength``
        (in (0, 1]): the op's strongest value becomes ``low + strength * (high - low)``, and the
        magnitude scale spreads over the shorter range. The name stays: a policy file stores the
        convention's name and the strengths, and rebuilds this from them."""
        entries = dict(self.entries)
        for name, strength in strengths.items():
            entry = self.entry(name)
            if entry.range is None:
                raise PolicyError(f"{name} takes no magnitude, so it has no strength to set", value=name)
            if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
                raise PolicyError(f"the strength of {name} must be a number in (0, 1]", value=strength)
            r = entry.range
            entries[name] = Entry(entry.op, dataclasses.replace(r, high=r.low + strength * (r.high - r.low)))
        return dataclasses.replace(self, entries=entries)

    def check_magnitude(self, name: str, magnitude: float | None) -> float | None:
        """The magnitude, validated for op ``name``; ``None`` for ops without one."""
        entry = self.entry(name)
        if entry.range is None:  # a number is ignored (timm's policies carry one), anything else is a mistake
            if magnitude is not None and (isinstance(magnitude, bool) or not isinstance(magnitude, (int, float))):
                raise PolicyError(f"{name} takes no magnitude: null, or a number that is ignored", value=magnitude)
            return None
        if magnitude is None or isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)):
            raise PolicyError(f"{name} needs a numeric magnitude", value=magnitude)
        if not 0 <= magnitude <= self.max_magnitude:  # first: int() of nan or inf would raise
            raise PolicyError(f"magnitude outside 0..{self.max_magnitude:g} of the {self.name!r} convention",
                              value=magnitude)
        if self.levels is not None and float(magnitude) != int(magnitude):
            raise PolicyError(f"magnitude must be an integer bin 0..{self.levels - 1} in the {self.name!r} convention",
                              value=magnitude)
        return int(magnitude) if self.levels is not None else float(magnitude)

    def value(self, name: str, magnitude: float | None, *, size: tuple[int, int],
              negate: bool = False) -> float | None:
        """The op's physical parameter for ``magnitude`` on an image of ``size`` (width, height)."""
        entry = self.entry(name)
        r = entry.range
        if r is None or magnitude is None:
            return None
        side = (size[1] if entry.opdef.axis == "y" else size[0]) if r.relative else 1
        if self.levels is not None and 0 <= magnitude < self.levels:
            # torchvision's bins, bit for bit: a float32 linspace of the offset from the identity, negated
            # before rounding (its int() of 15.999999 px at TrivialAugment's bin 15 is 15, not 16)
            base = entry.opdef.identity if r.signed else 0.0
            offset = float(torch.linspace((r.low - base) * side, (r.high - base) * side, self.levels)[int(magnitude)])
            return entry.opdef.clamp(rounded(base + (-offset if r.signed and negate else offset), r.rounding))
        t = magnitude / self.max_magnitude
        v = (r.low + t * (r.high - r.low)) * side
        v = rounded(v, r.rounding)
        if r.signed and negate:
            v = 2 * entry.opdef.identity - v
        return entry.opdef.clamp(v)

    def values(self, name: str, magnitudes: torch.Tensor, *, size: tuple[int, int],
               negate: torch.Tensor) -> torch.Tensor:
        """:meth:`value` for many magnitudes at once, element for element the same float64 arithmetic
        (0 for an op without a parameter): batched plan draws compute their parameters with it."""
        entry = self.entry(name)
        r = entry.range
        m = magnitudes.to(torch.float64)
        if r is None:
            return torch.zeros_like(m)
        side = (size[1] if entry.opdef.axis == "y" else size[0]) if r.relative else 1
        flip = negate.to(device=m.device, dtype=torch.bool) & r.signed
        t = m / self.max_magnitude
        v = rounded((r.low + t * (r.high - r.low)) * side, r.rounding)
        if r.signed:
            v = torch.where(flip, 2 * entry.opdef.identity - v, v)
        if self.levels is not None:  # bins as value() takes them: torchvision's float32 linspace
            base = entry.opdef.identity if r.signed else 0.0
            bins = torch.linspace((r.low - base) * side, (r.high - base) * side, self.levels).to(
                device=m.device, dtype=torch.float64)
            binned = (m >= 0) & (m < self.levels)
            offset = bins[m.nan_to_num(0.0).clamp(0, self.levels - 1).long()]
            v = torch.where(binned, rounded(base + torch.where(flip, -offset, offset), r.rounding), v)
        if entry.opdef.domain is None:
            return v
        low, high = entry.opdef.domain
        return v.clamp(min=low, max=high)

    def fraction(self, name: str, magnitude: float | None, *, negate: bool = False) -> float | None:
        """A relative range's value for ``magnitude`` as a fraction of the image side, neither scaled nor
        rounded: :meth:`value` before it multiplies in the side (for exporters whose library scales
        fractions to each image). It stays in float64 on binned scales too, where :meth:`value` takes
        torchvision's float32 linspace of the range already scaled to the side."""
        entry = self.entry(name)
        r = entry.range
        if r is None or magnitude is None:
            return None
        if not r.relative:
            raise PolicyError(f"{name} has no range relative to the image side in the {self.name!r} convention",
                              value=name)
        v = r.low + magnitude / self.max_magnitude * (r.high - r.low)
        return 2 * entry.opdef.identity - v if r.signed and negate else v

    def range_text(self, name: str) -> str:
        """The range as a person reads it, for ``augsearch ops``."""
        r = self.entry(name).range
        if r is None:
            return "-"
        unit = " x side" if r.relative else ""
        return f"{r.low:.3g}..{r.high:.3g}{unit}{' +/-' if r.signed else ''}"


def _make(name: str, description: str, *, levels: int | None, max_magnitude: float,
          ranges: dict[str, Range | None], aliases: dict[str, str] | None = None) -> Convention:
    aliases = aliases or {}
    entries = {key: Entry(aliases.get(key, key), rng) for key, rng in ranges.items()}
    for key, entry in entries.items():
        if entry.op not in OPS or (entry.range is None) == OPS[entry.op].has_magnitude:
            raise RuntimeError(f"convention {name}: bad entry {key}")  # a bug in this table, not user input
    return Convention(name, description, levels, max_magnitude, entries)


def _shared(names: Iterable[str]) -> dict[str, None]:
    return {n: None for n in names}


_GEOM_AA = {
    "ShearX": Range(0.0, 0.3, signed=True), "ShearY": Range(0.0, 0.3, signed=True),
    "TranslateX": Range(0.0, 150 / 331, signed=True, relative=True, rounding="trunc"),
    "TranslateY": Range(0.0, 150 / 331, signed=True, relative=True, rounding="trunc"),
    "Rotate": Range(0.0, 30.0, signed=True),
}
_COLOR_AA = {
    "Brightness": Range(1.0, 1.9, signed=True), "Color": Range(1.0, 1.9, signed=True),
    "Contrast": Range(1.0, 1.9, signed=True), "Sharpness": Range(1.0, 1.9, signed=True),
    "Posterize": Range(8.0, 4.0, rounding="round"), "Solarize": Range(255.0, 0.0),
}
_NO_MAGNITUDE = ("AutoContrast", "Equalize", "Invert", "Identity", "FlipLR", "FlipUD")

AUTOAUGMENT = _make(
    "autoaugment", "AutoAugment (Cubuk et al. 2018) as torchvision implements it: 10 integer bins 0..9",
    levels=10, max_magnitude=9,
    ranges={**_GEOM_AA, **_COLOR_AA, **_shared(_NO_MAGNITUDE),
            "Cutout": Range(0.0, 60 / 331, relative=True, rounding="round"),
            "SamplePairing": Range(0.0, 0.4)},
)

FAST_AA = _make(
    "fast-aa", "Fast AutoAugment (Lim et al. 2019): level in [0, 1], linear inside each op's range, "
    "geometric ops randomly mirrored",
    levels=None, max_magnitude=1.0,
    ranges={"ShearX": Range(-0.3, 0.3, signed=True), "ShearY": Range(-0.3, 0.3, signed=True),
            "TranslateX": Range(-0.45, 0.45, signed=True, relative=True),
            "TranslateY": Range(-0.45, 0.45, signed=True, relative=True),
            "Rotate": Range(-30.0, 30.0, signed=True),
            "Solarize": Range(0.0, 256.0), "Posterize": Range(4.0, 8.0, rounding="trunc"),
            "Contrast": Range(0.1, 1.9), "Color": Range(0.1, 1.9), "Brightness": Range(0.1, 1.9),
            "Sharpness": Range(0.1, 1.9), "Cutout": Range(0.0, 0.2, relative=True),
            "SamplePairing": Range(0.0, 0.4), **_shared(_NO_MAGNITUDE)},
)

RANDAUGMENT = _make(
    "randaugment", "RandAugment (Cubuk et al. 2019) magnitude M on the paper's 0..10 scale "
    "over the AutoAugment ranges",
    levels=None, max_magnitude=10.0,
    ranges={**_GEOM_AA, **_COLOR_AA, **_shared(_NO_MAGNITUDE)},
)

RANDAUGMENT_31 = _make(
    "randaugment-31", "RandAugment as torchvision implements it: 31 integer bins 0..30 over the "
    "AutoAugment ranges",
    levels=31, max_magnitude=30,
    ranges={**_GEOM_AA, **_COLOR_AA, **_shared(_NO_MAGNITUDE)},
)

TRIVIAL_WIDE = _make(
    "trivial-wide", "TrivialAugment wide (Mueller & Hutter 2021): 31 integer bins 0..30 over wide ranges",
    levels=31, max_magnitude=30,
    ranges={"ShearX": Range(0.0, 0.99, signed=True), "ShearY": Range(0.0, 0.99, signed=True),
            "TranslateX": Range(0.0, 32.0, signed=True, rounding="trunc"),
            "TranslateY": Range(0.0, 32.0, signed=True, rounding="trunc"),
            "Rotate": Range(0.0, 135.0, signed=True),
            "Brightness": Range(1.0, 1.99, signed=True), "Color": Range(1.0, 1.99, signed=True),
            "Contrast": Range(1.0, 1.99, signed=True), "Sharpness": Range(1.0, 1.99, signed=True),
            "Posterize": Range(8.0, 2.0, rounding="round"), "Solarize": Range(255.0, 0.0),
            **_shared(_NO_MAGNITUDE)},
)

AUGMIX = _make(
    "augmix", "AugMix (Hendrycks et al. 2020) reference code: severity level on 0..10",
    levels=None, max_magnitude=10.0,
    ranges={"Rotate": Range(0.0, 30.0, signed=True, rounding="trunc"),
            "ShearX": Range(0.0, 0.3, signed=True), "ShearY": Range(0.0, 0.3, signed=True),
            "TranslateX": Range(0.0, 1 / 3, signed=True, relative=True, rounding="trunc"),
            "TranslateY": Range(0.0, 1 / 3, signed=True, relative=True, rounding="trunc"),
            "Solarize": Range(256.0, 0.0, rounding="ceil"), "Posterize": Range(4.0, 0.0, rounding="ceil"),
            "Contrast": Range(0.1, 1.9), "Color": Range(0.1, 1.9), "Brightness": Range(0.1, 1.9),
            "Sharpness": Range(0.1, 1.9), **_shared(_NO_MAGNITUDE)},
)

_TIMM_ENHANCE = {n: Range(0.1, 1.9) for n in ("Color", "Contrast", "Brightness", "Sharpness")}
_TIMM_INCREASING = {f"{n}Increasing": Range(1.0, 1.9, signed=True)
                    for n in ("Color", "Contrast", "Brightness", "Sharpness")}
TIMM = _make(
    "timm", "timm's auto_augment module: magnitude on 0..10, with its op variants "
    "(Increasing, Original, Rel)",
    levels=None, max_magnitude=10.0,
    ranges={"Rotate": Range(0.0, 30.0, signed=True),
            "ShearX": Range(0.0, 0.3, signed=True), "ShearY": Range(0.0, 0.3, signed=True),
            "TranslateX": Range(0.0, 250.0, signed=True), "TranslateY": Range(0.0, 250.0, signed=True),
            "TranslateXRel": Range(0.0, 0.45, signed=True, relative=True),
            "TranslateYRel": Range(0.0, 0.45, signed=True, relative=True),
            "Posterize": Range(0.0, 4.0, rounding="floor"),
            "PosterizeIncreasing": Range(4.0, 0.0, rounding="ceil"),
            "PosterizeOriginal": Range(4.0, 8.0, rounding="floor"),
            "Solarize": Range(0.0, 256.0, rounding="floor"),
            "SolarizeIncreasing": Range(256.0, 0.0, rounding="ceil"),
            "SolarizeAdd": Range(0.0, 110.0, rounding="floor"),
            **_TIMM_ENHANCE, **_TIMM_INCREASING, **_shared(_NO_MAGNITUDE)},
    aliases={"TranslateXRel": "TranslateX", "TranslateYRel": "TranslateY",
             "PosterizeIncreasing": "Posterize", "PosterizeOriginal": "Posterize",
             "SolarizeIncreasing": "Solarize",
             **{f"{n}Increasing": n for n in ("Color", "Contrast", "Brightness", "Sharpness")}},
)

PBA = _make(
    "pba", "Population Based Augmentation (Ho et al. 2019) as arcelien/pba implements it: integer levels "
    "0..10, translations in pixels, Cutout up to 20/32 of the side, geometric ops randomly mirrored",
    levels=11, max_magnitude=10,
    ranges={"Rotate": Range(0.0, 30.0, signed=True, rounding="trunc"),
            "ShearX": Range(0.0, 0.3, signed=True), "ShearY": Range(0.0, 0.3, signed=True),
            "TranslateX": Range(0.0, 10.0, signed=True, rounding="trunc"),
            "TranslateY": Range(0.0, 10.0, signed=True, rounding="trunc"),
            "Posterize": Range(4.0, 0.0, rounding="ceil"), "Solarize": Range(256.0, 0.0, rounding="ceil"),
            "Color": Range(0.1, 1.9), "Contrast": Range(0.1, 1.9), "Brightness": Range(0.1, 1.9),
            "Sharpness": Range(0.1, 1.9),
            "Cutout": Range(0.0, 20 / 32, relative=True, rounding="trunc"),  # 20 px on PBA's 32x32 images
            **_shared(_NO_MAGNITUDE)},
)

CONVENTIONS: Registry[Convention] = Registry("magnitude convention", error=PolicyError)
for _convention in (AUTOAUGMENT, FAST_AA, RANDAUGMENT, RANDAUGMENT_31, TRIVIAL_WIDE, AUGMIX, TIMM, PBA):
    CONVENTIONS.register(_convention.name, _convention)


def get_convention(name: str | Convention) -> Convention:
    """The convention called ``name`` (or ``name`` itself), or a :class:`PolicyError`."""
    return name if isinstance(name, Convention) else CONVENTIONS.get(name)
