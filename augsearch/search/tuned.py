"""Trained searches on Ray Tune: every candidate is one Tune trial that trains and reports after
each epoch, so Tune's ASHA scheduler stops the weak ones early, with the space's sampler asked
and told by a Tune searcher (or its grid enumerated); PBA's population runs under Tune's
PopulationBasedTraining. The driver alone writes the run directory: a Tune callback, which runs
in the driver, appends each finished trial's record.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
from ray.tune.search import Searcher

from augsearch.draws import Draws
from augsearch.errors import first_line
from augsearch.jobs.engines import Resources, ray_cluster, ray_trainable, ray_worker_device, tune_storage
from augsearch.schedule import VECTOR_LENGTH
from augsearch.search.population import QUANTILE, Member, explore, train_one_epoch
from augsearch.search.rundir import RunDir, Trial
from augsearch.search.runners import SplitWork
from augsearch.search.study import ChannelStore, evaluate_trial, expected_trials, resumed_study, seed_of
from augsearch.search.trained import epoch_key


def run_tune(todo: Sequence[int], work: SplitWork, resources: Resources) -> None:
    """Each unfinished (split, repeat) search of ``work`` as one Tune experiment of candidate trials."""
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # a failed candidate reports no score

    run = RunDir(work.run_path)
    epochs = work.objective.candidate_epochs
    with ray_cluster(work, resources):
        for split in todo:
            for repeat in range(work.budget.repeats):
                done = {t.trial: t for t in run.trials() if t.split == split and t.repeat == repeat}
                missing = [n for n in range(expected_trials(work.space, work.budget)) if n not in done]
                if not missing:
                    continue
                recorder = _Recorder(work, run, split=split, repeat=repeat)
                trainable = ray_trainable(_candidate, resources, work=work, split=split, repeat=repeat)
                scheduler = ASHAScheduler(metric="score", mode="max", max_t=epochs,
                                          grace_period=min(work.budget.grace_epochs, epochs),
                                          reduction_factor=work.budget.reduction)
                tuner = tune.Tuner(
                    trainable,
                    tune_config=tune.TuneConfig(search_alg=_searcher(work, split, repeat, done, missing),
                                                scheduler=scheduler, num_samples=len(missing)),
                    run_config=tune.RunConfig(name=f"split{split}-repeat{repeat}", storage_path=tune_storage(work),
                                              verbose=0, log_to_file=True, callbacks=[recorder],
                                              failure_config=tune.FailureConfig(max_failures=0)))
                tuner.fit()


def _searcher(work: SplitWork, split: int, repeat: int, done: dict[int, Trial], missing: list[int]) -> Any:
    """A Tune searcher over the space: its grid in order, else its sampler (ask/tell) taught the
    finished trials first; every suggestion carries its trial number."""
    space, budget = work.space, work.budget
    grid = space.grid()
    if grid is not None:  # a seeded order, so that a budget smaller than the grid samples all of it
        random.Random(seed_of(budget.seed, split, repeat)).shuffle(grid)
    distributions = space.distributions()
    study = None
    if grid is None:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = resumed_study(space, budget, split=split, repeat=repeat, finished=done)

    class StudySearcher(Searcher):
        def __init__(self) -> None:
            super().__init__(metric="score", mode="max")
            self.numbers = list(missing)
            self.live: dict[str, optuna.Trial | None] = {}

        def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
            if not self.numbers:
                return Searcher.FINISHED
            number = self.numbers.pop(0)
            if study is None:
                self.live[trial_id] = None
                return {"number": number, "params": grid[number]}
            asked = study.ask(distributions)
            self.live[trial_id] = asked
            return {"number": number, "params": dict(asked.params)}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            asked = self.live.pop(trial_id, None)
            if asked is None or study is None:
                return
            score = (result or {}).get("score")
            ok = not error and isinstance(score, (int, float)) and math.isfinite(score)
            study.tell(asked, score if ok else None,
                       state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL)

    return StudySearcher()


def _candidate(config: dict[str, Any], *, work: SplitWork, split: int, repeat: int, cpus: float) -> None:
    """One candidate as a Tune trial: train, report every epoch, then report its finished record."""
    device = ray_worker_device(cpus)
    number = config["number"]
    scorer = work.objective.prepare(work.split(split), ChannelStore((), {}, None), device)

    def report(epoch: int, metrics: dict[str, float]) -> bool:
        tune.report({**metrics, "number": number})
        return False  # Tune's scheduler stops a trial itself

    record = evaluate_trial(config["params"], work.space, scorer, split=split, repeat=repeat, number=number,
                            seed=seed_of(work.budget.seed, split, repeat, number), report=report)
    tune.report({"record": record.to_json(), **({"score": record.score} if record.ok else {})})


class _Recorder(Callback):
    """Driver side: appends one record per finished Tune trial. A trial that ASHA stopped never
    sent its own record; it is written from its last epoch's report, marked ``stopped_early``."""

    def __init__(self, work: SplitWork, run: RunDir, *, split: int, repeat: int) -> None:
        self.work, self.run, self.split, self.repeat = work, run, split, repeat
        self.started: dict[str, float] = {}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.perf_counter()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.run.append_trial(self._record(trial, error=None))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = trial.get_error() if hasattr(trial, "get_error") else None
        text = first_line(error) if error is not None else "the trial's process failed"
        self.run.append_trial(self._record(trial, error=f"TuneError: {text}"))

    def _record(self, trial: Any, *, error: str | None) -> Trial:
        last = trial.last_result or {}
        if error is None and "record" in last:
            return Trial.from_record(json.loads(last["record"]))
        params = trial.config["params"]
        where = {"split": self.split, "repeat": self.repeat, "trial": trial.config["number"], "params": params}
        seconds = time.perf_counter() - self.started.get(trial.trial_id, time.perf_counter())
        candidate = self.work.space.candidate(params).to_config()
        if error is not None or "score" not in last:
            return Trial(**where, candidate=candidate, score=None, error=error or "the trial reported no score",
                         seconds=seconds)
        epochs = int(last["epochs"])
        metrics = {k: float(last[k]) for k in ("accuracy", "loss") if k in last}
        metrics |= {"epochs": epochs, "stopped_early": float(epochs < (self.work.objective.candidate_epochs or epochs))}
        metrics |= {epoch_key(e): float(last[epoch_key(e)]) for e in range(1, epochs + 1) if epoch_key(e) in last}
        return Trial(**where, candidate=candidate, score=float(last["score"]), metrics=metrics, seconds=seconds)


def run_tune_population(todo: Sequence[int], work: SplitWork, resources: Resources) -> None:
    """PBA on Ray Tune: each member of a split's population is a Tune trial that checkpoints every
    epoch; Tune's ``PopulationBasedTraining`` (synchronous rounds every ``--interval`` epochs, the
    worst quarter copying the best) exploits, PBA's perturbation explores. A population with any
    member unrecorded runs again whole (Tune cannot restart part of a population)."""
    run = RunDir(work.run_path)
    size = expected_trials(work.space, work.budget)
    with ray_cluster(work, resources):
        for split in todo:
            for repeat in range(work.budget.repeats):
                recorded = {t.trial for t in run.trials() if t.split == split and t.repeat == repeat}
                missing = set(range(size)) - recorded
                if not missing:
                    continue
                draws = Draws(torch.Generator().manual_seed(seed_of(work.budget.seed, split, repeat)))
                scheduler = PopulationBasedTraining(
                    time_attr="training_iteration", metric="score", mode="max",
                    perturbation_interval=work.budget.interval, quantile_fraction=QUANTILE, synch=True,
                    custom_explore_fn=functools.partial(_explored, draws=draws))
                trainable = ray_trainable(_member, resources, work=work, split=split)
                tuner = tune.Tuner(
                    trainable,
                    param_space={"seed": tune.grid_search([seed_of(work.budget.seed, split, repeat, i)
                                                           for i in range(size)]),
                                 "vector": [0] * VECTOR_LENGTH},
                    tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1),
                    run_config=tune.RunConfig(
                        name=f"population-split{split}-repeat{repeat}", storage_path=tune_storage(work), verbose=0,
                        # a member ends with its last epoch: PBT never copies into a finished member
                        stop={"training_iteration": work.objective.epochs},
                        log_to_file=True, callbacks=[_MemberRecorder(run, split=split, repeat=repeat, size=size,
                                                                     epochs=work.objective.epochs, record=missing)],
                        # a donor trains on up to --interval epochs before a copier restores its checkpoint
                        checkpoint_config=tune.CheckpointConfig(num_to_keep=work.budget.interval + 2),
                        failure_config=tune.FailureConfig(max_failures=0)))
                tuner.fit()


def _explored(config: dict[str, Any], *, draws: Draws) -> dict[str, Any]:
    """PBT's explore step: PBA's perturbation of the copied policy."""
    return {**config, "vector": list(explore(config["vector"], draws))}


def _member(config: dict[str, Any], *, work: SplitWork, split: int, cpus: float) -> None:
    """One member as a Tune trial: from its checkpoint (its own, or the one PBT copied into it) with
    the policy of its config, one epoch per report, a checkpoint with every report."""
    device = ray_worker_device(cpus)
    vector = tuple(config["vector"])
    member, weights = Member([(0, vector)]), None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            weights = (Path(folder) / "member.pt").read_bytes()
            member = Member.from_json(json.loads((Path(folder) / "member.json").read_text()))
        if vector != member.vector:  # PBT copied another member's state and explored its policy
            member.phases.append((len(member.scores), vector))
            member.exploits += 1
    data = work.split(split)
    recipe = work.objective.recipe(data)
    while len(member.scores) < recipe.epochs:
        weights = train_one_epoch(member, weights, objective=work.objective, recipe=recipe, split=data,
                                  seed=config["seed"], device=device)
        with tempfile.TemporaryDirectory(prefix="augsearch-member-") as folder:
            (Path(folder) / "member.pt").write_bytes(weights)
            (Path(folder) / "member.json").write_text(json.dumps(member.to_json()))
            epoch = len(member.scores)
            tune.report({"score": member.scores[epoch], "accuracy": member.accuracy, "loss": member.loss,
                         "epochs": epoch, "member": json.dumps(member.to_json())},
                        checkpoint=tune.Checkpoint.from_directory(folder))


class _MemberRecorder(Callback):
    """Driver side: records each finished member, numbered by the order Tune created them."""

    def __init__(self, run: RunDir, *, split: int, repeat: int, size: int, epochs: int, record: set[int]) -> None:
        self.run, self.split, self.repeat, self.record = run, split, repeat, record
        self.size, self.epochs = size, epochs

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        number = trials.index(trial)
        if number in self.record:
            member = Member.from_json(json.loads(trial.last_result["member"]))
            self.run.append_trial(member.trial(self.split, self.repeat, number, size=self.size, epochs=self.epochs))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        number = trials.index(trial)
        if number in self.record:
            error = trial.get_error() if hasattr(trial, "get_error") else None
            text = first_line(error) if error is not None else "the member's process failed"
            self.run.append_trial(Trial(self.split, self.repeat, number, {}, None, None, error=f"TuneError: {text}"))
