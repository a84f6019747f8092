"""What a search is made of, as small contracts: a :class:`Space` says what a candidate is, an
:class:`Objective` says how one is scored. A method is a composition of the two with a sampler
(the space suggests one) and an engine; none of them knows the others' names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import optuna
import torch

from augsearch.data import ImageSet
from augsearch.policy import PolicyData

if TYPE_CHECKING:
    from augsearch.search.rundir import Store

Report = Callable[[int, Mapping[str, float]], bool]
"""Called by a scorer that trains after each epoch, with the epoch (1-based) and its metrics; True
stops the candidate (early stopping)."""


class Scorer(Protocol):
    """Scores one candidate with a seed: ``score`` (higher is better) plus any metrics to record.
    A scorer that trains calls ``report`` after every epoch; one that does not ignores it."""

    def __call__(self, policy: PolicyData, seed: int, *, report: Report | None = None) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Split:
    """One split of the search data: ``model_data`` trains, ``augment_data`` scores."""

    index: int
    model_data: ImageSet
    augment_data: ImageSet


class Space(ABC):
    """A family of candidate policies that a sampler can propose."""

    name: str
    description: str
    objective: ClassVar[str] = "density-matching"
    """The objective a run uses unless told otherwise."""

    @abstractmethod
    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """The sampler's parameters; finished trials are replayed with these on resume."""

    @abstractmethod
    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        """The policy that one set of sampled parameters describes."""

    @abstractmethod
    def combine(self, kept: Sequence[PolicyData], *, source: str) -> PolicyData:
        """The final policy from the best candidates, best first within each search."""

    def sampler(self, *, seed: int, startup_trials: int) -> optuna.samplers.BaseSampler:
        """The sampler that suits the space: TPE after ``startup_trials`` random ones by default."""
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials)

    def size(self) -> int | None:
        """How many distinct candidates the space holds when its sampler enumerates them (a grid),
        else ``None``; a search then proposes at most that many."""
        return None

    def details(self) -> str:
        """One line on what the space holds, for ``augsearch spaces``."""
        return ""

    def grid(self) -> list[dict[str, Any]] | None:
        """Every candidate's parameters, in order, when the space is a grid (engines that cannot
        run the space's sampler enumerate these instead), else ``None``."""
        return None

    def adapt(self, data: ImageSet) -> Space:
        """The space for the search's training data (a colour taken from it, say); itself by default."""
        return self

    def start(self) -> list[dict[str, Any]]:
        """Parameters the sampler tries first, in order (a known good point to improve on), else none."""
        return []

    def runner(self, objective: Objective) -> str:
        """How the space's searches run with ``objective``: a name in
        :data:`augsearch.search.runners.RUNNERS`: ``trials`` when every candidate trains (early
        stopping applies), else ``study``. A space that needs a runner of its own (PBA's
        population) returns it, and refuses an objective it cannot work with (a ``ConfigError``)."""
        return "study" if objective.candidate_epochs is None else "trials"


class Objective(ABC):
    """How a candidate is scored on a split."""

    name: ClassVar[str] = ""
    """The name it is registered under, for messages."""

    @property
    def candidate_epochs(self) -> int | None:
        """The epochs a candidate trains for, when scoring it means training a model with it (its
        scorer then reports every epoch, and early stopping applies); ``None`` when it does not train."""
        return None

    @abstractmethod
    def prepare(self, split: Split, store: Store, device: torch.device) -> Scorer:
        """Whatever the split needs once (a trained proxy, kept in the run through ``store``),
        then the scorer for its candidates."""
