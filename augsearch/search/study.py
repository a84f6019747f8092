"""The parts of one split's search that every runner shares: the budget, the seeded and resumed
sampler, one candidate's evaluation into a trial record, the kept candidates, and the store a
task on another machine records through. Every trial is appended as it finishes, so a resumed
split replays its finished trials into the sampler and redoes nothing.
"""

from __future__ import annotations

import json
import math
import time
import traceback
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from augsearch.errors import AugsearchError, first_line
from augsearch.policy import PolicyData
from augsearch.search.protocols import Report, Scorer, Space
from augsearch.search.rundir import Trial


@dataclass(frozen=True)
class Budget:
    """How many candidates each split's searches propose, and how the sampler starts."""

    trials: int
    repeats: int
    startup_trials: int
    seed: int
    grace_epochs: int = 1
    reduction: float = 3.0
    interval: int = 3


def resumed_study(space: Space, budget: Budget, *, split: int, repeat: int,
                  finished: Mapping[int, Trial]) -> optuna.Study:
    """A (split, repeat) search's study with the space's seeded sampler, taught the ``finished``
    trials first, in trial order, so that a resumed search proposes what the uninterrupted one would."""
    sampler = space.sampler(seed=seed_of(budget.seed, split, repeat), startup_trials=budget.startup_trials)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    distributions = space.distributions()
    for number in sorted(finished):
        record = finished[number]
        study.add_trial(optuna.trial.create_trial(
            params=record.params, distributions=distributions, value=record.score,
            state=optuna.trial.TrialState.COMPLETE if record.ok else optuna.trial.TrialState.FAIL))
    for number, params in enumerate(space.start()):  # the space's first points, where not tried yet
        if number not in finished:
            study.enqueue_trial(params)
    return study


def expected_trials(space: Space, budget: Budget) -> int:
    """Trials per search: the budget, or all of a finite space when it holds fewer candidates."""
    size = space.size()
    return budget.trials if size is None else min(budget.trials, size)


def suggest(trial: optuna.Trial, distributions: dict[str, optuna.distributions.BaseDistribution]) -> dict:
    """Let ``trial`` sample every parameter of ``distributions``, in order."""
    for name, d in distributions.items():
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            trial.suggest_categorical(name, d.choices)
        elif isinstance(d, optuna.distributions.IntDistribution):
            trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, optuna.distributions.FloatDistribution):
            trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
        else:
            raise TypeError(f"unsupported distribution for {name}: {d!r}")
    return dict(trial.params)


def evaluate_trial(params: dict, space: Space, scorer: Scorer, *, split: int, repeat: int, number: int,
                   seed: int, report: Report | None = None) -> Trial:
    """Build and score one candidate; a failing candidate is a recorded failure, not a crash."""
    start = time.perf_counter()
    where = {"split": split, "repeat": repeat, "trial": number, "params": params}
    candidate = None
    try:
        candidate = space.candidate(params)
        result = dict(scorer(candidate, seed, report=report))
        score = result.pop("score")
        if not math.isfinite(score):  # optuna refuses NaN, and JSON has no infinities
            raise AugsearchError(f"the candidate's score is {score} ({result})")
        return Trial(**where, candidate=candidate.to_config(), score=score, metrics=result,
                     seconds=time.perf_counter() - start)
    except (AugsearchError, RuntimeError, ValueError, TypeError) as err:  # the search goes on
        return Trial(**where, candidate=None if candidate is None else candidate.to_config(), score=None,
                     error=f"{type(err).__name__}: {first_line(err)}", seconds=time.perf_counter() - start,
                     traceback=None if isinstance(err, AugsearchError) else traceback.format_exc(limit=3))


def seed_of(*parts: int) -> int:
    """A stable seed for one (run seed, split, repeat[, trial]) combination."""
    return zlib.crc32(json.dumps(parts).encode())


def kept(trials: Sequence[Trial], *, top_n: int) -> list[PolicyData]:
    """The best ``top_n`` candidates of every (split, repeat) search, in (split, repeat) order and
    best first within each (ties: the earlier trial)."""
    groups: dict[tuple[int, int], list[Trial]] = {}
    for t in trials:
        if t.ok:
            groups.setdefault((t.split, t.repeat), []).append(t)
    best = [t for key in sorted(groups) for t in sorted(groups[key], key=lambda t: (-t.score, t.trial))[:top_n]]
    return [t.policy() for t in best]


@dataclass(frozen=True)
class ChannelStore:
    """A task's view of its run on a Ray worker: what was finished when the task was shipped, and a
    channel (anything with ``put``, e.g. a Ray queue) to the driver, which alone writes the run
    directory, so the workers need no filesystem in common with it."""

    finished: tuple[Trial, ...]
    files: Mapping[str, bytes]
    channel: Any

    def trials(self) -> list[Trial]:
        return list(self.finished)

    def append_trial(self, trial: Trial) -> None:
        self.channel.put(("trial", trial.to_json()))

    def read_bytes(self, name: str) -> bytes | None:
        return self.files.get(name)

    def write_bytes(self, name: str, data: bytes) -> None:
        self.channel.put(("file", name, data))
