"""Engines only schedule: they run the tasks of a piece of work (a search's splits, a comparison's
jobs), in-process or on Ray Tune.

The work (:class:`augsearch.search.study.SplitWork`) never knows which engine runs it; it reads
and appends to the run directory, so every engine gives the same outputs. A new engine is one
more function with ``@ENGINES.register``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from augsearch.errors import AugsearchError
from augsearch.registry import Registry

RAY_TEMP_DIR = "/tmp/augsearch-ray"  # Ray's sockets need a short path; one bounded place


class Work(Protocol):
    """Work made of tasks: picklable, called with a task's index and the device to use; an engine
    keeps its own files under ``run_path``."""

    nbytes: int
    run_path: str

    def __call__(self, k: int, device: torch.device) -> Any: ...


@dataclass(frozen=True)
class Resources:
    """What each task may use, and where: ``address`` names an existing Ray cluster."""

    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    address: str | None = None

    @property
    def gpus(self) -> float:
        """GPUs per task: as asked, else 1 when a GPU is present, else 0."""
        if self.gpus_per_trial is not None:
            return self.gpus_per_trial
        return 1.0 if torch.cuda.is_available() else 0.0


Engine = Callable[[Sequence[int], Work, Resources], None]
ENGINES: Registry[Engine] = Registry("engine")


def pick_device(resources: Resources) -> torch.device:
    """CUDA when present and not turned off with ``--gpus-per-trial 0``, else the CPU."""
    use_gpu = torch.cuda.is_available() and resources.gpus_per_trial != 0
    return torch.device("cuda" if use_gpu else "cpu")


@ENGINES.register("local")
def run_local(todo: Sequence[int], work: Work, resources: Resources) -> None:
    """One task after another in this process."""
    device = pick_device(resources)
    for k in todo:
        work(k, device)


def _ray_task(config: dict[str, Any], *, work: Work, cpus: float) -> None:
    """A Ray Tune trial: one task of the work, on the resources Tune gave it."""
    import ray
    from ray import tune

    torch.set_num_threads(max(1, int(cpus)))  # this worker process's share of the CPUs
    device = torch.device("cuda") if ray.get_gpu_ids() and torch.cuda.is_available() else torch.device("cpu")
    work(config["task"], device)
    tune.report({"task": config["task"]})


@ENGINES.register("ray")
def run_ray(todo: Sequence[int], work: Work, resources: Resources) -> None:
    """Every task as a Ray Tune trial with ``cpus_per_trial`` / ``gpus_per_trial`` resources."""
    for key, value in (("RAY_USAGE_STATS_ENABLED", "0"), ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"),
                       ("RAY_AIR_NEW_OUTPUT", "0"), ("TUNE_RESULT_BUFFER_LENGTH", "1"),
                       ("RAY_DEDUP_LOGS", "0"), ("RAY_TRAIN_V2_ENABLED", "0")):
        os.environ.setdefault(key, value)
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise AugsearchError(f"Ray Tune is not importable ({err}); install 'ray[tune]' or use --engine local") from None
    gpus = resources.gpus
    if resources.address:
        ray.init(address=resources.address, log_to_driver=False, logging_level=logging.ERROR)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=True, _temp_dir=RAY_TEMP_DIR,
                 object_store_memory=max(200 * 2**20, 3 * work.nbytes))
    try:
        if not resources.address:  # Tune waits silently forever for resources a fixed cluster lacks
            have = ray.cluster_resources()
            for option, key, need in (("--cpus-per-trial", "CPU", resources.cpus_per_trial),
                                       ("--gpus-per-trial", "GPU", gpus)):
                if need > have.get(key, 0):
                    raise AugsearchError(f"a task asks for {need:g} {key}s but this machine has "
                                         f"{have.get(key, 0):g}; lower {option}")
        trainable = tune.with_resources(
            tune.with_parameters(_ray_task, work=work, cpus=resources.cpus_per_trial),
            {"cpu": resources.cpus_per_trial, "gpu": gpus})
        tuner = tune.Tuner(
            trainable,
            param_space={"task": tune.grid_search(list(todo))},
            tune_config=tune.TuneConfig(num_samples=1),
            run_config=tune.RunConfig(name="tune", storage_path=os.path.join(os.path.abspath(work.run_path), "ray"),
                                      verbose=0, log_to_file=True, failure_config=tune.FailureConfig(max_failures=0)))
        results = tuner.fit()
        errors = [r.error for r in results if r.error is not None]
        if errors:
            lines = str(errors[0]).strip().splitlines() or [type(errors[0]).__name__]
            raise AugsearchError(f"a task failed on Ray: {lines[-1]}")
    finally:
        ray.shutdown()
