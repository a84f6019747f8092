"""The policy families that need no search: RandAugment, TrivialAugment, AugMix and Cutout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from augsearch.conventions import Convention
from augsearch.draws import CHUNK, MAX_ALPHA, BatchDraws, Draws
from augsearch.errors import PolicyError
from augsearch.ops import DEFAULT_CUTOUT_FILL, OPS, Interpolation
from augsearch.plans import Applied, Plan, PlanTable, slice_rows
from augsearch.policy import NO_PLAN, Augment, check_magnitude_std, drawn_call, noisy_magnitude

# Bounds far beyond published use (AugMix: width 3, depth 1..3; Cutout: 1 hole) that keep a call fast:
# AugMix at width and depth 100 took 58 s for 9 images, 1,000 Cutout holes slowed training 7x
MAX_CHAINS = 10  # AugMix's width and depth
MAX_HOLES = CHUNK // 2  # Cutout squares: each reads two of an image's draws

RANDAUGMENT_OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                   "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
TRIVIAL_OPS = RANDAUGMENT_OPS
AUGMIX_OPS = ("AutoContrast", "Equalize", "Posterize", "Rotate", "Solarize", "ShearX", "ShearY",
              "TranslateX", "TranslateY")


def _number(value: Any, place: str, *, low: float = 0.0, high: float = float("inf"),
            integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise PolicyError(f"must be {kind} in [{low:g}, {high:g}]", place=place, value=value)
    return value if integer else float(value)


class _OpChoice(Augment):
    """Families that pick ops from a list of the convention's op names."""

    def __init__(self, ops: Sequence[str] | None, default: Sequence[str], *, convention: str | Convention,
                 fill: Sequence[int] | int, interpolation: Interpolation) -> None:
        super().__init__(convention=convention, fill=fill, interpolation=interpolation)
        names = tuple(default if ops is None else ops)
        if isinstance(ops, str) or not names:
            raise PolicyError("ops must be a non-empty list of op names", place="ops", value=ops)
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise PolicyError("must be an op name", place=f"ops[{i}]", value=name)
            try:
                self.convention.entry(name)
            except PolicyError as err:
                raise err.located(place_prefix=f"ops[{i}]") from None
        self.ops: tuple[str, ...] = names

    def _op_names(self) -> tuple[str, ...]:
        return self.ops


class RandAugment(_OpChoice):
    """RandAugment: ``n`` ops drawn uniformly with replacement, all at magnitude ``m``; each fires
    with ``prob`` (1 in the paper and torchvision, 0.5 in timm)."""

    kind = "randaugment"

    def __init__(self, n: int = 2, m: float = 9, *, convention: str | Convention = "randaugment",
                 ops: Sequence[str] | None = None, prob: float = 1.0, magnitude_std: float = 0.0,
                 magnitude_max: float | None = None, fill: Sequence[int] | int = 0,
                 interpolation: Interpolation = "nearest") -> None:
        super().__init__(ops, RANDAUGMENT_OPS, convention=convention, fill=fill, interpolation=interpolation)
        self.n = _number(n, "n", low=0, high=100, integer=True)
        self.magnitude_max = None if magnitude_max is None else _number(magnitude_max, "magnitude_max")
        upper = self.convention.max_magnitude if magnitude_max is None else self.magnitude_max
        self.m = _number(m, "m", high=upper, integer=self.convention.levels is not None)
        self.prob = _number(prob, "prob", high=1.0)
        self.magnitude_std = check_magnitude_std(magnitude_std)

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Plan:
        draws = Draws(generator)
        plan = []
        for _ in range(self.n):
            name = self.ops[draws.randint(len(self.ops))]
            if draws.uniform() < self.prob:
                m = noisy_magnitude(self.m, self.magnitude_std, self.convention, draws, self.magnitude_max)
                plan.append(self._call(name, m, size, draws))
        return tuple(plan)

    def draw_batch(self, n: int, size: tuple[int, int], *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> PlanTable | list[Any]:
        if self.magnitude_std or not 0 < 5 * self.n <= CHUNK:  # noise draws vary in number; none; past a chunk
            return super().draw_batch(n, size, generator=generator, device=device)
        draws = BatchDraws(n, generator=generator, device=device)
        ops = torch.arange(len(self.ops))
        table = self._value_table(self.ops, ops, torch.full((len(self.ops),), float(self.m), dtype=torch.float64),
                                  size, draws.device)
        index, value, aux = [], [], []
        for _ in range(self.n):
            op = draws.randint(len(self.ops))
            fire = draws.uniform() < self.prob
            negate, drawn_aux = drawn_call(draws, fire)
            index.append(torch.where(fire, op, -1))
            value.append(table[op, negate.long()])
            aux.append(drawn_aux)
        return PlanTable.from_slots(self._batch_calls(self.ops), n, index, value, aux)

    def _options(self) -> dict[str, Any]:
        opts = {"n": self.n, "m": self.m, "prob": self.prob, "magnitude_std": self.magnitude_std,
                "ops": list(self.ops)}
        return opts | ({"magnitude_max": self.magnitude_max} if self.magnitude_max is not None else {})


class TrivialAugment(_OpChoice):
    """TrivialAugment: one op per image, its magnitude uniform over the convention's scale.
    ``strengths`` (op -> a number in (0, 1]) cuts an op's range to its first part, so that its
    strongest value is that share of the convention's (the adaptive search sets them per dataset);
    the draws are the same, only the values they map to change."""

    kind = "trivialaugment"

    def __init__(self, *, convention: str | Convention = "trivial-wide", ops: Sequence[str] | None = None,
                 strengths: Mapping[str, float] | None = None, fill: Sequence[int] | int = 0,
                 interpolation: Interpolation = "nearest") -> None:
        super().__init__(ops, TRIVIAL_OPS, convention=convention, fill=fill, interpolation=interpolation)
        if strengths is not None and not isinstance(strengths, Mapping):
            raise PolicyError("strengths must map op names to numbers in (0, 1]", place="strengths", value=strengths)
        self.strengths = {str(k): float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                          for k, v in (strengths or {}).items()}
        for name, strength in self.strengths.items():
            if name not in self.ops:
                raise PolicyError("strengths names an op that is not in ops", place=f"strengths.{name}", value=name)
            try:
                self.convention = self.convention.scaled({name: strength})
            except PolicyError as err:
                raise err.located(place_prefix=f"strengths.{name}") from None

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Plan:
        draws = Draws(generator)
        name = self.ops[draws.randint(len(self.ops))]
        c = self.convention
        m = draws.randint(c.levels) if c.levels is not None else draws.uniform(0.0, c.max_magnitude)
        return (self._call(name, m, size, draws),)

    def draw_batch(self, n: int, size: tuple[int, int], *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> PlanTable | list[Any]:
        draws = BatchDraws(n, generator=generator, device=device)
        c = self.convention
        op = draws.randint(len(self.ops))
        m = draws.randint(c.levels) if c.levels is not None else draws.uniform(low=0.0, high=c.max_magnitude)
        negate, aux = drawn_call(draws, torch.ones(n, dtype=torch.bool, device=draws.device))
        if c.levels is None:
            value = self._call_values(self.ops, op, m, negate, size)
        else:
            shape = (len(self.ops), c.levels)
            table = self._value_table(self.ops, torch.arange(shape[0]).view(-1, 1).expand(shape),
                                      torch.arange(shape[1], dtype=torch.float64).expand(shape), size, draws.device)
            value = table[op, m, negate.long()]
        return PlanTable.from_slots(self._batch_calls(self.ops), n, [op], [value], [aux])

    def _options(self) -> dict[str, Any]:
        return {"ops": list(self.ops)} | ({"strengths": dict(self.strengths)} if self.strengths else {})


@dataclass(frozen=True)
class MixPlan:
    """AugMix's draws: ``width`` chains of ops, their Dirichlet weights and the Beta skip weight."""

    chains: tuple[Plan, ...]
    weights: tuple[float, ...]
    skip: float

    def __str__(self) -> str:
        chains = " | ".join(" > ".join(map(str, c)) or "Identity" for c in self.chains)
        return f"AugMix m={self.skip:.2f}: {chains}"


class AugMix(_OpChoice):
    """AugMix: ``out = (1 - m) x + m sum_i w_i chain_i(x)``, with ``w ~ Dirichlet(alpha)``,
    ``m ~ Beta(alpha, alpha)``, chains of ``depth`` ops (1..3 at random when -1) whose magnitudes
    are uniform in 0..severity. ``jsd=True`` returns ``(x, augmix(x), augmix(x))`` for
    :func:`jsd_loss`."""

    kind = "augmix"

    def __init__(self, *, severity: float = 3, width: int = 3, depth: int = -1, alpha: float = 1.0,
                 convention: str | Convention = "augmix", ops: Sequence[str] | None = None,
                 jsd: bool = False, fill: Sequence[int] | int = 0,
                 interpolation: Interpolation = "nearest") -> None:
        super().__init__(ops, AUGMIX_OPS, convention=convention, fill=fill, interpolation=interpolation)
        self.severity = _number(severity, "severity", high=self.convention.max_magnitude)
        self.width = _number(width, "width", low=1, high=MAX_CHAINS, integer=True)
        if isinstance(depth, bool) or not isinstance(depth, int) or not (depth == -1 or 1 <= depth <= MAX_CHAINS):
            raise PolicyError(f"depth must be -1 (1..3 at random) or an integer 1..{MAX_CHAINS}", place="depth",
                              value=depth)
        self.depth = depth
        self.alpha = _number(alpha, "alpha", low=1e-6, high=MAX_ALPHA)
        if not isinstance(jsd, bool):
            raise PolicyError("jsd must be true or false", place="jsd", value=jsd)
        self.jsd = jsd

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> MixPlan:
        draws = Draws(generator)
        weights = tuple(draws.dirichlet(self.alpha, self.width))
        skip = draws.beta(self.alpha, self.alpha)
        chains = []
        for _ in range(self.width):
            depth = self.depth if self.depth > 0 else 1 + draws.randint(3)
            chain = []
            for _ in range(depth):
                name = self.ops[draws.randint(len(self.ops))]
                level = draws.uniform(0.0, self.severity)
                if self.convention.levels is not None:
                    level = round(level)
                chain.append(self._call(name, level, size, draws))
            chains.append(tuple(chain))
        return MixPlan(tuple(chains), weights, skip)

    def apply(self, image, plan: MixPlan = NO_PLAN):
        if plan is NO_PLAN:  # nn.Module.apply(fn)
            return super().apply(image)
        if isinstance(image, Image.Image):
            chain = super().apply  # one chain applies like any plan
            mixed = sum(w * np.asarray(chain(image, c), dtype=np.float32) for w, c in zip(plan.weights, plan.chains))
            out = (1 - plan.skip) * np.asarray(image, dtype=np.float32) + plan.skip * mixed
            return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8), mode=image.mode)
        return self.apply_batch(image.unsqueeze(0), [plan])[0]

    def apply_batch(self, images: torch.Tensor, plans) -> torch.Tensor:
        """Mixes a slice of the batch at a time (:func:`~augsearch.plans.slice_rows`), unless SamplePairing may
        draw partners from the whole batch: the float32 copies of 128 images of 224x224 are 77 MB each, and
        glibc faulted each in afresh (260 images/s, against 725 one image at a time)."""
        per = len(images) if self.reads_batch else slice_rows(images)
        if len(images) <= per:
            return self._mixed(images, plans)
        out = torch.empty_like(images)
        for start in range(0, len(images), per):
            out[start:start + per] = self._mixed(images[start:start + per], plans[start:start + per])
        return out

    def _mixed(self, images: torch.Tensor, plans) -> torch.Tensor:
        def column(values):
            return torch.tensor(values, dtype=torch.float32, device=images.device).view(-1, 1, 1, 1)

        mixed = torch.zeros(images.shape, dtype=torch.float32, device=images.device)
        for j in range(self.width):
            chains = [p.chains[j] for p in plans]
            augmented = super().apply_batch(images, chains)
            mixed += column([p.weights[j] for p in plans]) * augmented.to(torch.float32)
        skip = column([p.skip for p in plans])
        return ((1 - skip) * images.to(torch.float32) + skip * mixed).round_().clamp_(0, 255).to(torch.uint8)

    def _geometry(self, plan: MixPlan) -> str | Plan:
        moving = [name for name in self.ops if OPS[self.convention.entry(name).op].kind == "geometric"]
        if moving:  # decided by the op list, not by the draw, so the refusal does not come and go
            return f"it mixes differently moved copies of the image (its ops include {', '.join(moving)})"
        return ()

    def _views(self) -> int:
        return 2 if self.jsd else 1

    def _options(self) -> dict[str, Any]:
        return {"severity": self.severity, "width": self.width, "depth": self.depth, "alpha": self.alpha,
                "jsd": self.jsd, "ops": list(self.ops)}


def jsd_loss(logits_clean: torch.Tensor, logits_aug1: torch.Tensor, logits_aug2: torch.Tensor, *,
             weight: float = 12.0) -> torch.Tensor:
    """AugMix's Jensen-Shannon consistency loss between a clean view and two AugMix views,
    times ``weight`` (12 in the paper); add it to the clean view's cross-entropy."""
    probs = [F.softmax(z, dim=1) for z in (logits_clean, logits_aug1, logits_aug2)]
    log_mixture = torch.clamp(sum(probs) / 3.0, 1e-7, 1.0).log()
    kl = sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probs)
    return weight * kl / 3.0


class Cutout(Augment):
    """Cutout (DeVries & Taylor 2017): ``holes`` squares of ``size`` pixels, centres uniform over
    the image, clipped at the borders, filled with ``fill`` (CIFAR-10's mean colour by default)."""

    kind = "cutout"

    def __init__(self, size: int = 16, holes: int = 1, *,
                 fill: Sequence[int] | int = DEFAULT_CUTOUT_FILL) -> None:
        super().__init__(convention="autoaugment", fill=fill)
        self.cutout_fill = self.fill
        self.size = _number(size, "size", high=100_000, integer=True)
        self.holes = _number(holes, "holes", low=1, high=MAX_HOLES, integer=True)

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Plan:
        draws = Draws(generator)
        return tuple(Applied("Cutout", "Cutout", float(self.size), (draws.uniform(), draws.uniform()))
                     for _ in range(self.holes))

    def draw_batch(self, n: int, size: tuple[int, int], *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> PlanTable | list[Any]:
        draws = BatchDraws(n, generator=generator, device=device)
        aux = [torch.stack((draws.uniform(), draws.uniform()), dim=1) for _ in range(self.holes)]
        zeros = torch.zeros(n, dtype=torch.int64, device=draws.device)
        sides = torch.full((n,), float(self.size), dtype=torch.float64, device=draws.device)
        return PlanTable.from_slots((("Cutout", "Cutout", True),), n, [zeros] * self.holes, [sides] * self.holes, aux)

    def _op_names(self) -> tuple[str, ...]:
        return ()

    def _options(self) -> dict[str, Any]:
        return {"size": self.size, "holes": self.holes}

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        del config["convention"], config["interpolation"]
        return config

    def __repr__(self) -> str:
        return f"Cutout(size={self.size}, holes={self.holes}, fill={self.fill})"
