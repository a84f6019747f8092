"""Density matching (Fast AutoAugment, Lim et al. 2019), one split at a time.

For split k, a proxy is trained on D_M without the searched augmentation; candidate policies
are then scored by how well that proxy still classifies D_A *augmented by the candidate*
(no retraining). A policy whose images the proxy still recognises keeps the data's
distribution; TPE proposes candidates and the best ``top_n`` of each search are kept.
Everything a split finishes is appended to the run directory, so a resumed split redoes
nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import traceback
import zlib
from typing import Any

import optuna
import torch

from augsearch.data import ImageSet
from augsearch.errors import AugsearchError, first_line
from augsearch.models import build_model
from augsearch.policy import Augment
from augsearch.search.config import RunConfig
from augsearch.search.rundir import RunDir
from augsearch.search.spaces import Space, get_space
from augsearch.train import evaluate, train_proxy


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of the training set: D_M trains the proxy, D_A scores candidates."""

    index: int
    model_data: ImageSet
    augment_data: ImageSet


def score_policy(policy: Augment, model: torch.nn.Module, holdout: ImageSet, *, draws: int, rule: str,
                 seed: int, device: torch.device | str) -> dict[str, float]:
    """Score ``policy`` by the proxy's results on ``draws`` augmented copies of ``holdout`` (D_A).

    Returns ``score`` (by ``rule``), ``accuracy`` (mean over draws), ``best_of_k`` (a sample
    counts when any draw is right), ``loss`` (mean) and the seconds spent augmenting and in
    inference."""
    generator = torch.Generator().manual_seed(seed)
    images = holdout.images.to(device)
    any_correct = torch.zeros(len(holdout), dtype=torch.bool)
    accuracy = loss = augment_seconds = inference_seconds = 0.0
    for _ in range(draws):
        start = time.perf_counter()
        augmented = policy(images, generator=generator)
        middle = time.perf_counter()
        result = evaluate(model, augmented, holdout.labels, device=device)
        inference_seconds += time.perf_counter() - middle
        augment_seconds += middle - start
        any_correct |= result["per_sample_correct"]
        accuracy += result["accuracy"] / draws
        loss += result["loss"] / draws
    best_of_k = any_correct.float().mean().item()
    score = {"best-of-k": best_of_k, "accuracy": accuracy, "loss": -loss}[rule]
    return {"score": score, "accuracy": accuracy, "best_of_k": best_of_k, "loss": loss,
            "augment_seconds": augment_seconds, "inference_seconds": inference_seconds}


def proxy_for(split: Split, cfg: RunConfig, run: RunDir, device: torch.device) -> torch.nn.Module:
    """The split's proxy: loaded from the run directory, or trained on D_M and saved there."""
    data = split.model_data
    model = build_model(cfg.model, num_classes=len(data.classes), image_size=data.images.shape[-1],
                        seed=cfg.seed + split.index)
    weights = run.proxy_weights(split.index)
    if weights.exists():
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return model.to(device)
    start = time.perf_counter()
    epochs = train_proxy(model, data, epochs=cfg.epochs, batch_size=min(cfg.batch_size, len(data)),
                         lr=cfg.lr, weight_decay=cfg.weight_decay, label_smoothing=cfg.label_smoothing,
                         device=device, seed=cfg.seed + split.index)
    clean = evaluate(model, split.augment_data.images, split.augment_data.labels, device=device)
    run.write_json(run.proxy_metrics(split.index), {
        "split": split.index, "train_size": len(data), "holdout_size": len(split.augment_data),
        "epochs": epochs, "holdout_accuracy": clean["accuracy"], "holdout_loss": clean["loss"],
        "seconds": time.perf_counter() - start,
        "device": f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"})
    tmp = weights.with_suffix(".pt.tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(weights)
    return model


def search_split(split: Split, cfg: RunConfig, run: RunDir, *, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Train (or load) the split's proxy, then run ``repeats`` TPE searches of ``trials`` candidates."""
    device = torch.device(device)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial from optuna
    logging.getLogger("optuna").propagate = False
    space = get_space(cfg.space)
    model = proxy_for(split, cfg, run, device)
    d_a = split.augment_data
    split = dataclasses.replace(split, augment_data=ImageSet(d_a.images.to(device), d_a.labels.to(device),
                                                             d_a.classes, d_a.name))  # D_A stays on the device
    done = [t for t in run.trials() if t["split"] == split.index]
    dists = space.distributions(num_sub_policies=cfg.num_sub_policies, num_ops=cfg.num_ops)
    for repeat in range(cfg.repeats):
        sampler = optuna.samplers.TPESampler(seed=_seed(cfg.seed, split.index, repeat),
                                             n_startup_trials=cfg.startup_trials)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        finished = sorted((t for t in done if t["repeat"] == repeat), key=lambda t: t["trial"])
        for record in finished:
            study.add_trial(optuna.trial.create_trial(
                params=record["params"], distributions=dists, value=record["score"],
                state=optuna.trial.TrialState.COMPLETE if record["error"] is None else optuna.trial.TrialState.FAIL))
        for number in range(len(finished), cfg.trials):
            trial = study.ask()
            record = _evaluate_trial(trial, space, split, repeat, number, model, cfg, device)
            if record["error"] is None:
                study.tell(trial, record["score"])
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            run.append_trial(record)
    return {"split": split.index, "trials": cfg.trials * cfg.repeats}


def _evaluate_trial(trial: optuna.Trial, space: Space, split: Split, repeat: int, number: int,
                    model: torch.nn.Module, cfg: RunConfig, device: torch.device) -> dict[str, Any]:
    start = time.perf_counter()
    record: dict[str, Any] = {"split": split.index, "repeat": repeat, "trial": number}
    try:
        subs = space.suggest(trial, num_sub_policies=cfg.num_sub_policies, num_ops=cfg.num_ops)
        record |= {"params": trial.params, "sub_policies": subs}
        result = score_policy(space.policy(subs), model, split.augment_data, draws=cfg.draws, rule=cfg.score,
                              seed=_seed(cfg.seed, split.index, repeat, number), device=device)
        if not math.isfinite(result["score"]):  # optuna refuses NaN, and JSON has no infinities
            raise AugsearchError(f"the candidate's score is {result['score']} (mean loss {result['loss']})")
        record |= result | {"error": None}
    except (AugsearchError, RuntimeError, ValueError) as err:  # a failing trial is recorded, the search goes on
        record |= {"params": trial.params, "score": None, "error": f"{type(err).__name__}: {first_line(err)}"}
        record.setdefault("sub_policies", None)
        if not isinstance(err, AugsearchError):
            record["traceback"] = traceback.format_exc(limit=3)
    record["seconds"] = time.perf_counter() - start
    return record


def _seed(*parts: int) -> int:
    """A stable seed for one (run seed, split, repeat[, trial]) combination."""
    return zlib.crc32(json.dumps(parts).encode())


def merge(trials: list[dict[str, Any]], *, top_n: int) -> list[list[list[Any]]]:
    """The final policy's sub-policies: the best ``top_n`` candidates of every (split, repeat)
    search, in (split, repeat) order and by score within each, exact duplicates removed."""
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for t in trials:
        if t.get("error") is None and t.get("score") is not None:
            groups.setdefault((t["split"], t["repeat"]), []).append(t)
    subs: list[list[list[Any]]] = []
    seen: set[str] = set()
    for key in sorted(groups):
        best = sorted(groups[key], key=lambda t: (-t["score"], t["trial"]))[:top_n]
        for t in best:
            for sub in t["sub_policies"]:
                fingerprint = json.dumps(sub)
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    subs.append(sub)
    return subs
