"""``augsearch run``: from a dataset to a policy file, through the run directory.

This is where a search is composed from its configuration: the space, the objective and the
engine are looked up by name and each is built from the few options it takes.
"""

from __future__ import annotations

import collections
import json
import platform
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from augsearch.data import TrainTest, load_train_test, stratified_splits
from augsearch.errors import ConfigError, first_line
from augsearch.jobs.engines import ENGINES, Resources
from augsearch.models import build_model
from augsearch.policy import Policy, PolicyData
from augsearch.registry import build
from augsearch.search.config import RunConfig, load_run_config
from augsearch.search.history import write_journal
from augsearch.search.objectives import OBJECTIVES
from augsearch.search.progress import Progress, TrialScalars
from augsearch.search.rundir import RunDir, Trial
from augsearch.search.runners import SplitWork
from augsearch.search.spaces import SPACES
from augsearch.search.study import Budget, expected_trials, kept


def search(cfg: RunConfig, *, resume: bool = False, quiet: bool = False, tensorboard: Path | None = None) -> RunDir:
    """Run (or continue) the search ``cfg`` describes; returns the finished run directory.
    ``tensorboard``: a folder for the trials' TensorBoard scalars (:mod:`augsearch.loggers`)."""
    run = RunDir(cfg.out)
    if resume:
        load_run_config(run.path)  # refuse a directory that holds no run before locking (and creating) it
    with run.locked():
        if resume:
            run.check_sealed()
            cfg = load_run_config(run.path)
            run.drop_torn_tail()
        options = cfg.to_dict()
        space = build(SPACES.get(cfg.space), options)
        objective = build(OBJECTIVES.get(cfg.objective), options)
        start = time.perf_counter()
        parts = held_out(cfg)
        data = parts.train
        if len(data.classes) < 2:
            raise ConfigError(f"{cfg.dataset}: a search needs at least 2 classes, found {len(data.classes)}")
        _check_before_writing(cfg, classes=len(data.classes), image_size=data.images.shape[-1])
        space = space.adapt(data)
        if not resume:
            run.create(options)  # only once the data loads, so a fixed command can reuse the same --out
            run.seal(run.config_file)
            run.write_json(run.holdout_file, parts.holdout)
        elif run.holdout_file.exists() and run.read_json(run.holdout_file) != parts.holdout:
            raise ConfigError(f"{run.holdout_file}: the held-out part recorded there is not the one the data gives "
                              "now: the dataset changed since the search started")
        splits = stratified_splits(data.labels, n_splits=cfg.folds, train_fraction=cfg.train_fraction, seed=cfg.seed)
        budget = Budget(trials=cfg.trials, repeats=cfg.repeats, startup_trials=cfg.startup_trials, seed=cfg.seed,
                        grace_epochs=cfg.grace_epochs, reduction=cfg.reduction, interval=cfg.interval)
        work = SplitWork(data, splits, space, objective, budget, str(run.path.resolve()))
        per_search = expected_trials(space, budget)
        per_split = per_search * cfg.repeats
        todo = _unfinished(run, folds=cfg.folds, repeats=cfg.repeats, per_search=per_search)
        runner = work.runner
        try:
            with Progress(run, folds=cfg.folds, per_split=per_split, quiet=quiet, first=runner.waiting), \
                    TrialScalars(run, tensorboard, per_search=per_search):
                if todo:
                    runner.engine(cfg.engine)(todo, work, Resources(cfg.cpus_per_trial, cfg.gpus_per_trial,
                                                                    cfg.address))
        except KeyboardInterrupt:
            pass  # the engine stopped early: say how far it got, below
        if _unfinished(run, folds=cfg.folds, repeats=cfg.repeats, per_search=per_search):  # stopped early
            raise KeyboardInterrupt(f"{len(run.trials())} of {cfg.folds * per_split} trials are "
                                    f"saved; continue with: augsearch run --resume {run.path}")
        trials = run.trials()
        best = kept(trials, top_n=cfg.top_n)
        if not best:
            reasons = collections.Counter(first_line(t.error or "no score") for t in trials)
            reason, count = reasons.most_common(1)[0]
            raise ConfigError(f"every trial failed ({count} of {len(trials)}: {reason}); see the errors in "
                              f"{run.trials_file}")
        policy = space.combine(best, source=f"augsearch {cfg.space} search on {cfg.dataset} with {cfg.model} "
                                            f"({run.path.name})")
        policy.save(run.policy_file)
        write_journal(run.path / "optuna.journal", trials, space, options)
        at_random = (isinstance(space.sampler(seed=cfg.seed, startup_trials=cfg.startup_trials),
                                optuna.samplers.TPESampler) and cfg.startup_trials >= cfg.trials)
        run.write_json(run.summary_file, _summary(cfg, run, trials, policy, time.perf_counter() - start,
                                                  classes=len(data.classes), at_random=at_random))
    return run


def held_out(cfg: RunConfig) -> TrainTest:
    """The search's data and the held-out part no proxy and no score sees (for ``augsearch compare``)."""
    return load_train_test(cfg.dataset, val=cfg.val, val_fraction=cfg.test_fraction, seed=cfg.seed,
                           data_root=cfg.data_root, image_size=cfg.image_size, subset=cfg.subset,
                           skip_bad=cfg.skip_bad)


def _check_before_writing(cfg: RunConfig, *, classes: int, image_size: int) -> None:
    """What would only fail later, refused before the run directory holds anything: a model that
    cannot take these images, resources the engine cannot provide (Ray would wait for them forever)."""
    build_model(cfg.model, num_classes=classes, image_size=image_size)
    ENGINES.get(cfg.engine).check(Resources(cfg.cpus_per_trial, cfg.gpus_per_trial, cfg.address))


def _unfinished(run: RunDir, *, folds: int, repeats: int, per_search: int) -> list[int]:
    """The splits with a (repeat, trial) key that has no record yet."""
    have = {(t.split, t.repeat, t.trial) for t in run.trials()}
    return [k for k in range(folds)
            if any((k, r, n) not in have for r in range(repeats) for n in range(per_search))]


NEAR_CHANCE = 0.25
"""A proxy warns when its clean D_A accuracy is below chance + NEAR_CHANCE * (1 - chance) (0.325 on
10 classes, 0.625 on 2): a candidate's score is how much of the proxy's recognition survives the
augmentation, so a proxy that covers less than a quarter of the way from chance to perfect leaves
the scores too little room to fall, and their differences are mostly noise."""

SATURATED = 0.98
"""Accuracy-like scores (best-of-k, accuracy) warn when their median is at least SATURATED: the
better half of the candidates then differs by at most 2 % of D_A (11 of the digits' 575 images),
a few binomial standard deviations of one score (0.006 there, 0.013 on 120 images), so their
ranking rests on a handful of images. The default digits search lands here (median ~0.984).
Loss scores are unbounded and do not saturate this way."""


def proxy_warnings(clean_accuracy: Mapping[Any, float], chance: float, median_score: float | None,
                   rule: str, *, best_trained: float | None = None) -> list[str]:
    """Plain sentences on what makes a search's scores uninformative, each with what to change:
    a proxy near chance (``clean_accuracy``: split -> its clean D_A accuracy; ``best_trained``: the
    best held-out accuracy of the candidates of a search that trains each), or accuracy-like scores
    (``rule``) whose median is saturated near 1.0. Empty when nothing is wrong."""
    floor = chance + NEAR_CHANCE * (1 - chance)
    found = [f"the proxy of split {k} is near chance (acc {acc:.2f}, chance {chance:.2f}): train it longer "
             f"(--epochs), use a larger model (--model) or check the data"
             for k, acc in clean_accuracy.items() if acc < floor]
    if best_trained is not None and best_trained < floor:
        found.append(f"every candidate's proxy is near chance (best held-out accuracy {best_trained:.2f}, chance "
                     f"{chance:.2f}): the proxies learn too little to tell candidates apart; train them longer "
                     f"(--epochs), use a larger model (--model) or check the data")
    if rule in ("best-of-k", "accuracy") and median_score is not None and median_score >= SATURATED:
        draws = ", fewer --draws (best-of-k counts an image right when any draw is)" if rule == "best-of-k" else ""
        found.append(f"candidate scores are saturated near 1.0 (median {median_score:.3f}): the proxy cannot "
                     f"tell candidates apart; try --score loss{draws} or a harder dataset")
    return found


def _summary(cfg: RunConfig, run: RunDir, trials: list[Trial], policy: PolicyData, wall: float, *,
             classes: int, at_random: bool = False) -> dict[str, Any]:
    """``summary.json``. ``at_random``: TPE never left its random start (no kept-versus-random comparison)."""
    ok = [t for t in trials if t.ok]
    records = {k: json.loads(p.read_text()) for k in range(cfg.folds) if (p := run.proxy_metrics(k)).exists()}
    proxies = list(records.values())
    clean = {str(k): r["holdout_accuracy"] for k, r in records.items()
             if isinstance(r.get("holdout_accuracy"), (int, float))}
    scores = [t.score for t in ok]
    median = statistics.median(scores) if scores else None
    accuracies = [t.metrics["accuracy"] for t in ok if "epochs" in t.metrics and "accuracy" in t.metrics]
    trained = max(accuracies) if accuracies else None  # candidates that trained a proxy each (an epoch count)
    proxy = {"classes": classes, "chance": 1.0 / classes, "clean_accuracy": clean,
             "best_score": max(scores) if scores else None, "median_score": median}
    on_gpu = any(p.get("device", "").startswith("cuda") for p in proxies)  # where the tasks ran, not the driver
    per_split: dict[str, Any] = {}
    for k in range(cfg.folds):
        mine = [t for t in ok if t.split == k]
        if not mine:
            continue
        random_trials = [t.score for t in mine if t.trial < cfg.startup_trials]
        best = sorted((t.score for t in mine), reverse=True)[:cfg.top_n * cfg.repeats]
        per_split[str(k)] = {
            "best": max(t.score for t in mine),
            "kept_mean": statistics.fmean(best),
            "random_mean": statistics.fmean(random_trials) if random_trials and not at_random else None,
        }
    evaluated = sum(t.seconds for t in trials)
    inference = sum(t.metrics.get("inference_seconds", 0.0) for t in ok)
    augment = sum(t.metrics.get("augment_seconds", 0.0) for t in ok)
    gpus = (cfg.gpus_per_trial if cfg.gpus_per_trial is not None else 1.0) if on_gpu else 0.0
    busy = evaluated + sum(p.get("seconds", 0.0) for p in proxies)
    return {
        "space": cfg.space, "objective": cfg.objective, "dataset": cfg.dataset, "model": cfg.model,
        "engine": cfg.engine,
        "device": proxies[0]["device"] if on_gpu else f"cpu ({platform.processor() or platform.machine()})",
        "wall_seconds": wall, "trials": len(trials), "failed_trials": len(trials) - len(ok),
        "stopped_early": sum(1 for t in ok if t.metrics.get("stopped_early")),
        "trials_per_second": len(ok) / wall if wall > 0 else None,
        "seconds_per_trial": evaluated / len(trials) if trials else None,
        "augment_seconds_per_trial": augment / len(ok) if ok else None,
        "inference_seconds_per_trial": inference / len(ok) if ok else None,
        "device_hours": busy * (gpus if gpus else cfg.cpus_per_trial) / 3600.0,
        "device_hours_unit": "GPU-hours" if gpus else "CPU-core-hours",
        "best_score_per_split": {k: v["best"] for k, v in per_split.items()},
        "splits": per_split, "score": cfg.score, "final_kind": policy.kind,
        **({"final_sub_policies": len(policy)} if isinstance(policy, Policy) else {}),
        "policy": str(run.policy_file),
        "proxy": proxy, "sampled_at_random": at_random,
        "warnings": proxy_warnings(clean, proxy["chance"], median, cfg.score, best_trained=trained) + [
            f"every trial was one of TPE's {cfg.startup_trials} random start-up trials (--startup-trials "
            f"{cfg.startup_trials}, --trials {cfg.trials}): this search sampled at random; lower --startup-trials "
            "or raise --trials"] * at_random,
    }
