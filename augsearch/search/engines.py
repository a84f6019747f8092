"""Engines only schedule: they run one search task per split, in-process or on Ray Tune.

The task itself (:func:`augsearch.search.matching.search_split`) never knows which engine runs
it; it reads and appends to the run directory, so both engines give the same outputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from augsearch.data import ImageSet
from augsearch.errors import AugsearchError
from augsearch.search.config import RunConfig
from augsearch.search.matching import Split, search_split
from augsearch.search.rundir import RunDir

SplitIndices = Sequence[tuple[torch.Tensor, torch.Tensor]]
RAY_TEMP_DIR = "/tmp/augsearch-ray"  # Ray's sockets need a short path; one bounded place


def make_split(data: ImageSet, splits: SplitIndices, k: int) -> Split:
    model_idx, augment_idx = splits[k]
    return Split(k, data.subset(model_idx), data.subset(augment_idx))


def pick_device(cfg: RunConfig) -> torch.device:
    """CUDA when present and not turned off with ``--gpus-per-trial 0``, else the CPU."""
    use_gpu = torch.cuda.is_available() and cfg.gpus_per_trial != 0
    return torch.device("cuda" if use_gpu else "cpu")


def run_local(data: ImageSet, splits: SplitIndices, todo: Sequence[int], cfg: RunConfig, run: RunDir) -> None:
    """One split after another in this process."""
    device = pick_device(cfg)
    for k in todo:
        search_split(make_split(data, splits, k), cfg, run, device=device)


def _ray_task(config: dict[str, Any], *, data: ImageSet, splits: SplitIndices, cfg: RunConfig,
              run_path: str) -> None:
    """A Ray Tune trial: one split's whole search, on the resources Tune gave it."""
    import ray
    from ray import tune

    torch.set_num_threads(max(1, int(cfg.cpus_per_trial)))  # this worker process's share of the CPUs
    device = torch.device("cuda") if ray.get_gpu_ids() and torch.cuda.is_available() else torch.device("cpu")
    result = search_split(make_split(data, splits, config["split"]), cfg, RunDir(run_path), device=device)
    tune.report(result)


def run_ray(data: ImageSet, splits: SplitIndices, todo: Sequence[int], cfg: RunConfig, run: RunDir) -> None:
    """Every split as a Ray Tune trial with ``cpus_per_trial`` / ``gpus_per_trial`` resources."""
    for key, value in (("RAY_USAGE_STATS_ENABLED", "0"), ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"),
                       ("RAY_AIR_NEW_OUTPUT", "0"), ("TUNE_RESULT_BUFFER_LENGTH", "1"),
                       ("RAY_DEDUP_LOGS", "0"), ("RAY_TRAIN_V2_ENABLED", "0")):
        os.environ.setdefault(key, value)
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise AugsearchError(f"Ray Tune is not importable ({err}); install 'ray[tune]' or use --engine local") from None
    gpus = cfg.gpus_per_trial if cfg.gpus_per_trial is not None else (1.0 if torch.cuda.is_available() else 0.0)
    if cfg.address:
        ray.init(address=cfg.address, log_to_driver=False, logging_level=logging.ERROR)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=True, _temp_dir=RAY_TEMP_DIR,
                 object_store_memory=max(200 * 2**20, 3 * data.images.numel()))
    try:
        if not cfg.address:  # Tune waits silently forever for resources a fixed cluster lacks
            have = ray.cluster_resources()
            for option, key, need in (("--cpus-per-trial", "CPU", cfg.cpus_per_trial),
                                       ("--gpus-per-trial", "GPU", gpus)):
                if need > have.get(key, 0):
                    raise AugsearchError(f"a split task asks for {need:g} {key}s but this machine has "
                                         f"{have.get(key, 0):g}; lower {option}")
        trainable = tune.with_resources(
            tune.with_parameters(_ray_task, data=data, splits=list(splits), cfg=cfg, run_path=str(run.path.resolve())),
            {"cpu": cfg.cpus_per_trial, "gpu": gpus})
        tuner = tune.Tuner(
            trainable,
            param_space={"split": tune.grid_search(list(todo))},
            tune_config=tune.TuneConfig(num_samples=1),
            run_config=tune.RunConfig(name="tune", storage_path=str((run.path / "ray").resolve()), verbose=0,
                                      log_to_file=True, failure_config=tune.FailureConfig(max_failures=0)))
        results = tuner.fit()
        errors = [r.error for r in results if r.error is not None]
        if errors:
            lines = str(errors[0]).strip().splitlines() or [type(errors[0]).__name__]
            raise AugsearchError(f"a split task failed on Ray: {lines[-1]}")
    finally:
        ray.shutdown()


ENGINES = {"local": run_local, "ray": run_ray}


def run_engine(name: str, data: ImageSet, splits: SplitIndices, todo: Sequence[int], cfg: RunConfig,
               run: RunDir) -> None:
    ENGINES[name](data, splits, todo, cfg, run)
