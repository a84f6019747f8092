"""``augsearch train``: one policy, one model, one seed, top-1 on held-out data.

The held-out data is the dataset's own test split (torchvision's test sets, digits' fixed 20 %),
a ``--val`` dataset, or a stratified, seeded ``--val-fraction`` of a dataset with one split,
recorded in the run directory. The policy is applied before the base augmentation, as
AutoAugment and Fast AutoAugment did (AugMix with its JSD term takes the base first, as its
reference code does); mixup and CutMix mix each augmented batch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console

from augsearch import options, presets
from augsearch.bases import BASES
from augsearch.data import DATASETS, TrainTest, load_train_test
from augsearch.errors import ConfigError
from augsearch.jobs.workdir import WorkDir, drop_torn_tail
from augsearch.loggers import Scalars
from augsearch.models import MODELS, build_model
from augsearch.options import MAX_IMAGE_SIDE, MAX_SEED, MAX_THREADS, MIN_IMAGE_SIDE, option
from augsearch.pipeline import pipeline
from augsearch.policy import PolicyData
from augsearch.presets import PRESETS
from augsearch.specs import load_policy
from augsearch.trainer import PRECISIONS, Recipe, evaluate, fit

NO_POLICY = "none"


@dataclass(frozen=True)
class TrainConfig:
    """Every option of ``augsearch train``; the metadata feeds ``--help``."""

    policy: str = option(NO_POLICY, "a policy file, a bundled name, a spec, or none (the base only)")
    preset: str | None = option(None, "a named training budget that sets the model, epochs and recipe (options "
                                "given here override it)", choices=PRESETS)
    dataset: str = option("digits", "training data", names=DATASETS)
    val: str | None = option(None, "held-out data (default: the dataset's test split, else --val-fraction)",
                             names=DATASETS)
    val_fraction: float = option(0.2, "stratified share held out of a dataset that has one split")
    data_root: str = option("data", "where torchvision datasets live")
    subset: int | None = option(None, "stratified, seeded subset of N training images", low=2)
    image_size: int | None = option(None, "resize images to this side (default: the dataset's)",
                                    low=MIN_IMAGE_SIDE, high=MAX_IMAGE_SIDE)
    skip_bad: bool = option(False, "skip unreadable images with a warning instead of stopping")
    model: str = option("small-cnn", "task model", names=MODELS)
    epochs: int = option(30, "training epochs")
    batch_size: int = option(128, "batch size")
    lr: float = option(0.1, "peak learning rate (Nesterov SGD, cosine after warmup)")
    weight_decay: float = option(5e-4, "weight decay")
    label_smoothing: float = option(0.0, "label smoothing")
    warmup_epochs: float = option(1.0, "linear learning-rate warmup, in epochs")
    ema: float | None = option(None, "decay of an exponential moving average of the weights, e.g. 0.999")
    base: str = option("crop-flip", "base augmentation after the policy", choices=BASES)
    seed: int = option(0, "seed of the weights, the shuffling and the augmentation draws", low=0, high=MAX_SEED)
    threads: int | None = option(None, "torch CPU threads (default: every core this process may use)",
                                 low=1, high=MAX_THREADS)
    device: str | None = option(None, "cpu or cuda (default: cuda when present)")
    compile: bool = option(False, "torch.compile the model (compiling takes a while: pays on long GPU runs)")
    precision: str = option("auto", "arithmetic of the forward pass: auto (bf16/fp16 autocast on CUDA, fp32 on "
                            "the CPU), fp32, or bf16 (also on the CPU: fast where it has bf16 instructions)",
                            choices=PRECISIONS)
    out: str | None = option(None, "run directory (default: runs/<timestamp>-train)")

    def recipe(self) -> Recipe:
        return Recipe(self.epochs, self.batch_size, self.lr, self.weight_decay, 0.9, self.label_smoothing,
                      min(self.warmup_epochs, self.epochs), self.ema, self.compile, self.precision)


def resolve(*, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    cfg = options.resolve(TrainConfig, file=file, overrides=overrides, preset=presets.training)
    cfg.recipe()  # range checks of the training options
    if not 0 < cfg.val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1 (got {cfg.val_fraction})")
    if cfg.device not in (None, "cpu", "cuda"):
        raise ConfigError(f"device must be cpu or cuda (got {cfg.device!r})")
    if cfg.out is None:
        cfg = dataclasses.replace(cfg, out=options.default_out("train"))
    return cfg


def load_data(cfg: TrainConfig) -> TrainTest:
    """The training data and the held-out data ``cfg`` names."""
    return load_train_test(cfg.dataset, val=cfg.val, val_fraction=cfg.val_fraction, seed=cfg.seed,
                           data_root=cfg.data_root, image_size=cfg.image_size, subset=cfg.subset,
                           skip_bad=cfg.skip_bad)


class TrainDir(WorkDir):
    """A training run's directory: ``config.yaml``, ``policy.yaml`` (the policy used),
    ``holdout.json``, ``metrics.jsonl`` (one line per epoch), ``checkpoint.pt`` (while it runs),
    ``weights.pt`` and ``metrics.json`` (when it is done)."""

    policy_file = property(lambda self: self.path / "policy.yaml")
    holdout_file = property(lambda self: self.path / "holdout.json")
    epochs_file = property(lambda self: self.path / "metrics.jsonl")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    weights = property(lambda self: self.path / "weights.pt")
    result_file = property(lambda self: self.path / "metrics.json")

    def load_config(self) -> TrainConfig:
        if not self.config_file.exists():
            raise ConfigError(f"{self.path} is not a training run (no config.yaml)")
        return resolve(overrides=options.read_file(TrainConfig, self.config_file))


@contextmanager
def _threads_restored() -> Iterator[None]:
    """Give torch's thread count back as it was: a run sets its own (``threads``), the caller keeps theirs."""
    previous = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_training(cfg: TrainConfig, *, policy: PolicyData | None = None, resume: bool = False,
                 data: TrainTest | None = None, quiet: bool = True, tensorboard: Path | None = None) -> dict[str, Any]:
    """Train as ``cfg`` says in its run directory and return ``metrics.json``'s content; a finished
    run is read back, an interrupted one (``resume``) continues from its last epoch. ``policy``: a
    policy object to train with instead of loading ``cfg.policy``. The policy used is written once,
    as the run's ``policy.yaml``, and a resumed run trains with that record, whatever the file it
    came from holds by then. ``tensorboard``: a folder for each epoch's metrics as TensorBoard
    scalars (:mod:`augsearch.loggers`)."""
    run = TrainDir(cfg.out)
    with run.locked(), _threads_restored():
        if resume:
            run.check_sealed()
            cfg = run.load_config()
            if run.result_file.exists():
                return run.read_json(run.result_file)
            drop_torn_tail(run.epochs_file)  # so the epochs to come start on lines of their own
            if run.policy_file.exists():
                policy = load_policy(str(run.policy_file))
        elif run.config_file.exists():
            raise ConfigError(f"{run.path} already holds a training run: continue it with --resume {run.path} "
                              "or choose another --out")
        if policy is None and cfg.policy != NO_POLICY:
            policy = load_policy(cfg.policy)
        if hasattr(policy, "stretch") and getattr(policy, "epochs", None) != cfg.epochs:
            policy = policy.stretch(cfg.epochs)  # a schedule (alone or in a recipe) searched over other epochs
        base = BASES.get(cfg.base)()
        data = data or load_data(cfg)
        classes = len(data.train.classes)
        augment, mix, views = pipeline(policy, base, num_classes=classes)
        model = build_model(cfg.model, num_classes=classes, image_size=data.train.images.shape[-1], seed=cfg.seed)
        if not resume:
            run.config_file.write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
            if policy is not None:
                policy.save(run.policy_file)
            run.seal(run.config_file, *[run.policy_file] * (policy is not None))
            run.write_json(run.holdout_file, data.holdout)
        threads = cfg.threads or len(os.sched_getaffinity(0))
        torch.set_num_threads(threads)
        device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        console = None if quiet else Console(stderr=True, highlight=False)
        board = Scalars(tensorboard)

        def on_epoch(metrics: dict) -> None:
            run.append_line(run.epochs_file, json.dumps(metrics))
            board.write(metrics, step=metrics["epoch"])
            if console is not None:
                console.print(f"epoch {metrics['epoch']}/{cfg.epochs}: loss {metrics['loss']:.3f}, train "
                              f"{metrics['train_acc']:.3f}, held-out {metrics['test_acc']:.3f} "
                              f"({metrics['seconds']:.1f} s)")

        start = time.perf_counter()
        result = fit(model, data.train, cfg.recipe(), device=device, seed=cfg.seed, augment=augment, mix=mix,
                     views=views, evaluate_on=data.test, on_epoch=on_epoch, checkpoint=run.checkpoint,
                     epoch_start=getattr(policy, "set_epoch", None))
        board.close()
        history = result.history  # with the epochs before a resume: metrics.jsonl is rewritten from it
        run.write_whole(run.epochs_file, "".join(json.dumps(m) + "\n" for m in history).encode())
        final = evaluate(model, data.test.images, data.test.labels, device=device, precision=cfg.precision)
        trained = sum(m["seconds"] for m in history)
        metrics = {
            "top1": final["accuracy"], "loss": final["loss"], "train_acc": history[-1]["train_acc"],
            **({"ema_top1": history[-1]["ema_test_acc"]} if result.ema is not None else {}),
            "policy": cfg.policy, "policy_kind": None if policy is None else policy.kind, "base": cfg.base,
            "model": cfg.model, "dataset": cfg.dataset, "holdout": {k: v for k, v in data.holdout.items()
                                                                   if k != "test_indices"},
            "train_size": len(data.train), "test_size": len(data.test), "classes": classes,
            "epochs": cfg.epochs, "seed": cfg.seed, "seconds": trained, "wall_seconds": time.perf_counter() - start,
            "images_per_second": len(data.train) // cfg.batch_size * cfg.batch_size * len(history) / trained
            if trained > 0 else None,
            "device": str(device), "threads": threads,
        }
        torch.save(model.state_dict(), run.weights)
        if result.ema is not None:
            torch.save(result.ema.state_dict(), run.path / "weights-ema.pt")
        run.write_json(run.result_file, metrics)
        run.checkpoint.unlink(missing_ok=True)
        return metrics


def train(policy: str | PolicyData | None = None, **settings: Any) -> dict[str, Any]:
    """Train a model with ``policy`` (a spec, a file, a bundled name, a policy object, or ``None``)
    and return its metrics, ``top1`` on held-out data first; ``settings`` are
    :class:`TrainConfig`'s options (``dataset=``, ``model=``, ``epochs=``, ``seed=``, ``out=``, ...),
    and ``resume=True`` continues the run in ``out``."""
    resume = bool(settings.pop("resume", False))
    out = settings.get("out")
    if not isinstance(policy, PolicyData):
        return run_training(resolve(overrides={**settings, "policy": policy or NO_POLICY}), resume=resume)
    if out is None:
        raise ConfigError("a policy object needs out= (its record is saved in the run directory)")
    cfg = resolve(overrides={**settings, "policy": str(TrainDir(out).policy_file)})  # the record names itself
    return run_training(cfg, policy=policy, resume=resume)
