"""One split's search: the space's sampler proposes, the objective scores, the run directory
records. Every trial is appended as it finishes, so a resumed split replays its finished trials
into the sampler and redoes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import traceback
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from augsearch.data import ImageSet
from augsearch.errors import AugsearchError, first_line
from augsearch.policy import PolicyData
from augsearch.search.population import run_population, state_name
from augsearch.search.protocols import Objective, Scorer, Space, Split
from augsearch.search.rundir import RunDir, Store, Trial, proxy_name
from augsearch.search.trained import Halving, Report, TrainEvaluate


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

    def halving(self, objective: Objective, trials: Sequence[Trial]) -> Halving | None:
        """Early stopping for an objective that trains, knowing what ``trials`` recorded; else ``None``."""
        epochs = getattr(objective, "epochs", None)
        return None if epochs is None else Halving(epochs, self.grace_epochs, self.reduction).replay(trials)


def search_split(split: Split, *, space: Space, objective: Objective, budget: Budget, run: Store,
                 device: torch.device | str = "cpu") -> None:
    """Prepare the objective on the split, then run ``repeats`` searches of ``trials`` candidates."""
    device = torch.device(device)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # no log line per trial from optuna, failed ones included
    logging.getLogger("optuna").propagate = False
    done = [t for t in run.trials() if t.split == split.index]
    if getattr(space, "population", False):
        if not isinstance(objective, TrainEvaluate):
            raise AugsearchError(f"the {space.name} space trains a population: it needs --objective train-evaluate")
        size = expected_trials(space, budget)
        for repeat in range(budget.repeats):
            missing = sorted(set(range(size)) - {t.trial for t in done if t.repeat == repeat})
            if missing:
                run_population(split, objective=objective, store=run, size=size, interval=budget.interval,
                               seed=seed_of(budget.seed, split.index, repeat), repeat=repeat, device=device,
                               record=missing)
        return
    scorer = objective.prepare(split, run, device)
    distributions = space.distributions()
    for repeat in range(budget.repeats):
        finished = {t.trial: t for t in done if t.repeat == repeat}
        study = resumed_study(space, budget, split=split.index, repeat=repeat, finished=finished)
        halving = budget.halving(objective, finished.values())
        # the missing keys, not a count: a gap left by a crash is filled, a finished trial never redone
        missing = iter([n for n in range(expected_trials(space, budget)) if n not in finished])

        def attempt(trial: optuna.Trial, repeat: int = repeat, missing: Iterator[int] = missing,
                    halving: Halving | None = halving) -> float:
            number = next(missing)
            record = evaluate_trial(suggest(trial, distributions), space, scorer, split=split.index, repeat=repeat,
                                    number=number, seed=seed_of(budget.seed, split.index, repeat, number),
                                    report=None if halving is None else halving.report)
            run.append_trial(record)
            if not record.ok:
                raise _CandidateFailedError  # optuna records the trial as failed
            return record.score

        # optimize, not ask/tell: samplers that end a study themselves (grid, brute force) need its loop
        remaining = expected_trials(space, budget) - len(finished)
        study.optimize(attempt, n_trials=max(0, remaining), catch=(_CandidateFailedError,))


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
    return study


class _CandidateFailedError(Exception):
    """A candidate that failed: recorded in the run directory already."""


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
        result = dict(scorer(candidate, seed) if report is None else scorer(candidate, seed, report=report))
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


@dataclass(frozen=True)
class SplitWork:
    """Everything one split's search needs, picklable, so any engine can run it anywhere; it
    records through ``store`` (the run directory unless an engine made it :meth:`remote`)."""

    data: ImageSet
    splits: Sequence[tuple[torch.Tensor, torch.Tensor]]
    space: Space
    objective: Objective
    budget: Budget
    run_path: str
    store: Store | None = None

    @property
    def nbytes(self) -> int:
        return self.data.images.numel()

    def split(self, k: int) -> Split:
        model_idx, augment_idx = self.splits[k]
        return Split(k, self.data.subset(model_idx), self.data.subset(augment_idx))

    def __call__(self, k: int, device: torch.device) -> None:
        search_split(self.split(k), space=self.space, objective=self.objective, budget=self.budget,
                     run=self.store or RunDir(self.run_path), device=device)

    def remote(self, channel: Any) -> SplitWork:
        """This work for workers that send what they record through ``channel``, with what the run
        holds now (finished trials, proxies) shipped along."""
        run = RunDir(self.run_path)
        files = {name: data for name in self._files() if (data := run.read_bytes(name)) is not None}
        return dataclasses.replace(self, store=ChannelStore(tuple(run.trials()), files, channel))

    def _files(self) -> set[str]:
        """The files a task writes besides its trials: its split's proxy, or its population's state."""
        population = getattr(self.space, "population", False)
        members = [f"-member{i}.pt" for i in range(self.budget.trials)] if population else []
        return ({proxy_name(k, suffix) for k in range(len(self.splits)) for suffix in (".json", ".pt")}
                | {state_name(k, r, suffix) for k in range(len(self.splits)) for r in range(self.budget.repeats)
                   for suffix in (".json", *members)})

    def record(self, item: tuple) -> None:
        """Write one item a worker sent (driver side)."""
        run = RunDir(self.run_path)
        if item[0] == "trial":
            run.append_trial(Trial.from_record(json.loads(item[1])))
        elif item[0] == "file" and item[1] in self._files():
            run.write_bytes(item[1], item[2])
        else:
            raise ValueError(f"a worker sent an unknown record: {str(item)[:80]}")
