"""The resolved configuration of a search run: defaults < config file < command-line flags.

Every option is a field of :class:`RunConfig`; the CLI, config files and the run directory's
``config.yaml`` all go through :func:`resolve`, so one table of fields is the source of truth.
"""

from __future__ import annotations

import dataclasses
import time
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from augsearch.data import DATASETS
from augsearch.errors import ConfigError
from augsearch.models import MODELS
from augsearch.registry import Registry
from augsearch.search.engines import ENGINES
from augsearch.search.objectives import OBJECTIVES, SCORE_RULES
from augsearch.search.rundir import RunDir
from augsearch.search.spaces import SPACES


def _option(default: Any, help: str, *, choices: Registry | None = None, names: Registry | None = None) -> Any:
    """A field of :class:`RunConfig`: its default, its ``--help`` text and, for named things, the
    registry whose names it takes (``choices``), or whose names and arguments (``names``:
    ``folder:PATH``), checked with the other ranges in :func:`validate`."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "names": names})


@dataclass(frozen=True)
class RunConfig:
    """Every option of ``augsearch run``; the metadata feeds ``--help`` and its choices."""

    space: str = _option("fast-aa", "search space (augsearch spaces)", choices=SPACES)
    objective: str = _option("density-matching", "how candidates are scored", choices=OBJECTIVES)
    dataset: str = _option("digits", "dataset (digits is embedded)", names=DATASETS)
    data_root: str = _option("data", "where torchvision datasets live")
    subset: int | None = _option(None, "stratified, seeded subset of N training images (reduced CIFAR-10: 4000)")
    image_size: int | None = _option(None, "resize images to this side (default: the dataset's, 32 for folders)")
    skip_bad: bool = _option(False, "skip unreadable images with a warning instead of stopping")
    model: str = _option("small-cnn", "proxy model", names=MODELS)
    epochs: int = _option(12, "proxy training epochs")
    batch_size: int = _option(128, "proxy training batch size")
    lr: float = _option(0.05, "peak learning rate (SGD, cosine)")
    weight_decay: float = _option(5e-4, "SGD weight decay")
    label_smoothing: float = _option(0.0, "label smoothing of the proxy")
    folds: int = _option(2, "K stratified splits into D_M (proxy training) and D_A (policy scoring); paper: 5")
    train_fraction: float = _option(0.6, "share of D_M in each split")
    trials: int = _option(40, "B: trials per split and repeat; paper: 200")
    repeats: int = _option(1, "T: independent searches per split; paper: 2")
    top_n: int = _option(10, "N: best candidates kept per search")
    num_sub_policies: int = _option(5, "sub-policies per candidate")
    num_ops: int = _option(2, "ops per sub-policy")
    startup_trials: int = _option(10, "random trials before TPE models")
    score: str = _option("best-of-k", "density matching's rule: best-of-k, accuracy when any of k draws is "
                         "right (Fast AA's code); accuracy, mean accuracy over draws; loss, minus the mean "
                         "loss (the paper's)", choices=SCORE_RULES)
    draws: int = _option(5, "k: augmented draws of D_A per candidate")
    engine: str = _option("ray", "where the splits run: Ray Tune or in-process", choices=ENGINES)
    address: str | None = _option(None, "existing Ray cluster: auto or ray://HOST:PORT")
    cpus_per_trial: float = _option(1.0, "CPUs per split task")
    gpus_per_trial: float | None = _option(None, "GPUs per split task, fractions allowed (default: 1 when a GPU "
                                           "is present, else 0)")
    seed: int = _option(0, "seed of splits, proxies and samplers")
    out: str | None = _option(None, "run directory (default: runs/<timestamp>-<space>)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in fields(RunConfig)}
_TYPES = typing.get_type_hints(RunConfig)


def field_type(name: str) -> tuple[type, bool]:
    """The value type of option ``name`` and whether it may be unset (``None``)."""
    hint = _TYPES[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (args[0], True) if args else (hint, False)


def _check(name: str, value: Any, origin: str) -> Any:
    kind, optional = field_type(name)
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise ConfigError(f"{origin}: {name} must be {kind.__name__}{' or null' if optional else ''} "
                          f"(got {value!r})")
    choices = _FIELDS[name].metadata["choices"]
    if choices is not None:
        choices.get(value)  # an unknown name is an error that lists the known ones
    return value


def validate(cfg: RunConfig, origin: str = "config") -> RunConfig:
    """Range checks that the types cannot express."""
    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"{origin}: {name} must be {what} (got {getattr(cfg, name)!r})")

    for name in ("epochs", "batch_size", "folds", "trials", "repeats", "top_n", "num_sub_policies",
                 "num_ops", "draws"):
        need(getattr(cfg, name) >= 1, name, "at least 1")
    need(cfg.startup_trials >= 0, "startup_trials", ">= 0")
    need(0.0 < cfg.train_fraction < 1.0, "train_fraction", "between 0 and 1")
    need(cfg.lr > 0, "lr", "> 0")
    need(cfg.weight_decay >= 0, "weight_decay", ">= 0")
    need(0.0 <= cfg.label_smoothing < 1.0, "label_smoothing", "in [0, 1)")
    need(cfg.cpus_per_trial > 0, "cpus_per_trial", "> 0")
    need(cfg.gpus_per_trial is None or cfg.gpus_per_trial >= 0, "gpus_per_trial", ">= 0")
    need(cfg.subset is None or cfg.subset >= 2, "subset", "at least 2")
    need(cfg.image_size is None or cfg.image_size >= 8, "image_size", "at least 8")
    need(cfg.top_n <= cfg.trials, "top_n", f"at most trials ({cfg.trials})")
    for name, f in _FIELDS.items():  # a typo in a model or dataset is refused before anything is created
        if f.metadata["names"] is not None:
            f.metadata["names"].resolve(getattr(cfg, name))
    return cfg


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file's options, checked against the fields of :class:`RunConfig`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(err, 'problem', err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of options")
    for key, value in data.items():
        if key not in _FIELDS:
            raise ConfigError(f"{path}: unknown option {key!r}; known: {', '.join(_FIELDS)}")
        data[key] = _check(key, value, str(path))
    return data


def resolve(*, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the config file, then explicit overrides (``None`` values are not set)."""
    values: dict[str, Any] = read_config_file(file) if file else {}
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown option {key!r}")
        if value is not None:
            values[key] = _check(key, value, "command line")
    cfg = validate(RunConfig(**values), str(file) if file else "config")
    if cfg.out is None:
        cfg = dataclasses.replace(cfg, out=str(Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.space}"))
    return cfg


def config_fields() -> dict[str, dataclasses.Field]:
    return dict(_FIELDS)


def load_run_config(path: str | Path) -> RunConfig:
    """The resolved configuration of the run in directory ``path``."""
    run = RunDir(path)
    if not run.config_file.exists():
        raise ConfigError(f"{run.path} is not a run directory (no config.yaml)")
    return resolve(overrides=read_config_file(run.config_file))
