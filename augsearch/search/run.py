"""``augsearch run``: from a dataset to a policy file, through the run directory."""

from __future__ import annotations

import json
import platform
import statistics
import time
from typing import Any

from augsearch.data import load_dataset, stratified_splits
from augsearch.errors import ConfigError
from augsearch.search.config import RunConfig
from augsearch.search.engines import run_engine
from augsearch.search.matching import merge
from augsearch.search.progress import Progress
from augsearch.search.rundir import RunDir
from augsearch.search.spaces import get_space


def search(cfg: RunConfig, *, resume: bool = False, quiet: bool = False, report: bool = True) -> RunDir:
    """Run (or continue) the search ``cfg`` describes; returns the finished run directory."""
    run = RunDir(cfg.out)
    space = get_space(cfg.space)
    if resume:
        run.load_config()  # refuse a directory that holds no run before locking (and creating) it
    with run.locked():
        if resume:
            cfg = run.load_config()
            space = get_space(cfg.space)
        start = time.perf_counter()
        data = load_dataset(cfg.dataset, data_root=cfg.data_root, image_size=cfg.image_size, subset=cfg.subset,
                            seed=cfg.seed, skip_bad=cfg.skip_bad)
        if len(data.classes) < 2:
            raise ConfigError(f"{cfg.dataset}: a search needs at least 2 classes, found {len(data.classes)}")
        if not resume:
            run.create(cfg)  # only once the data loads, so a fixed command can reuse the same --out
        splits = stratified_splits(data.labels, n_splits=cfg.folds, train_fraction=cfg.train_fraction, seed=cfg.seed)
        todo = _unfinished(run, cfg)
        try:
            with Progress(run, cfg, quiet=quiet):
                if todo:
                    run_engine(cfg.engine, data, splits, todo, cfg, run)
        except KeyboardInterrupt:
            pass  # the engine stopped early: say how far it got, below
        if _unfinished(run, cfg):  # Ctrl-C, or Ray Tune stopping its trials on SIGINT
            raise KeyboardInterrupt(f"{len(run.trials())} of {cfg.folds * cfg.trials * cfg.repeats} trials are "
                                    f"saved; continue with: augsearch run --resume {run.path}")
        trials = run.trials()
        subs = merge(trials, top_n=cfg.top_n)
        if not subs:
            raise ConfigError(f"every trial failed; see the errors in {run.trials_file}")
        policy = space.policy(subs, source=f"augsearch {cfg.space} search on {cfg.dataset} with {cfg.model} "
                                           f"({run.path.name})")
        policy.save(run.policy_file)
        run.write_json(run.summary_file, _summary(cfg, run, trials, len(subs), time.perf_counter() - start))
    if report:
        from augsearch.viz.report import write_report

        write_report(run.path)
    return run


def _unfinished(run: RunDir, cfg: RunConfig) -> list[int]:
    counts: dict[int, int] = {}
    for t in run.trials():
        counts[t["split"]] = counts.get(t["split"], 0) + 1
    return [k for k in range(cfg.folds) if counts.get(k, 0) < cfg.trials * cfg.repeats
            or not run.proxy_weights(k).exists()]


def _summary(cfg: RunConfig, run: RunDir, trials: list[dict[str, Any]], final: int, wall: float) -> dict[str, Any]:
    ok = [t for t in trials if t.get("error") is None and t.get("score") is not None]
    proxies = [json.loads(p.read_text()) for k in range(cfg.folds) if (p := run.proxy_metrics(k)).exists()]
    on_gpu = any(p.get("device", "").startswith("cuda") for p in proxies)  # where the tasks ran, not the driver
    per_split: dict[str, Any] = {}
    for k in range(cfg.folds):
        mine = [t for t in ok if t["split"] == k]
        if not mine:
            continue
        random_trials = [t["score"] for t in mine if t["trial"] < cfg.startup_trials]
        kept = sorted((t["score"] for t in mine), reverse=True)[:cfg.top_n * cfg.repeats]
        per_split[str(k)] = {
            "best": max(t["score"] for t in mine),
            "kept_mean": statistics.fmean(kept),
            "random_mean": statistics.fmean(random_trials) if random_trials else None,
        }
    evaluated = sum(t.get("seconds", 0.0) for t in trials)
    inference = sum(t.get("inference_seconds", 0.0) for t in ok)
    augment = sum(t.get("augment_seconds", 0.0) for t in ok)
    gpus = (cfg.gpus_per_trial if cfg.gpus_per_trial is not None else 1.0) if on_gpu else 0.0
    busy = evaluated + sum(p.get("seconds", 0.0) for p in proxies)
    return {
        "space": cfg.space, "dataset": cfg.dataset, "model": cfg.model, "engine": cfg.engine,
        "device": proxies[0]["device"] if on_gpu else f"cpu ({platform.processor() or platform.machine()})",
        "wall_seconds": wall, "trials": len(trials), "failed_trials": len(trials) - len(ok),
        "trials_per_second": len(ok) / wall if wall > 0 else None,
        "seconds_per_trial": evaluated / len(trials) if trials else None,
        "augment_seconds_per_trial": augment / len(ok) if ok else None,
        "inference_seconds_per_trial": inference / len(ok) if ok else None,
        "device_hours": busy * (gpus if gpus else cfg.cpus_per_trial) / 3600.0,
        "device_hours_unit": "GPU-hours" if gpus else "CPU-core-hours",
        "best_score_per_split": {k: v["best"] for k, v in per_split.items()},
        "splits": per_split, "score": cfg.score, "final_sub_policies": final,
        "policy": str(run.policy_file),
    }

