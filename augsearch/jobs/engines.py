"""Engines only schedule: they run the tasks of a piece of work (a search's splits, a comparison's
jobs), in-process or on Ray Tune.

The work (:class:`augsearch.search.runners.SplitWork`, a comparison's jobs) never knows which
engine runs it, so every engine gives the same outputs. In-process it writes the run directory;
on Ray the tasks send what they record to the driver, which alone writes it. A new engine is one
more :class:`Engine` registered in :data:`ENGINES`.

A Ray run ends when its driver does (Ctrl-C, ``kill -9``: see :mod:`augsearch.jobs.raycluster`).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from augsearch.errors import AugsearchError, ConfigError, first_line
from augsearch.jobs import raycluster
from augsearch.registry import Registry


class Work(Protocol):
    """Work made of tasks: picklable, called with a task's index and the device to use; an engine
    keeps its own files under ``run_path``. Tasks that run elsewhere get :meth:`remote`'s copy,
    which sends what it records through a channel; the driver writes each item with :meth:`record`."""

    nbytes: int
    run_path: str

    def __call__(self, k: int, device: torch.device) -> Any: ...

    def remote(self, channel: Any) -> Work: ...

    def record(self, item: tuple) -> None: ...


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


Run = Callable[[Sequence[int], Work, Resources], None]
"""Runs the tasks ``todo`` of a piece of work with the resources each task may use."""


class Engine(ABC):
    """Where the tasks of a piece of work run."""

    @abstractmethod
    def __call__(self, todo: Sequence[int], work: Work, resources: Resources) -> None:
        """Run the tasks ``todo`` of ``work``; Ctrl-C stops them and raises KeyboardInterrupt."""

    def check(self, resources: Resources) -> None:
        """Refuse resources this engine cannot provide, before a job writes anything (by default
        none is refused): a task that waits for them would wait forever."""
        return None


ENGINES: Registry[Engine] = Registry("engine")


def pick_device(resources: Resources) -> torch.device:
    """CUDA when present and not turned off with ``--gpus-per-trial 0``, else the CPU."""
    use_gpu = torch.cuda.is_available() and resources.gpus_per_trial != 0
    return torch.device("cuda" if use_gpu else "cpu")


class LocalEngine(Engine):
    """One task after another in this process, each on ``cpus_per_trial`` torch threads (as a Ray
    trial gets): torch's default of every core oversubscribes a busy machine. Restored afterwards."""

    def __call__(self, todo: Sequence[int], work: Work, resources: Resources) -> None:
        device = pick_device(resources)
        previous = torch.get_num_threads()
        torch.set_num_threads(max(1, int(resources.cpus_per_trial)))
        try:
            for k in todo:
                work(k, device)
        finally:
            torch.set_num_threads(previous)


ENGINES.register("local", LocalEngine())


def ray_worker_device(cpus: float) -> torch.device:
    """Inside a Ray Tune trial: take this worker's share of the CPUs as torch threads, and the GPU
    when Tune gave the trial one."""
    import ray

    torch.set_num_threads(max(1, int(cpus)))
    return torch.device("cuda") if ray.get_gpu_ids() and torch.cuda.is_available() else torch.device("cpu")


def ray_trainable(fn: Callable[..., None], resources: Resources, **params: Any) -> Any:
    """``fn`` as a Tune trainable with ``params`` bound (``cpus`` among them, for
    :func:`ray_worker_device`) and each trial's CPUs and GPUs reserved."""
    from ray import tune

    return tune.with_resources(tune.with_parameters(fn, cpus=resources.cpus_per_trial, **params),
                               {"cpu": resources.cpus_per_trial, "gpu": resources.gpus})


def _ray_task(config: dict[str, Any], *, work: Work, cpus: float) -> None:
    """A Ray Tune trial: one task of the work, on the resources Tune gave it."""
    from ray import tune

    work(config["task"], ray_worker_device(cpus))
    tune.report({"task": config["task"]})


@contextmanager
def _recording(work: Work) -> Iterator[Work]:
    """The work as the workers get it, sending what they record through a Ray queue, and a thread
    on the driver that writes each item into the run directory; it drains the queue on the way out."""
    from ray.util.queue import Empty, Queue

    channel = Queue(actor_options={"num_cpus": 0})
    done = threading.Event()
    failed: list[BaseException] = []

    def drain() -> None:
        while True:
            try:
                item = channel.get(timeout=0.2)
            except Empty:
                if done.is_set():
                    return
                continue
            try:
                work.record(item)
            except Exception as err:  # noqa: BLE001  (reported below, in the driver's thread)
                failed.append(err)

    writer = threading.Thread(target=drain, name="augsearch-recorder", daemon=True)
    writer.start()
    try:
        yield work.remote(channel)
    finally:
        done.set()
        writer.join()
    if failed:
        raise AugsearchError(f"a record from a worker could not be written: {first_line(failed[0])}")


@contextmanager
def ray_cluster(work: Work, resources: Resources) -> Iterator[Any]:
    """Ray started (or joined at ``resources.address``) for ``work``, with Tune quiet and Ctrl-C
    immediate; yields ``ray.tune``. Refuses per-task resources that a local cluster lacks (Tune
    would wait for them forever)."""
    for key, value in (("RAY_USAGE_STATS_ENABLED", "0"), ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"),
                       ("RAY_AIR_NEW_OUTPUT", "0"), ("TUNE_RESULT_BUFFER_LENGTH", "1"),
                       ("RAY_DEDUP_LOGS", "0"), ("RAY_TRAIN_V2_ENABLED", "0")):
        os.environ.setdefault(key, value)
    # Tune's own Ctrl-C handler waits for the running trials to report, i.e. for whole splits to end
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise AugsearchError(f"Ray Tune is not importable ({err}); install 'ray[tune]' or use --engine local") from None
    with raycluster.connected(resources.address, object_store_memory=max(200 * 2**20, 3 * work.nbytes)):
        if not resources.address:
            have = ray.cluster_resources()
            for option, key, need in (("--cpus-per-trial", "CPU", resources.cpus_per_trial),
                                       ("--gpus-per-trial", "GPU", resources.gpus)):
                if need > have.get(key, 0):
                    raise AugsearchError(f"a task asks for {need:g} {key}s but this machine has "
                                         f"{have.get(key, 0):g}; lower {option}")
        yield tune


def tune_storage(work: Work) -> str:
    """Where Tune keeps its own files: the run directory's ``ray/`` folder."""
    return os.path.join(os.path.abspath(work.run_path), "ray")


class RayEngine(Engine):
    """Every task as a Ray Tune trial with ``cpus_per_trial`` / ``gpus_per_trial`` resources.
    Ctrl-C stops the trials at once and raises KeyboardInterrupt; a local cluster ends with it."""

    def __call__(self, todo: Sequence[int], work: Work, resources: Resources) -> None:
        with ray_cluster(work, resources) as tune, _recording(work) as remote:
            trainable = ray_trainable(_ray_task, resources, work=remote)
            tuner = tune.Tuner(
                trainable,
                param_space={"task": tune.grid_search(list(todo))},
                tune_config=tune.TuneConfig(num_samples=1),
                run_config=tune.RunConfig(name="tune", storage_path=tune_storage(work), verbose=0, log_to_file=True,
                                          failure_config=tune.FailureConfig(max_failures=0)))
            results = tuner.fit()
            errors = [r.error for r in results if r.error is not None]
            if errors:
                lines = str(errors[0]).strip().splitlines() or [type(errors[0]).__name__]
                raise AugsearchError(f"a task failed on Ray: {lines[-1]}")

    def check(self, resources: Resources) -> None:
        """An ``--address`` must answer; a local cluster must have the CPUs and GPUs a task asks for."""
        if resources.address:
            raycluster.check_reachable(resources.address)
            return
        cpus, gpus = os.cpu_count() or 1, torch.cuda.device_count()
        if resources.cpus_per_trial > cpus:
            raise ConfigError(f"--cpus-per-trial {resources.cpus_per_trial:g} is more than this machine's {cpus} CPUs")
        if (resources.gpus_per_trial or 0) > gpus:
            raise ConfigError(f"--gpus-per-trial {resources.gpus_per_trial:g} is more than this machine's {gpus} GPUs")


ENGINES.register("ray", RayEngine())
