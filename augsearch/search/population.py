"""Population Based Augmentation (Ho et al. 2019): a population of proxies trains while their PBA
policies are exploited and explored, and the result is a schedule, the policy as a function of
the epoch. Every ``interval`` epochs the worst quarter of the population copies the weights and
the policy of the best quarter (exploit), then perturbs the copied policy (explore); the best
member's policy history at the end is the schedule.

In-process the population trains round by round (every member one epoch), and after each round
the population's state is written whole, so ``--resume`` continues from the last finished round.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch

from augsearch.draws import Draws
from augsearch.errors import ConfigError
from augsearch.policy import PolicyData
from augsearch.schedule import MAX_LEVEL, PBA_OPS, VECTOR_LENGTH, Phase, Schedule
from augsearch.search.protocols import Objective, Space, Split
from augsearch.search.rundir import Store, Trial
from augsearch.search.trained import TrainEvaluate, epoch_key
from augsearch.trainer import Recipe, fit

QUANTILE = 0.25  # the share of the population that is replaced, and that it copies (Tune's default)
RESAMPLE = 0.2  # PBA's explore: the chance that a value is drawn afresh instead of shifted
SHIFTS = (0, 1, 2, 3)  # PBA's explore: how far a kept value moves, up or down


def param_names() -> list[str]:
    """The vector's 60 entries as named parameters (for the trial records and optuna's journal)."""
    return [f"h{h}_{op}_{what}" for h in (0, 1) for op in PBA_OPS for what in ("prob", "level")]


@dataclass(frozen=True)
class PbaSpace(Space):
    """PBA's policies: 15 ops x two halves x (probability in tenths, level), integers 0..10."""

    name: str = "pba"
    description: str = "Population Based Augmentation: a population of proxies whose PBA policies evolve in training"
    objective = "train-evaluate"

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {n: optuna.distributions.IntDistribution(0, MAX_LEVEL) for n in param_names()}

    def candidate(self, params: Mapping[str, Any]) -> PolicyData:
        return Schedule([Phase(0, tuple(params[n] for n in param_names()))])

    def combine(self, kept: Sequence[PolicyData], *, source: str) -> PolicyData:
        """The best member's schedule."""
        return kept[0]

    def runner(self, objective: Objective) -> str:
        if not isinstance(objective, TrainEvaluate):
            raise ConfigError(f"the {self.name} space trains a population of proxies: it needs --objective "
                              f"{self.objective}, not {objective.name or type(objective).__name__}")
        return "population"

    def details(self) -> str:
        return ("convention pba; a vector of 60 integers per member, all zero at the start; --trials members, "
                "exploit/explore every --interval epochs")


def explore(vector: Sequence[int], draws: Draws) -> tuple[int, ...]:
    """PBA's perturbation: each value is drawn afresh with probability 0.2, else moved up or down
    by 0..3, within 0..10."""
    out = []
    for value in vector:
        if draws.uniform() < RESAMPLE:
            out.append(draws.randint(MAX_LEVEL + 1))
        else:
            shift = SHIFTS[draws.randint(len(SHIFTS))] * (1 if draws.uniform() < 0.5 else -1)
            out.append(min(MAX_LEVEL, max(0, value + shift)))
    return tuple(out)


class _Paused(Exception):  # noqa: N818  (control flow, not an error: the member trained its epoch)
    """Ends a member's call to ``fit`` after one epoch; its checkpoint holds the state."""


@dataclass
class Member:
    """One proxy of the population: its policy history (phases), its scores per epoch, and how
    often it copied another member."""

    phases: list[tuple[int, tuple[int, ...]]]
    scores: dict[int, float] = field(default_factory=dict)
    accuracy: float = 0.0
    loss: float = 0.0
    exploits: int = 0

    @property
    def vector(self) -> tuple[int, ...]:
        return self.phases[-1][1]

    def to_json(self) -> dict[str, Any]:
        return {"phases": [[s, list(v)] for s, v in self.phases], "scores": {str(k): v for k, v in self.scores.items()},
                "accuracy": self.accuracy, "loss": self.loss, "exploits": self.exploits}

    def schedule(self, epochs: int, *, source: str | None = None) -> Schedule:
        """The member's policy history as a schedule over ``epochs``."""
        return Schedule([Phase(s, v) for s, v in _merged(self.phases)], epochs=epochs, source=source)

    def trial(self, split: int, repeat: int, number: int, *, size: int, epochs: int) -> Trial:
        """The member's record: its final policy as params, its policy history as the candidate."""
        schedule = self.schedule(epochs, source=f"augsearch PBA search, member {number} of {size}")
        metrics = {"accuracy": self.accuracy, "loss": self.loss, "epochs": epochs, "exploits": self.exploits,
                   **{epoch_key(e): s for e, s in sorted(self.scores.items())}}
        return Trial(split, repeat, number, dict(zip(param_names(), self.vector)), schedule.to_config(),
                     self.scores[epochs], metrics=metrics)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Member:
        return cls([(int(s), tuple(v)) for s, v in data["phases"]], {int(k): v for k, v in data["scores"].items()},
                   data["accuracy"], data["loss"], data["exploits"])


def state_name(split: int, repeat: int, suffix: str) -> str:
    return f"population/split{split}-repeat{repeat}{suffix}"


# A round's weights go to the slot the last state does not name, and the state that names them is
# written after them: a crash while writing leaves the last state and its weights whole.
SLOTS = ("", "-b")


def member_name(split: int, repeat: int, member: int, slot: str) -> str:
    return state_name(split, repeat, f"-member{member}{slot}.pt")


def run_population(split: Split, *, objective: TrainEvaluate, store: Store, size: int, interval: int, seed: int,
                   repeat: int, device: torch.device, record: Sequence[int]) -> None:
    """Train a population of ``size`` members for ``objective.epochs`` epochs on the split (or
    what remains of it), then record the members numbered in ``record`` as trials."""
    epochs = objective.epochs
    recipe = objective.recipe(split)
    state_file = state_name(split.index, repeat, ".json")
    saved = store.read_bytes(state_file)
    weights: dict[int, bytes] = {}
    if saved is None:
        done, members, events, slot = 0, [Member([(0, (0,) * VECTOR_LENGTH)]) for _ in range(size)], [], SLOTS[1]
    else:
        state = json.loads(saved)
        done, members, events = state["epoch"], [Member.from_json(m) for m in state["members"]], state["events"]
        slot = state.get("slot", SLOTS[0])
        for i in range(size):
            weights[i] = store.read_bytes(member_name(split.index, repeat, i, slot))
            if weights[i] is None:
                raise ConfigError(f"{member_name(split.index, repeat, i, slot)}: missing, although {state_file} "
                                  "names it; remove population/ to train this population again")
    draws = Draws(torch.Generator().manual_seed(seed * 7919 + done))
    for epoch in range(done, epochs):
        for i, member in enumerate(members):
            weights[i] = train_one_epoch(member, weights.get(i), objective=objective, recipe=recipe,
                                         split=split, seed=seed + i, device=device)
        if (epoch + 1) % interval == 0 and epoch + 1 < epochs:
            ranked = sorted(range(size), key=lambda i: (-members[i].scores[epoch + 1], i))
            cut = max(1, int(size * QUANTILE)) if size > 1 else 0
            for worst, best in zip(ranked[::-1][:cut], ranked[:cut]):
                old = members[worst].vector
                new = explore(members[best].vector, draws)
                members[worst] = Member([*members[best].phases, (epoch + 1, new)], dict(members[best].scores),
                                        members[best].accuracy, members[best].loss, members[best].exploits + 1)
                weights[worst] = weights[best]
                events.append([worst, best, epoch + 1, epoch + 1, list(old), list(new)])
        slot = SLOTS[1 - SLOTS.index(slot)]
        for i in range(size):
            store.write_bytes(member_name(split.index, repeat, i, slot), weights[i])
        store.write_bytes(state_file, json.dumps({"epoch": epoch + 1, "slot": slot, "events": events,
                                                  "members": [m.to_json() for m in members]}).encode())
    for number in record:
        store.append_trial(members[number].trial(split.index, repeat, number, size=size, epochs=epochs))


def _merged(phases: list[tuple[int, tuple[int, ...]]]) -> list[tuple[int, tuple[int, ...]]]:
    """Phases with consecutive repeats of one policy joined, and a later phase at the same start winning."""
    out: list[tuple[int, tuple[int, ...]]] = []
    for start, vector in phases:
        if out and out[-1][0] == start:
            out[-1] = (start, vector)
        elif not out or out[-1][1] != vector:
            out.append((start, vector))
    return out


def train_one_epoch(member: Member, weights: bytes | None, *, objective: TrainEvaluate, recipe: Recipe,
                    split: Split, seed: int, device: torch.device) -> bytes:
    """Train ``member`` one more epoch from ``weights`` (a fit checkpoint; none: from scratch) and
    return the new checkpoint."""
    schedule = member.schedule(recipe.epochs)
    model, (augment, mix, views) = objective.proxy(schedule, split)

    def pause(metrics: dict) -> None:
        value = objective.value(metrics)
        member.scores[metrics["epoch"]] = value if math.isfinite(value) else -math.inf
        member.accuracy, member.loss = metrics["test_acc"], metrics["test_loss"]
        raise _Paused

    with tempfile.TemporaryDirectory(prefix="augsearch-member-") as folder:
        checkpoint = Path(folder) / "member.pt"
        if weights is not None:
            checkpoint.write_bytes(weights)
        try:
            fit(model, split.model_data, recipe, device=device, seed=seed, augment=augment, mix=mix, views=views,
                evaluate_on=split.augment_data, on_epoch=pause, checkpoint=checkpoint,
                epoch_start=schedule.set_epoch)
        except _Paused:
            pass
        return checkpoint.read_bytes()

