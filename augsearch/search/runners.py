"""How a search's splits run: the runner a space declares for its objective (:meth:`Space.runner`),
and :class:`SplitWork`, the picklable work whose tasks are the splits.

- ``study``: the space's sampler proposes, the objective scores, one candidate after another
  (density matching: a proxy per split, candidates scored without training);
- ``trials``: the same, where every candidate trains a model, so successive halving stops the weak
  ones early;
- ``population``: PBA's population of proxies, trained together while their policies evolve.

In one process a runner searches one split (:meth:`Runner.search_split`: what every engine's split
task calls). An engine that runs a runner's searches its own way is named in :attr:`Runner.engines`
(Ray Tune's ASHA and PBT schedulers); any other engine runs each split as one task. A new runner
is one more class with ``@RUNNERS.register``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import optuna
import torch

from augsearch.data import ImageSet
from augsearch.jobs.engines import ENGINES, Engine
from augsearch.registry import Registry
from augsearch.search.population import SLOTS, member_name, run_population, state_name
from augsearch.search.protocols import Objective, Space, Split
from augsearch.search.rundir import RunDir, Store, Trial, proxy_name
from augsearch.search.study import (
    Budget,
    ChannelStore,
    evaluate_trial,
    expected_trials,
    resumed_study,
    seed_of,
    suggest,
)
from augsearch.search.trained import Halving, TrainEvaluate


class Runner(ABC):
    """How one split's candidates are searched."""

    engines: ClassVar[Mapping[str, str]] = {}
    """Engines with a way of their own to run this runner's searches, as ``module:function``
    (imported when used); any other engine runs each split as one task."""
    waiting: ClassVar[str] = "preparing each split (its proxy) first"
    """What the progress display says before the first trial is recorded."""

    @abstractmethod
    def search_split(self, split: Split, *, space: Space, objective: Objective, budget: Budget, store: Store,
                     device: torch.device) -> None:
        """Run the split's ``repeats`` searches in this process, recording each trial in ``store``;
        what ``store`` holds already is not done again."""

    def engine(self, name: str) -> Engine:
        """What runs this runner's searches on engine ``name``."""
        target = self.engines.get(name)
        if target is None:
            return ENGINES.get(name)
        module, function = target.split(":")
        return getattr(importlib.import_module(module), function)


RUNNERS: Registry[type[Runner]] = Registry("runner")


class _CandidateFailedError(Exception):
    """A candidate that failed: recorded in the run directory already."""


@RUNNERS.register("study")
class StudyRunner(Runner):
    """An Optuna study per (split, repeat): the objective prepares the split once, then scores
    the sampler's candidates one after another."""

    def halving(self, objective: Objective, budget: Budget, finished: Sequence[Trial]) -> Halving | None:
        """The early-stopping rule of a search, knowing what ``finished`` recorded (none here)."""
        return None

    def search_split(self, split: Split, *, space: Space, objective: Objective, budget: Budget, store: Store,
                     device: torch.device) -> None:
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # no log line per trial from optuna, failed ones included
        logging.getLogger("optuna").propagate = False
        done = [t for t in store.trials() if t.split == split.index]
        scorer = objective.prepare(split, store, device)
        distributions = space.distributions()
        size = expected_trials(space, budget)
        for repeat in range(budget.repeats):
            finished = {t.trial: t for t in done if t.repeat == repeat}
            study = resumed_study(space, budget, split=split.index, repeat=repeat, finished=finished)
            halving = self.halving(objective, budget, list(finished.values()))
            # the missing keys, not a count: a gap left by a crash is filled, a finished trial never redone
            missing = iter([n for n in range(size) if n not in finished])

            def attempt(trial: optuna.Trial, repeat: int = repeat, missing: Iterator[int] = missing,
                        halving: Halving | None = halving) -> float:
                number = next(missing)
                record = evaluate_trial(suggest(trial, distributions), space, scorer, split=split.index,
                                        repeat=repeat, number=number,
                                        seed=seed_of(budget.seed, split.index, repeat, number),
                                        report=None if halving is None else halving.report)
                store.append_trial(record)
                if not record.ok:
                    raise _CandidateFailedError  # optuna records the trial as failed
                return record.score

            # optimize, not ask/tell: samplers that end a study themselves (grid, brute force) need its loop
            study.optimize(attempt, n_trials=max(0, size - len(finished)), catch=(_CandidateFailedError,))


@RUNNERS.register("trials")
class TrialsRunner(StudyRunner):
    """A study whose candidates each train a model: successive halving stops the weak ones early
    (in-process), or each candidate is a Ray Tune trial under Tune's ASHA scheduler."""

    engines = {"ray": "augsearch.search.tuned:run_tune"}
    waiting = "each candidate trains a proxy"

    def halving(self, objective: Objective, budget: Budget, finished: Sequence[Trial]) -> Halving:
        epochs = objective.candidate_epochs
        if epochs is None:
            raise TypeError(f"the trials runner needs an objective that trains, not {type(objective).__name__}")
        return Halving(epochs, budget.grace_epochs, budget.reduction).replay(finished)


@RUNNERS.register("population")
class PopulationRunner(Runner):
    """PBA's population of ``--trials`` proxies per (split, repeat), trained round by round with
    exploit and explore (in-process), or as Ray Tune trials under Tune's PopulationBasedTraining."""

    engines = {"ray": "augsearch.search.tuned:run_tune_population"}
    waiting = "the population trains its proxies"

    def search_split(self, split: Split, *, space: Space, objective: Objective, budget: Budget, store: Store,
                     device: torch.device) -> None:
        if not isinstance(objective, TrainEvaluate):
            raise TypeError(f"a population trains with the train-evaluate objective, not {type(objective).__name__}")
        done = [t for t in store.trials() if t.split == split.index]
        size = expected_trials(space, budget)
        for repeat in range(budget.repeats):
            missing = sorted(set(range(size)) - {t.trial for t in done if t.repeat == repeat})
            if missing:
                run_population(split, objective=objective, store=store, size=size, interval=budget.interval,
                               seed=seed_of(budget.seed, split.index, repeat), repeat=repeat, device=device,
                               record=missing)


@dataclass(frozen=True)
class SplitWork:
    """Everything a search's splits need, picklable, so any engine can run them anywhere: task ``k``
    searches split ``k`` with the space's runner, recording through ``store`` (the run directory
    unless an engine made it :meth:`remote`)."""

    data: ImageSet
    splits: Sequence[tuple[torch.Tensor, torch.Tensor]]
    space: Space
    objective: Objective
    budget: Budget
    run_path: str
    store: Store | None = None

    @property
    def runner(self) -> Runner:
        """The runner the space declares for the objective."""
        return RUNNERS.get(self.space.runner(self.objective))()

    @property
    def nbytes(self) -> int:
        return self.data.images.numel()

    def split(self, k: int) -> Split:
        model_idx, augment_idx = self.splits[k]
        return Split(k, self.data.subset(model_idx), self.data.subset(augment_idx))

    def __call__(self, k: int, device: torch.device) -> None:
        self.runner.search_split(self.split(k), space=self.space, objective=self.objective, budget=self.budget,
                                 store=self.store or RunDir(self.run_path), device=device)

    def remote(self, channel: Any) -> SplitWork:
        """This work for workers that send what they record through ``channel``, with what the run
        holds now (finished trials, proxies) shipped along."""
        run = RunDir(self.run_path)
        files = {name: data for name in self._files() if (data := run.read_bytes(name)) is not None}
        return dataclasses.replace(self, store=ChannelStore(tuple(run.trials()), files, channel))

    def _files(self) -> set[str]:
        """The files a task may write besides its trials: its split's proxy, or its population's state."""
        return ({proxy_name(k, suffix) for k in range(len(self.splits)) for suffix in (".json", ".pt")}
                | {state_name(k, r, ".json") for k in range(len(self.splits)) for r in range(self.budget.repeats)}
                | {member_name(k, r, i, slot) for k in range(len(self.splits)) for r in range(self.budget.repeats)
                   for i in range(self.budget.trials) for slot in SLOTS})

    def record(self, item: tuple) -> None:
        """Write one item a worker sent (driver side)."""
        run = RunDir(self.run_path)
        if item[0] == "trial":
            run.append_trial(Trial.from_record(json.loads(item[1])))
        elif item[0] == "file" and item[1] in self._files():
            run.write_bytes(item[1], item[2])
        else:
            raise ValueError(f"a worker sent an unknown record: {str(item)[:80]}")
