"""Scoring by training: each candidate trains a proxy on the split's D_M for a short schedule and
is scored on its held-out D_A after every epoch, so successive halving (ASHA) can stop the weak
ones early. This is what mixup alphas, Cutout sizes, AugMix's consistency term and RandAugment's
(N, M) need: density matching cannot score a candidate whose effect only shows in training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from augsearch.bases import BASES
from augsearch.errors import AugsearchError, ConfigError
from augsearch.models import build_model
from augsearch.pipeline import pipeline
from augsearch.policy import PolicyData
from augsearch.search.protocols import Objective, Report, Scorer, Split
from augsearch.search.rundir import Store, Trial
from augsearch.trainer import Recipe, fit


def epoch_key(epoch: int) -> str:
    """The trial metric that holds the score after ``epoch``: the record ASHA's rungs rebuild from."""
    return f"epoch_{epoch}_score"


class _StoppedEarlyError(Exception):
    """Raised inside the training loop when early stopping ends a candidate."""


@dataclass(frozen=True)
class TrainEvaluate(Objective):
    """Trains a fresh proxy with the candidate (the same loop and pipeline as ``augsearch train``)
    and scores its held-out accuracy (rule ``accuracy``) or minus its loss (``loss``)."""

    name: ClassVar[str] = "train-evaluate"
    model: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    base: str
    rule: str
    seed: int
    compile: bool = False
    precision: str = "auto"
    label_smoothing: float = 0.0

    @property
    def candidate_epochs(self) -> int:
        return self.epochs

    def recipe(self, split: Split) -> Recipe:
        """How every proxy trains on the split: ``epochs`` with a short warmup; at the final length,
        as ``augsearch train`` trains (one warmup epoch, the same options)."""
        return Recipe(self.epochs, min(self.batch_size, len(split.model_data)), self.lr, self.weight_decay,
                      label_smoothing=self.label_smoothing, warmup_epochs=min(1.0, self.epochs / 5),
                      compile=self.compile, precision=self.precision)

    def value(self, metrics: Mapping[str, float]) -> float:
        """An epoch's score by the rule: held-out accuracy, or minus the held-out loss."""
        return metrics["test_acc"] if self.rule == "accuracy" else -metrics["test_loss"]

    def proxy(self, policy: PolicyData, split: Split) -> tuple[torch.nn.Module, tuple]:
        """A fresh proxy for the split and what training does to each batch with ``policy``."""
        train = split.model_data
        classes = len(train.classes)
        model = build_model(self.model, num_classes=classes, image_size=train.images.shape[-1],
                            seed=self.seed + split.index)
        return model, pipeline(policy, BASES.get(self.base)(), num_classes=classes)

    def prepare(self, split: Split, store: Store, device: torch.device) -> Scorer:
        train, held = split.model_data, split.augment_data
        recipe = self.recipe(split)

        def score(policy: PolicyData, seed: int, *, report: Report | None = None) -> dict[str, float]:
            model, (augment, mix, views) = self.proxy(policy, split)
            scores: dict[str, float] = {}
            last: dict[str, float] = {}

            def on_epoch(metrics: dict) -> None:
                value = self.value(metrics)
                epoch = metrics["epoch"]
                scores[epoch_key(epoch)] = value
                last.update(score=value, accuracy=metrics["test_acc"], loss=metrics["test_loss"], epochs=epoch)
                if report is not None and report(epoch, {**last, **scores}) and epoch < self.epochs:
                    raise _StoppedEarlyError

            stopped = 0.0
            try:
                fit(model, train, recipe, device=device, seed=seed, augment=augment, mix=mix, views=views,
                    evaluate_on=held, on_epoch=on_epoch, epoch_start=getattr(policy, "set_epoch", None))
            except _StoppedEarlyError:
                stopped = 1.0
            return {**last, "stopped_early": stopped, **scores}
        return score


@dataclass
class Halving:
    """Asynchronous successive halving (Li et al. 2020), the rule of Ray Tune's ASHA: rungs at
    ``grace * reduction**k`` epochs below ``max_epochs``; a candidate that reaches a rung with a
    score below the ``1 - 1/reduction`` quantile of the scores recorded there before it stops."""

    max_epochs: int
    grace: int = 1
    reduction: float = 3.0
    rungs: dict[int, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.grace < 1 or self.reduction < 2:
            raise ConfigError(f"early stopping needs grace_epochs >= 1 and reduction >= 2 "
                              f"(got {self.grace}, {self.reduction:g})")
        milestone = self.grace
        while milestone < self.max_epochs:
            self.rungs.setdefault(milestone, [])
            milestone = math.ceil(milestone * self.reduction)

    def replay(self, trials: Iterable[Trial]) -> Halving:
        """Record what finished trials scored at each rung (on resume)."""
        for t in trials:
            for milestone, recorded in self.rungs.items():
                if t.ok and epoch_key(milestone) in t.metrics:
                    recorded.append(t.metrics[epoch_key(milestone)])
        return self

    def report(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Record ``metrics['score']`` if ``epoch`` is a rung; True when the candidate should stop."""
        recorded = self.rungs.get(epoch)
        if recorded is None:
            return False
        score = metrics["score"]
        cutoff = _quantile(recorded, 1.0 - 1.0 / self.reduction) if recorded else None
        recorded.append(score)
        return cutoff is not None and score < cutoff


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def train_evaluate(*, model: str, epochs: int, batch_size: int, lr: float, weight_decay: float, base: str,
                   score: str = "accuracy", seed: int, compile: bool = False, precision: str = "auto",
                   label_smoothing: float = 0.0) -> TrainEvaluate:
    """Train a proxy with each candidate for --epochs, scored on held-out data every epoch (ASHA stops weak ones)."""
    if score not in ("accuracy", "loss"):
        raise AugsearchError(f"the train-evaluate objective scores by accuracy or loss, not {score!r} (--score)")
    return TrainEvaluate(model, epochs, batch_size, lr, weight_decay, base, score, seed, compile, precision,
                         label_smoothing)
