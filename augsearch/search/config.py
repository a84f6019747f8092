"""The resolved configuration of a search run: defaults < config file < command-line flags.

Every option is a field of :class:`RunConfig`; the CLI, config files and the run directory's
``config.yaml`` all go through :func:`resolve`, so one table of fields is the source of truth.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from augsearch.errors import ConfigError

SCORES = ("best-of-k", "accuracy", "loss")
ENGINES = ("ray", "local")


@dataclass(frozen=True)
class RunConfig:
    """Every option of ``augsearch run``; ``help`` metadata feeds ``--help``."""

    space: str = dataclasses.field(default="fast-aa", metadata={"help": "search space (augsearch spaces)"})
    dataset: str = dataclasses.field(default="digits", metadata={
        "help": "digits (embedded), cifar10, cifar100, svhn or folder:PATH"})
    data_root: str = dataclasses.field(default="data", metadata={"help": "where torchvision datasets live"})
    subset: int | None = dataclasses.field(default=None, metadata={
        "help": "stratified, seeded subset of N training images (reduced CIFAR-10: 4000)"})
    image_size: int | None = dataclasses.field(default=None, metadata={
        "help": "resize images to this side (default: the dataset's, 32 for folders)"})
    skip_bad: bool = dataclasses.field(default=False, metadata={
        "help": "skip unreadable images with a warning instead of stopping"})
    model: str = dataclasses.field(default="small-cnn", metadata={
        "help": "proxy model: small-cnn, wrn40_2, resnet20, resnet18 or timm:NAME"})
    epochs: int = dataclasses.field(default=12, metadata={"help": "proxy training epochs"})
    batch_size: int = dataclasses.field(default=128, metadata={"help": "proxy training batch size"})
    lr: float = dataclasses.field(default=0.05, metadata={"help": "peak learning rate (SGD, cosine)"})
    weight_decay: float = dataclasses.field(default=5e-4, metadata={"help": "SGD weight decay"})
    label_smoothing: float = dataclasses.field(default=0.0, metadata={"help": "label smoothing of the proxy"})
    folds: int = dataclasses.field(default=2, metadata={
        "help": "K stratified splits into D_M (proxy training) and D_A (policy scoring); paper: 5"})
    train_fraction: float = dataclasses.field(default=0.6, metadata={"help": "share of D_M in each split"})
    trials: int = dataclasses.field(default=40, metadata={"help": "B: TPE trials per split and repeat; paper: 200"})
    repeats: int = dataclasses.field(default=1, metadata={"help": "T: independent searches per split; paper: 2"})
    top_n: int = dataclasses.field(default=10, metadata={"help": "N: best candidates kept per search"})
    num_sub_policies: int = dataclasses.field(default=5, metadata={"help": "sub-policies per candidate"})
    num_ops: int = dataclasses.field(default=2, metadata={"help": "ops per sub-policy"})
    startup_trials: int = dataclasses.field(default=10, metadata={"help": "random trials before TPE models"})
    score: str = dataclasses.field(default="best-of-k", metadata={
        "help": "best-of-k: accuracy when any of k draws is right (Fast AA's code); accuracy: mean "
                "accuracy over draws; loss: minus the mean loss (the paper's density matching)"})
    draws: int = dataclasses.field(default=5, metadata={"help": "k: augmented draws of D_A per candidate"})
    engine: str = dataclasses.field(default="ray", metadata={"help": "ray (Ray Tune) or local (in-process)"})
    address: str | None = dataclasses.field(default=None, metadata={
        "help": "existing Ray cluster: auto or ray://HOST:PORT"})
    cpus_per_trial: float = dataclasses.field(default=1.0, metadata={"help": "CPUs per split task"})
    gpus_per_trial: float | None = dataclasses.field(default=None, metadata={
        "help": "GPUs per split task, fractions allowed (default: 1 when a GPU is present, else 0)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of splits, proxies and samplers"})
    out: str | None = dataclasses.field(default=None, metadata={
        "help": "run directory (default: runs/<timestamp>-<space>)"})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in fields(RunConfig)}


def _expected_type(name: str) -> tuple[type, ...]:
    text = str(_FIELDS[name].type)
    kinds: tuple[type, ...] = ()
    for word, kind in (("int", int), ("float", float), ("str", str), ("bool", bool)):
        if word in text:
            kinds += (kind,)
    return kinds


def _check(name: str, value: Any, origin: str) -> Any:
    if value is None and "None" in str(_FIELDS[name].type):
        return None
    kinds = _expected_type(name)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{origin}: {name} must be {names} (got {value!r})")
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
    need(cfg.score in SCORES, "score", " or ".join(SCORES))
    need(cfg.engine in ENGINES, "engine", " or ".join(ENGINES))
    need(cfg.cpus_per_trial > 0, "cpus_per_trial", "> 0")
    need(cfg.gpus_per_trial is None or cfg.gpus_per_trial >= 0, "gpus_per_trial", ">= 0")
    need(cfg.subset is None or cfg.subset >= 2, "subset", "at least 2")
    need(cfg.image_size is None or cfg.image_size >= 8, "image_size", "at least 8")
    need(cfg.top_n <= cfg.trials, "top_n", f"at most trials ({cfg.trials})")
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
