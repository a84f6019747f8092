"""The resolved configuration of a search run: defaults < config file < command-line flags.

Every option is a field of :class:`RunConfig`; the CLI, config files and the run directory's
``config.yaml`` all go through :func:`resolve`, so one table of fields is the source of truth.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augsearch import options, presets
from augsearch.bases import BASES
from augsearch.data import DATASETS
from augsearch.errors import ConfigError
from augsearch.jobs.engines import ENGINES
from augsearch.models import MODELS
from augsearch.options import MAX_IMAGE_SIDE, MAX_SEED, MIN_IMAGE_SIDE, option
from augsearch.presets import PRESETS
from augsearch.registry import build
from augsearch.search.objectives import OBJECTIVES, SCORE_RULES
from augsearch.search.rundir import RunDir
from augsearch.search.spaces import SPACES
from augsearch.trainer import PRECISIONS


@dataclass(frozen=True)
class RunConfig:
    """Every option of ``augsearch run``; the metadata feeds ``--help`` and its choices."""

    space: str = option("fast-aa", "search space (augsearch spaces)", choices=SPACES)
    preset: str | None = option(None, "a named training budget: the proxies or candidates train as its final "
                                "training (model, epochs, recipe), which --compare then runs", choices=PRESETS)
    objective: str | None = option(None, "how candidates are scored (default: the space's: density-matching "
                                   "for fast-aa and autoaugment, train-evaluate for the others)", choices=OBJECTIVES)
    dataset: str = option("digits", "dataset (digits is embedded)", names=DATASETS)
    data_root: str = option("data", "where torchvision datasets live")
    subset: int | None = option(None, "stratified, seeded subset of N training images (reduced CIFAR-10: 4000)", low=2)
    image_size: int | None = option(None, "resize images to this side (default: the dataset's, 32 for folders)",
                                    low=MIN_IMAGE_SIDE, high=MAX_IMAGE_SIDE)
    skip_bad: bool = option(False, "skip unreadable images with a warning instead of stopping")
    val: str | None = option(None, "held-out data for augsearch compare (default: the dataset's test split, else "
                             "--test-fraction of it)", names=DATASETS)
    test_fraction: float = option(0.2, "share of a dataset with one split held out (stratified, seeded) for "
                                  "augsearch compare; neither the proxies nor the scoring see it")
    model: str = option("small-cnn", "proxy model", names=MODELS)
    epochs: int | None = option(None, "proxy training epochs (train-evaluate: per candidate; default 12, or "
                                "--compare-epochs with --compare: candidates judged at the final length)")
    batch_size: int = option(128, "proxy training batch size")
    lr: float = option(0.05, "peak learning rate (SGD, cosine)")
    weight_decay: float = option(5e-4, "SGD weight decay")
    label_smoothing: float = option(0.0, "label smoothing of the proxy")
    compile: bool = option(False, "torch.compile each proxy (compiling takes a while: pays on long GPU runs)")
    precision: str = option("auto", "arithmetic of the proxies' forward pass: auto (bf16/fp16 autocast on CUDA, "
                            "fp32 on the CPU), fp32, or bf16 (also on the CPU: fast where it has bf16 instructions)",
                            choices=PRECISIONS)
    base: str = option("crop-flip", "train-evaluate: base augmentation after each candidate", choices=BASES)
    grace_epochs: int | None = option(None, "train-evaluate: epochs before early stopping (ASHA) may stop a candidate "
                                      "(default 1; at the final length, the whole training: no early stopping)")
    reduction: float = option(3.0, "train-evaluate: ASHA's reduction factor; rungs at grace * reduction^k epochs")
    interval: int = option(3, "pba: epochs between the population's exploit/explore rounds (PBA: 3)")
    folds: int | None = option(None, "K stratified splits into D_M (proxy training) and D_A (policy scoring); paper: "
                               "5 (default 2; 1 for spaces whose candidates train)")
    train_fraction: float = option(0.6, "share of D_M in each split")
    trials: int = option(40, "B: trials per split and repeat; paper: 200")
    repeats: int = option(1, "T: independent searches per split; paper: 2")
    top_n: int | None = option(None, "N: best candidates kept per search (default 10, at most --trials)")
    num_sub_policies: int = option(5, "sub-policies per candidate", low=1, high=1000)
    num_ops: int = option(2, "ops per sub-policy")
    startup_trials: int | None = option(None, "random trials before TPE models (default 10, at most half of "
                                        "--trials)")
    score: str | None = option(None, "density matching's rule: loss (its default), minus the mean loss (the "
                                "paper's); best-of-k, accuracy when any of k draws is right (Fast AA's code); "
                                "accuracy, mean accuracy over draws; train-evaluate: accuracy (its default) or loss",
                                choices=SCORE_RULES)
    draws: int = option(5, "k: augmented draws of D_A per candidate")
    engine: str = option("ray", "where the splits run: Ray Tune or in-process", choices=ENGINES)
    address: str | None = option(None, "existing Ray cluster: HOST:PORT (the head's port from `ray start --head`), "
                                 "auto (the cluster on this machine) or ray://HOST:PORT (Ray Client)")
    cpus_per_trial: float = option(1.0, "CPUs per split task")
    gpus_per_trial: float | None = option(None, "GPUs per split task, fractions allowed (default: 1 when a GPU "
                                           "is present, else 0)")
    seed: int = option(0, "seed of splits, proxies and samplers", low=0, high=MAX_SEED)
    compare: bool = option(False, "after the search, run augsearch compare RUN_DIR: the found policy against "
                           "the controls, trained on the search's data, tested on its held-out part")
    compare_epochs: int = option(30, "training epochs of each compare job")
    seeds: int = option(3, "seeds per policy in the comparison")
    out: str | None = option(None, "run directory (default: runs/<timestamp>-<space>)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(cfg: RunConfig, origin: str = "config") -> RunConfig:
    """Range checks that the types cannot express."""
    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            flag = "--" + name.replace("_", "-")  # the field in a file, the flag on the command line
            raise ConfigError(f"{origin}: {name} ({flag}) must be {what} (got {getattr(cfg, name)!r})")

    for name in ("epochs", "batch_size", "folds", "trials", "repeats", "top_n",
                 "num_ops", "draws", "compare_epochs", "seeds"):
        need(getattr(cfg, name) >= 1, name, "at least 1")
    need(cfg.startup_trials >= 0, "startup_trials", ">= 0")
    need(0.0 < cfg.train_fraction < 1.0, "train_fraction", "between 0 and 1")
    need(cfg.lr > 0, "lr", "> 0")
    need(0.0 < cfg.test_fraction < 1.0, "test_fraction", "between 0 and 1")
    need(cfg.weight_decay >= 0, "weight_decay", ">= 0")
    need(0.0 <= cfg.label_smoothing < 1.0, "label_smoothing", "in [0, 1)")
    need(cfg.cpus_per_trial > 0, "cpus_per_trial", "> 0")
    need(cfg.grace_epochs >= 1, "grace_epochs", "at least 1")
    need(cfg.interval >= 1, "interval", "at least 1")
    need(cfg.reduction >= 2, "reduction", "at least 2")
    need(cfg.gpus_per_trial is None or cfg.gpus_per_trial >= 0, "gpus_per_trial", ">= 0")
    need(cfg.top_n <= cfg.trials, "top_n", f"at most trials ({cfg.trials})")
    return cfg


PROXY_EPOCHS = 12
"""Epochs of density matching's proxies, and of trained candidates outside the final length."""


def resolve(*, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then a preset's, then the config file, then explicit overrides (``None`` values are
    not set); then the defaults that follow from the space and its objective."""
    cfg = options.resolve(RunConfig, file=file, overrides=overrides, preset=presets.search)
    origin = str(file) if file else "config"
    space = build(SPACES.get(cfg.space), cfg.to_dict())
    if cfg.objective is None:  # the space's own
        cfg = dataclasses.replace(cfg, objective=space.objective)
    if cfg.score is None:  # the objective's own, as its factory's signature says
        default = inspect.signature(OBJECTIVES.get(cfg.objective)).parameters.get("score")
        cfg = dataclasses.replace(cfg, score=default.default if default is not None else "accuracy")
    trains = build(OBJECTIVES.get(cfg.objective), cfg.to_dict() | {"epochs": 1}).candidate_epochs is not None
    if cfg.epochs is None:  # with --compare, trained candidates are judged at the final training's length
        cfg = dataclasses.replace(cfg, epochs=cfg.compare_epochs if trains and cfg.compare else PROXY_EPOCHS)
    final_length = trains and cfg.epochs == cfg.compare_epochs
    cfg = dataclasses.replace(
        cfg, folds=cfg.folds or (1 if trains else 2), top_n=cfg.top_n or min(10, cfg.trials),
        startup_trials=cfg.startup_trials if cfg.startup_trials is not None else min(10, max(1, cfg.trials // 2)),
        grace_epochs=cfg.grace_epochs or (cfg.epochs if final_length else 1))
    cfg = validate(cfg, origin)
    space.runner(build(OBJECTIVES.get(cfg.objective), cfg.to_dict()))  # a space refuses an objective it cannot use
    if cfg.out is None:
        cfg = dataclasses.replace(cfg, out=options.default_out(cfg.space))
    return cfg


def load_run_config(path: str | Path) -> RunConfig:
    """The resolved configuration of the run in directory ``path``."""
    run = RunDir(path)
    if not run.config_file.exists():
        raise ConfigError(f"{run.path} is not a run directory (no config.yaml)")
    return resolve(overrides=options.read_file(RunConfig, run.config_file))
