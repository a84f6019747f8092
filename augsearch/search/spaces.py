"""Search spaces: which policies a search may propose.

A sub-policy space proposes ``num_sub_policies`` sub-policies of ``num_ops`` ops; each op is a
choice over the space's ops, a probability in [0, 1] and a magnitude on the convention's scale.
The ops and ranges come from the op table and the conventions, nothing is restated here.
A space of a new shape is one more class with ``@SPACES.register``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from augsearch.conventions import Convention, get_convention
from augsearch.data import ImageSet
from augsearch.families import TRIVIAL_OPS, AugMix, RandAugment, TrivialAugment
from augsearch.mixing import MODES
from augsearch.policy import Policy, PolicyData
from augsearch.recipe import AugmentationRecipe
from augsearch.registry import Registry
from augsearch.search.population import PbaSpace
from augsearch.search.protocols import Space

SPACES: Registry[Callable[..., Space]] = Registry("search space")
"""Space factories; their keyword-only arguments are the run options they take."""

FAST_AA_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert",
               "Equalize", "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness", "Cutout")


@dataclass(frozen=True)
class SubPolicySpace(Space):
    """AutoAugment-style candidates: sub-policies of (op, probability, magnitude)."""

    name: str
    description: str
    convention_name: str
    ops: tuple[str, ...]
    num_sub_policies: int = 5
    num_ops: int = 2

    @property
    def convention(self) -> Convention:
        return get_convention(self.convention_name)

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        c = self.convention
        level = (optuna.distributions.IntDistribution(0, c.levels - 1) if c.levels is not None
                 else optuna.distributions.FloatDistribution(0.0, c.max_magnitude))
        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for i in range(self.num_sub_policies):
            for j in range(self.num_ops):
                out[f"op_{i}_{j}"] = optuna.distributions.CategoricalDistribution(self.ops)
                out[f"prob_{i}_{j}"] = optuna.distributions.FloatDistribution(0.0, 1.0)
                out[f"level_{i}_{j}"] = level
        return out

    def candidate(self, params: Mapping[str, Any]) -> Policy:
        c = self.convention
        subs = [[[params[f"op_{i}_{j}"], params[f"prob_{i}_{j}"],
                  params[f"level_{i}_{j}"] if c.entry(params[f"op_{i}_{j}"]).range is not None else None]
                 for j in range(self.num_ops)]
                for i in range(self.num_sub_policies)]
        return Policy(subs, convention=self.convention_name)

    def combine(self, kept: Sequence[PolicyData], *, source: str) -> Policy:
        """Every kept candidate's sub-policies in order, exact duplicates removed."""
        subs: list[list[list[Any]]] = []
        seen: set[str] = set()
        for policy in kept:
            for sub in policy.to_config()["sub_policies"]:
                fingerprint = json.dumps(sub)
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    subs.append(sub)
        return Policy(subs, convention=self.convention_name, source=source)

    def details(self) -> str:
        return f"convention {self.convention_name}; ops: {', '.join(self.ops)}"


@SPACES.register("fast-aa")
def fast_aa(*, num_sub_policies: int = 5, num_ops: int = 2) -> SubPolicySpace:
    """Fast AutoAugment's space (Lim et al. 2019): 15 ops, probability and level in [0, 1] on Fast AA's ranges."""
    return SubPolicySpace("fast-aa", (fast_aa.__doc__ or "").strip(), "fast-aa", FAST_AA_OPS,
                          num_sub_policies, num_ops)


@SPACES.register("autoaugment")
def autoaugment(*, num_sub_policies: int = 5, num_ops: int = 2) -> SubPolicySpace:
    """AutoAugment's ops and ranges (torchvision), magnitude as 10 integer bins."""
    return SubPolicySpace("autoaugment", (autoaugment.__doc__ or "").strip(), "autoaugment", FAST_AA_OPS,
                          num_sub_policies, num_ops)


class TrainedSpace(Space):
    """Spaces whose candidates show their worth only in training: scored by train-evaluate."""

    objective = "train-evaluate"

    def combine(self, kept: Sequence[PolicyData], *, source: str) -> PolicyData:
        """The best candidate of the first search (one candidate is the method's result)."""
        return kept[0]


class GridSpace(TrainedSpace):
    """A trained space that is a small grid: every combination of :meth:`values`, tried in a
    seeded order (optuna's grid sampler, or the list an engine enumerates)."""

    def values(self) -> dict[str, tuple[Any, ...]]:
        """Each parameter's values, in the order a candidate's params are listed."""
        raise NotImplementedError

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {k: optuna.distributions.CategoricalDistribution(v) for k, v in self.values().items()}

    def sampler(self, *, seed: int, startup_trials: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GridSampler({k: list(v) for k, v in self.values().items()}, seed=seed)

    def size(self) -> int:
        return math.prod(len(v) for v in self.values().values())

    def grid(self) -> list[dict[str, Any]]:
        values = self.values()
        return [dict(zip(values, point)) for point in itertools.product(*values.values())]


@dataclass(frozen=True)
class RandAugmentGrid(GridSpace):
    """RandAugment's own search (Cubuk et al. 2020): a small grid of (N, M) tried on the task."""

    name: str = "randaugment"
    description: str = "RandAugment's method: a grid over N (ops per image) and M (one magnitude for all)"
    n_values: tuple[int, ...] = (1, 2, 3)
    m_values: tuple[int, ...] = (1, 3, 5, 7, 9)

    def values(self) -> dict[str, tuple[Any, ...]]:
        return {"n": self.n_values, "m": self.m_values}

    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        return RandAugment(params["n"], params["m"])

    def details(self) -> str:
        return f"convention randaugment; N in {list(self.n_values)}, M in {list(self.m_values)}"


@dataclass(frozen=True)
class TrivialPoint(GridSpace):
    """TrivialAugment (Müller & Hutter 2021) as the no-search point: one candidate, trained and scored."""

    name: str = "trivial"
    description: str = "TrivialAugment wide: the no-search point, trained and scored like any candidate"

    def values(self) -> dict[str, tuple[Any, ...]]:
        return {"variant": ("wide",)}

    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        return TrivialAugment()

    def details(self) -> str:
        return "one candidate: TrivialAugment wide"


@dataclass(frozen=True)
class AugMixSpace(TrainedSpace):
    """AugMix (Hendrycks et al. 2020): severity, width, depth, alpha and the Jensen-Shannon term."""

    name: str = "augmix"
    description: str = "AugMix: severity, mixture width, chain depth, Dirichlet/Beta alpha, JSD term on or off"

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        d = optuna.distributions
        return {"severity": d.IntDistribution(1, 10), "width": d.IntDistribution(1, 4),
                "depth": d.CategoricalDistribution((-1, 1, 2, 3)), "alpha": d.FloatDistribution(0.1, 2.0, log=True),
                "jsd": d.CategoricalDistribution((False, True))}

    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        return AugMix(severity=params["severity"], width=params["width"], depth=params["depth"],
                      alpha=params["alpha"], jsd=params["jsd"])

    def details(self) -> str:
        return "convention augmix; severity 1..10, width 1..4, depth -1 (1..3) or 1..3, alpha 0.1..2, jsd"


STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""An op's choices in the adaptive space: left out (0), or its range cut to that share."""
FILLS = ("black", "white", "mean")
ADAPTIVE_BASES = ("crop-flip", "crop")
FLIPS = ("FlipLR", "FlipUD")


@dataclass(frozen=True)
class AdaptiveSpace(TrainedSpace):
    """TrivialAugment's draw adapted to the data: which of its ops (and the two flips) it may draw,
    each op's strongest value, the fill of uncovered pixels, and whether the base mirrors. Its first
    candidate is TrivialAugment wide itself (with the run's base), so a search starts from it."""

    name: str = "adaptive"
    description: str = ("TrivialAugment adapted to the data: which ops it draws, each op's strength, the fill "
                        "colour and a mirrored or plain crop as the base")
    base: str = "crop-flip"
    mean: tuple[int, ...] = (128, 128, 128)

    def adapt(self, data: ImageSet) -> AdaptiveSpace:
        """The space with ``mean``, the fill choice "mean", set to the data's mean colour."""
        colour = data.images.float().mean(dim=(0, 2, 3)).round().to(torch.int64).tolist()
        return dataclasses.replace(self, mean=tuple(colour))

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        d = optuna.distributions
        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for op in (*TRIVIAL_OPS[1:], *FLIPS):  # Identity always stays: it is TrivialAugment's "leave it"
            magnitude = get_convention("trivial-wide").entry(op).range is not None
            out[f"strength_{op}"] = d.CategoricalDistribution(STRENGTHS if magnitude else (0.0, 1.0))
        return out | {"fill": d.CategoricalDistribution(FILLS), "base": d.CategoricalDistribution(ADAPTIVE_BASES)}

    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        chosen = {op: params[f"strength_{op}"] for op in (*TRIVIAL_OPS[1:], *FLIPS) if params[f"strength_{op}"] > 0}
        fill = {"black": 0, "white": 255, "mean": list(self.mean)}[params["fill"]]
        policy = TrivialAugment(ops=["Identity", *chosen], fill=fill,
                                strengths={op: s for op, s in chosen.items() if s < 1.0})
        return AugmentationRecipe(policy=policy, base=params["base"])

    def start(self) -> list[dict[str, Any]]:
        """TrivialAugment wide with the run's base (crop-flip when the run's is not one of the space's)."""
        strengths = {f"strength_{op}": 0.0 if op in FLIPS else 1.0 for op in (*TRIVIAL_OPS[1:], *FLIPS)}
        return [strengths | {"fill": "black", "base": self.base if self.base in ADAPTIVE_BASES else "crop-flip"}]

    def details(self) -> str:
        return (f"kind recipe (a trivialaugment policy and a base); each of TrivialAugment's ops and the flips off "
                f"or at strength {'/'.join(map(str, STRENGTHS[1:]))}, fill {'/'.join(FILLS)}, base "
                f"{'/'.join(ADAPTIVE_BASES)}; starts from TrivialAugment wide")


MIXINGS = ("none", "mixup", "cutmix", "both")


@dataclass(frozen=True)
class MixSpace(TrainedSpace):
    """Batch mixing and erasing (mixup, CutMix, Cutout, label smoothing) as one recipe."""

    name: str = "mix"
    description: str = "mixup/CutMix alphas, switch probability, mode, Cutout size and count, label smoothing"
    max_cutout: int = 16

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        d = optuna.distributions
        return {"mixing": d.CategoricalDistribution(MIXINGS), "mixup_alpha": d.FloatDistribution(0.1, 1.0),
                "cutmix_alpha": d.FloatDistribution(0.1, 1.0), "switch_prob": d.FloatDistribution(0.0, 1.0),
                "mode": d.CategoricalDistribution(MODES), "cutout_size": d.IntDistribution(0, self.max_cutout),
                "cutout_holes": d.IntDistribution(1, 3), "label_smoothing": d.FloatDistribution(0.0, 0.2)}

    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        mixing = params["mixing"]
        mix = None if mixing == "none" else {
            "alpha": params["mixup_alpha"] if mixing in ("mixup", "both") else 0.0,
            "cutmix_alpha": params["cutmix_alpha"] if mixing in ("cutmix", "both") else 0.0,
            "switch_prob": params["switch_prob"], "mode": params["mode"]}
        cutout = {"size": params["cutout_size"], "holes": params["cutout_holes"]} if params["cutout_size"] else None
        return AugmentationRecipe(cutout=cutout, mix=mix, label_smoothing=params["label_smoothing"])

    def details(self) -> str:
        return (f"kind recipe; mixing {'/'.join(MIXINGS)}, alphas 0.1..1, mode {'/'.join(MODES)}, Cutout 0.."
                f"{self.max_cutout} px x 1..3, label smoothing 0..0.2")


SPACES.register("randaugment", RandAugmentGrid)
SPACES.register("trivial", TrivialPoint)
SPACES.register("augmix", AugMixSpace)
SPACES.register("mix", MixSpace)
SPACES.register("adaptive", AdaptiveSpace)
SPACES.register("pba", PbaSpace)
