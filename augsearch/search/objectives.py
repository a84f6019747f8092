"""Objectives: how a candidate policy is scored on a split.

Density matching (Fast AutoAugment, Lim et al. 2019): a proxy is trained on D_M without the
searched augmentation; a candidate is then scored by how well that proxy still classifies D_A
*augmented by the candidate* (no retraining). A policy whose images the proxy still recognises
keeps the data's distribution. A new objective is one more class with ``@OBJECTIVES.register``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch

from augsearch.data import ImageSet
from augsearch.errors import ConfigError
from augsearch.models import build_model
from augsearch.policy import Augment, PolicyData, augmented_draws
from augsearch.registry import Registry
from augsearch.search.protocols import Objective, Report, Scorer, Split
from augsearch.search.rundir import Store, proxy_name
from augsearch.search.trained import train_evaluate
from augsearch.trainer import UNLOADABLE, evaluate, train_proxy, unloadable

OBJECTIVES: Registry[Callable[..., Objective]] = Registry("objective")
"""Objective factories; their keyword-only arguments are the run options they take."""

SCORE_RULES: Registry[Callable[[Mapping[str, float]], float]] = Registry("score rule")
"""Density matching's score rules: best-of-k, accuracy when any of k draws is right (Fast AA's
code); accuracy, mean accuracy over draws; loss, minus the mean loss (the paper's)."""
SCORE_RULES.register("best-of-k", lambda r: r["best_of_k"])
SCORE_RULES.register("accuracy", lambda r: r["accuracy"])
SCORE_RULES.register("loss", lambda r: -r["loss"])


@dataclass(frozen=True)
class ProxyRecipe:
    """How a split's proxy model is built and trained."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    seed: int
    compile: bool = False
    precision: str = "auto"

    def trained(self, split: Split, store: Store, device: torch.device) -> torch.nn.Module:
        """The split's proxy: loaded from the run, or trained on D_M and recorded there (metrics
        first, weights last: the weights say the proxy is done)."""
        data = split.model_data
        seed = self.seed + split.index
        model = build_model(self.model, num_classes=len(data.classes), image_size=data.images.shape[-1], seed=seed)
        weights = store.read_bytes(proxy_name(split.index, ".pt"))
        if weights is not None:
            try:
                buffer = io.BytesIO(weights)
                model.load_state_dict(torch.load(buffer, weights_only=True, map_location="cpu"))
            except UNLOADABLE as err:
                raise ConfigError(f"{proxy_name(split.index, '.pt')}: not this run's proxy weights "
                                  f"({unloadable(err)}); delete it to train the proxy again") from None
            return model.to(device)
        start = time.perf_counter()
        epochs = train_proxy(model, data, epochs=self.epochs, batch_size=min(self.batch_size, len(data)),
                             lr=self.lr, weight_decay=self.weight_decay, label_smoothing=self.label_smoothing,
                             device=device, seed=seed, compile=self.compile,
                             precision=self.precision)
        clean = evaluate(model, split.augment_data.images, split.augment_data.labels, device=device,
                         precision=self.precision)
        metrics = {"split": split.index, "train_size": len(data), "holdout_size": len(split.augment_data),
                   "epochs": epochs, "holdout_accuracy": clean["accuracy"], "holdout_loss": clean["loss"],
                   "seconds": time.perf_counter() - start,
                   "device": f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"}
        store.write_bytes(proxy_name(split.index, ".json"), json.dumps(metrics, indent=1).encode())
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        store.write_bytes(proxy_name(split.index, ".pt"), buffer.getvalue())
        return model


def score_policy(policy: Augment, model: torch.nn.Module, holdout: ImageSet, *, draws: int, rule: str,
                 seed: int, device: torch.device | str, precision: str = "auto") -> dict[str, float]:
    """Score ``policy`` by the proxy's results on ``draws`` augmented copies of ``holdout`` (D_A).

    Returns ``score`` (by ``rule``), ``accuracy`` (mean over draws), ``best_of_k`` (a sample
    counts when any draw is right), ``loss`` (mean) and the seconds spent augmenting and in
    inference."""
    generator = torch.Generator(device=device).manual_seed(seed)  # a GPU draws its batches' plans itself
    images = holdout.images.to(device)
    any_correct = torch.zeros(len(holdout), dtype=torch.bool)
    accuracy = loss = augment_seconds = inference_seconds = 0.0
    views = augmented_draws(policy, images, draws=draws, generator=generator)
    for _ in range(draws):
        start = time.perf_counter()
        augmented = next(views)
        middle = time.perf_counter()
        result = evaluate(model, augmented, holdout.labels, device=device, precision=precision)
        inference_seconds += time.perf_counter() - middle
        augment_seconds += middle - start
        any_correct |= result["per_sample_correct"]
        accuracy += result["accuracy"] / draws
        loss += result["loss"] / draws
    metrics = {"accuracy": accuracy, "best_of_k": any_correct.float().mean().item(), "loss": loss}
    return {"score": SCORE_RULES.get(rule)(metrics), **metrics, "augment_seconds": augment_seconds,
            "inference_seconds": inference_seconds}


@dataclass(frozen=True)
class DensityMatching(Objective):
    """Scores a candidate by a proxy trained on D_M, on ``draws`` augmented copies of D_A."""

    name: ClassVar[str] = "density-matching"
    proxy: ProxyRecipe
    draws: int
    rule: str

    def prepare(self, split: Split, store: Store, device: torch.device) -> Scorer:
        model = self.proxy.trained(split, store, device)
        d_a = split.augment_data
        holdout = ImageSet(d_a.images.to(device), d_a.labels.to(device), d_a.classes, d_a.name)  # stays on the device

        def score(policy: PolicyData, seed: int, *, report: Report | None = None) -> dict[str, float]:
            if not isinstance(policy, Augment):
                raise TypeError(f"density matching scores per-image policies, not {policy.kind}")
            return score_policy(policy, model, holdout, draws=self.draws, rule=self.rule, seed=seed, device=device,
                                precision=self.proxy.precision)
        return score


@OBJECTIVES.register("density-matching")
def density_matching(*, model: str, epochs: int, batch_size: int, lr: float, weight_decay: float,
                     label_smoothing: float, seed: int, draws: int, score: str = "loss",
                     compile: bool = False, precision: str = "auto") -> DensityMatching:
    """Fast AutoAugment's density matching: a proxy trained once per split, candidates scored without retraining."""
    return DensityMatching(ProxyRecipe(model, epochs, batch_size, lr, weight_decay, label_smoothing, seed, compile,
                                       precision),
                           draws, score)


OBJECTIVES.register("train-evaluate", train_evaluate)
