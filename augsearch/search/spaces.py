"""Search spaces: which policies a search may propose.

A sub-policy space proposes ``num_sub_policies`` sub-policies of ``num_ops`` ops; each op is a
choice over the space's ops, a probability in [0, 1] and a magnitude on the convention's scale.
The ops and ranges come from the op table and the conventions, nothing is restated here.
A space of a new shape is one more class with ``@SPACES.register``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from augsearch.conventions import Convention, get_convention
from augsearch.policy import Policy, PolicyData
from augsearch.registry import Registry
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
