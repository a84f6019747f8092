"""Search spaces: which ops, in which magnitude convention, a candidate policy is made of.

A candidate is ``num_sub_policies`` sub-policies of ``num_ops`` ops; each op is a choice over
the space's ops, a probability in [0, 1] and a magnitude on the convention's scale. The ops
and ranges come from the op table and the conventions, nothing is restated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from augsearch.conventions import Convention, get_convention
from augsearch.errors import ConfigError
from augsearch.policy import Policy

FAST_AA_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert",
               "Equalize", "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness", "Cutout")


@dataclass(frozen=True)
class Space:
    """A family of candidate policies that a sampler can propose."""

    name: str
    description: str
    convention_name: str
    ops: tuple[str, ...]

    @property
    def convention(self) -> Convention:
        return get_convention(self.convention_name)

    def suggest(self, trial: optuna.Trial, *, num_sub_policies: int, num_ops: int) -> list[list[list[Any]]]:
        """Sub-policies ``[[op, prob, magnitude], ...]`` proposed by an Optuna trial."""
        c = self.convention
        subs = []
        for i in range(num_sub_policies):
            ops = []
            for j in range(num_ops):
                name = trial.suggest_categorical(f"op_{i}_{j}", self.ops)
                prob = trial.suggest_float(f"prob_{i}_{j}", 0.0, 1.0)
                if c.levels is not None:
                    magnitude = trial.suggest_int(f"level_{i}_{j}", 0, c.levels - 1)
                else:
                    magnitude = trial.suggest_float(f"level_{i}_{j}", 0.0, c.max_magnitude)
                ops.append([name, prob, magnitude if c.entry(name).range is not None else None])
            subs.append(ops)
        return subs

    def distributions(self, *, num_sub_policies: int, num_ops: int) -> dict[str, optuna.distributions.BaseDistribution]:
        """The distributions :meth:`suggest` uses, to replay finished trials into a new study."""
        c = self.convention
        level = (optuna.distributions.IntDistribution(0, c.levels - 1) if c.levels is not None
                 else optuna.distributions.FloatDistribution(0.0, c.max_magnitude))
        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for i in range(num_sub_policies):
            for j in range(num_ops):
                out[f"op_{i}_{j}"] = optuna.distributions.CategoricalDistribution(self.ops)
                out[f"prob_{i}_{j}"] = optuna.distributions.FloatDistribution(0.0, 1.0)
                out[f"level_{i}_{j}"] = level
        return out

    def policy(self, sub_policies: list[list[list[Any]]], **options: Any) -> Policy:
        return Policy(sub_policies, convention=self.convention_name, **options)


SPACES: dict[str, Space] = {s.name: s for s in [
    Space("fast-aa", "Fast AutoAugment's space (Lim et al. 2019): 15 ops, probability and level "
          "in [0, 1] on Fast AA's ranges", "fast-aa", FAST_AA_OPS),
    Space("autoaugment", "AutoAugment's ops and ranges (torchvision), magnitude as 10 integer bins, "
          "searched by density matching", "autoaugment", FAST_AA_OPS),
]}


def get_space(name: str) -> Space:
    try:
        return SPACES[name]
    except KeyError:
        raise ConfigError(f"unknown search space {name!r}; known: {', '.join(SPACES)}") from None
