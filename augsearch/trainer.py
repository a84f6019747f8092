"""Training and batched evaluation: the proxies of a search and ``augsearch train`` share one loop.

One code path for CPU and GPU. Activations are ``channels_last`` everywhere (oneDNN on
CPU and tensor cores on GPU are both faster with it). On CUDA the dataset stays on the
device when it fits. The forward pass runs in the recipe's :data:`PRECISIONS`: by default under
autocast on CUDA (bf16, or fp16 with a gradient scaler) and in plain fp32 on the CPU, where
``bf16`` autocast is a choice (fast on CPUs with bf16 instructions, slow on others). Thread
counts are the caller's choice.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from augsearch.bases import BatchAugment
from augsearch.data import ImageSet
from augsearch.errors import AugsearchError, ConfigError, first_line
from augsearch.families import jsd_loss
from augsearch.registry import Registry

PRECISIONS: Registry[str] = Registry("precision")
"""The arithmetic of the forward pass, each with what it means."""
PRECISIONS.register("auto", "autocast on CUDA (bf16, else fp16 with a gradient scaler), fp32 on the CPU")
PRECISIONS.register("fp32", "no autocast on any device")
PRECISIONS.register("bf16", "bf16 autocast on any device (fast on CPUs with bf16 instructions, slow on others)")


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1] (the models' input contract), channels_last."""
    return images.float().div_(255.0).contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: Nesterov SGD, a per-step cosine schedule after a linear warmup,
    weight decay, label smoothing and, optionally, an exponential moving average of the weights and
    ``torch.compile`` (compiling costs seconds to minutes up front; it pays on long GPU runs)."""

    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9
    label_smoothing: float = 0.0
    warmup_epochs: float = 0.0
    ema_decay: float | None = None
    compile: bool = False
    precision: str = "auto"

    def __post_init__(self) -> None:
        _check_positive(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        if self.weight_decay < 0 or not 0 <= self.momentum < 1 or not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                "need weight_decay >= 0, 0 <= momentum < 1 and 0 <= label_smoothing < 1, got "
                f"{self.weight_decay}, {self.momentum}, {self.label_smoothing}"
            )
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ConfigError(f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        check_precision(self.precision)

    def lr_at(self, step: int, total: int, steps_per_epoch: int) -> float:
        warmup = round(self.warmup_epochs * steps_per_epoch)
        if step < warmup:
            return self.lr * (step + 1) / warmup
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


Mix = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Views = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass
class Fit:
    """A finished (or resumed) training: the per-epoch history and the EMA model, if any."""

    history: list[dict]
    ema: nn.Module | None


def fit(
    model: nn.Module,
    train: ImageSet,
    recipe: Recipe,
    *,
    device: str | torch.device = "cpu",
    seed: int = 0,
    augment: BatchAugment | None = None,
    mix: Mix | None = None,
    views: Views | None = None,
    evaluate_on: ImageSet | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    epoch_start: Callable[[int], None] | None = None,
    checkpoint: Path | None = None,
) -> Fit:
    """Train ``model`` in place with ``recipe``; the one loop behind proxies and ``augsearch train``.

    Each epoch sees a fresh shuffle in full batches (the ragged remainder is dropped, so
    batch-norm never sees a tiny batch). ``augment`` maps a uint8 batch on the device to an
    augmented uint8 batch; ``mix`` then mixes images and labels into soft targets (mixup,
    CutMix); ``views`` instead returns (clean, view1, view2) for AugMix's Jensen-Shannon term.
    Shuffling and any randomness inside them come from a private RNG stream seeded with
    ``seed``, so a CPU run is reproducible and the caller's global RNG state is left as it was.
    ``epoch_start(e)`` is called with the 0-based epoch before its first batch, so that an augmentation
    that changes with the epoch (a PBA schedule's ``set_epoch``) follows the training, resumed ones too.
    With ``evaluate_on``, every epoch also reports ``test_acc`` and ``test_loss`` (and the EMA's).
    With ``checkpoint``, the state after every epoch is saved there and a run that finds it
    continues where it stopped, with the same result as an uninterrupted one.

    The history has one dict per epoch: ``epoch`` (1-based), ``loss`` and ``train_acc`` (means
    over the epoch's training batches), ``lr`` (of the epoch's last step), ``seconds``.
    """
    if len(train) == 0:
        raise ConfigError("cannot train on an empty dataset")
    device = torch.device(device)
    model.to(device, memory_format=torch.channels_last)
    images, on_device = _place(train.images, device)
    labels = train.labels.to(device)
    n = len(train)
    batch_size = min(recipe.batch_size, n)
    steps_per_epoch = max(1, n // batch_size)
    total_steps = recipe.epochs * steps_per_epoch
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
        nesterov=recipe.momentum > 0,
    )
    ema = copy.deepcopy(model).eval() if recipe.ema_decay is not None else None
    if recipe.compile:  # in place, after the EMA copy: the state dict keeps its keys
        model.compile()
    amp_dtype, scaler = _mixed_precision(device, recipe.precision)
    history: list[dict] = []
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if checkpoint is not None and checkpoint.exists():
            history = _restore(checkpoint, model, optimizer, ema, device)
        model.train()
        for epoch in range(len(history) + 1, recipe.epochs + 1):
            step = (epoch - 1) * steps_per_epoch
            start = time.perf_counter()
            if epoch_start is not None:
                epoch_start(epoch - 1)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            seen = 0
            order = torch.randperm(n, device=images.device)
            for i in range(steps_per_epoch):
                index = order[i * batch_size:(i + 1) * batch_size]
                batch = images[index] if on_device else images[index].to(device, non_blocking=True)
                target = labels[index.to(device)]
                if augment is not None:
                    batch = augment(batch)
                step_lr = recipe.lr_at(step, total_steps, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = step_lr
                loss, logits = _loss(model, batch, target, recipe, mix=mix, views=views, amp_dtype=amp_dtype,
                                     device=device)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    _update_ema(ema, model, recipe.ema_decay)
                loss_sum += loss.detach() * len(index)
                correct += (logits.argmax(1) == target).sum()
                seen += len(index)
                step += 1
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise AugsearchError(
                    f"training diverged (loss {mean_loss} in epoch {epoch}); lower the learning rate in a new run "
                    "(another --out: a resumed run keeps its options)"
                )
            metrics = {
                "epoch": epoch,
                "loss": mean_loss,
                "train_acc": correct.item() / seen,
                "lr": step_lr,
                "seconds": time.perf_counter() - start,
            }
            if evaluate_on is not None:
                for prefix, net in (("", model), ("ema_", ema)):
                    if net is not None:
                        result = evaluate(net, evaluate_on.images, evaluate_on.labels, device=device,
                                          precision=recipe.precision)
                        metrics |= {f"{prefix}test_acc": result["accuracy"], f"{prefix}test_loss": result["loss"]}
            history.append(metrics)
            if checkpoint is not None:
                _save(checkpoint, model, optimizer, ema, history, device)
            if on_epoch is not None:
                on_epoch(metrics)
    return Fit(history, ema)


def _loss(model: nn.Module, batch: torch.Tensor, target: torch.Tensor, recipe: Recipe, *, mix: Mix | None,
          views: Views | None, amp_dtype: torch.dtype | None,
          device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss of one batch and the logits of its (clean or mixed) images."""
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        if views is not None:
            clean, first, second = views(batch)
            logits_all = model(to_float(torch.cat((clean, first, second)))).float()
            logits, one, two = logits_all.chunk(3)
            loss = F.cross_entropy(logits, target, label_smoothing=recipe.label_smoothing)
            return loss + jsd_loss(logits, one, two), logits
        if mix is not None:
            batch, soft = mix(batch, target)
            logits = model(to_float(batch)).float()
            return F.cross_entropy(logits, soft), logits
        logits = model(to_float(batch)).float()
    return F.cross_entropy(logits, target, label_smoothing=recipe.label_smoothing), logits


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for mine, theirs in zip(ema.state_dict().values(), model.state_dict().values()):
        if mine.is_floating_point():
            mine.lerp_(theirs, 1.0 - decay)
        else:
            mine.copy_(theirs)


def _save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, ema: nn.Module | None,
          history: list[dict], device: torch.device) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
             "ema": None if ema is None else ema.state_dict(), "rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _restore(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, ema: nn.Module | None,
             device: torch.device) -> list[dict]:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"].cpu())
        if state["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        return list(state["history"])
    except UNLOADABLE as err:
        raise ConfigError(f"{path}: cannot resume from this checkpoint ({unloadable(err)}); delete it to "
                          "start the training over") from None


UNLOADABLE = Exception
"""What loading a damaged or foreign weights file may raise: from torch's weights-only unpickler
(which never runs code) to a missing key; every one is the file's fault, and said in one line."""


def unloadable(err: BaseException) -> str:
    """Why a weights file did not load, in one line, without torch's advice to load it unsafely."""
    return "not a file of torch weights" if type(err).__name__ == "UnpicklingError" else first_line(err)


def train_proxy(
    model: nn.Module,
    train: ImageSet,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 0.1,
    weight_decay: float = 5e-4,
    momentum: float = 0.9,
    label_smoothing: float = 0.0,
    device: str | torch.device = "cpu",
    seed: int = 0,
    augment: BatchAugment | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    compile: bool = False,
    precision: str = "auto",
) -> list[dict]:
    """Train a search's proxy in place (:func:`fit` without warmup, mixing or EMA); returns the history."""
    recipe = Recipe(epochs, batch_size, lr, weight_decay, momentum, label_smoothing, compile=compile,
                    precision=precision)
    return fit(model, train, recipe, device=device, seed=seed, augment=augment, on_epoch=on_epoch).history


def evaluate(
    model: nn.Module,
    images_uint8: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    precision: str = "auto",
) -> dict:
    """Score ``model`` on uint8 images; per-sample results let a scorer combine several draws.
    ``batch_size`` defaults to :func:`eval_batch_size`'s for the device; ``precision`` is one of
    :data:`PRECISIONS`.

    Returns ``loss`` (mean cross-entropy), ``accuracy``, and on the CPU ``per_sample_correct``
    (bool, N) and ``per_sample_loss`` (float32, N). The model's train/eval mode is restored.
    """
    device = torch.device(device)
    if batch_size is None:
        batch_size = eval_batch_size(device, images_uint8.shape[-2:])
    _check_positive(batch_size=batch_size)
    if images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4:
        raise ConfigError(
            f"evaluate needs uint8 (N, C, H, W) images, got {images_uint8.dtype} "
            f"{tuple(images_uint8.shape)}"
        )
    if labels.shape != (images_uint8.shape[0],) or images_uint8.shape[0] == 0:
        raise ConfigError(
            f"evaluate needs one label per image and at least one image, got "
            f"{tuple(labels.shape)} labels for {images_uint8.shape[0]} images"
        )
    model.to(device, memory_format=torch.channels_last)
    amp_dtype, _ = _mixed_precision(device, check_precision(precision))
    losses, hits = [], []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch, target in zip(images_uint8.split(batch_size), labels.split(batch_size)):
                batch = batch.to(device, non_blocking=True)
                target = target.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(to_float(batch))
                losses.append(F.cross_entropy(logits.float(), target, reduction="none"))
                hits.append(logits.argmax(1) == target)
    finally:
        model.train(was_training)
    per_sample_loss = torch.cat(losses).cpu()
    per_sample_correct = torch.cat(hits).cpu()
    return {
        "loss": per_sample_loss.mean().item(),
        "accuracy": per_sample_correct.float().mean().item(),
        "per_sample_correct": per_sample_correct,
        "per_sample_loss": per_sample_loss,
    }


def eval_batch_size(device: torch.device, size: Sequence[int]) -> int:
    """Inference batch size: 512 on a CPU (as before, so CPU scores stay the same bit for bit); on a GPU
    about 4M pixels a batch, 512 to 8192 images (an H200 scored 32 px images with small-cnn 1.9x faster
    at 4096 than at 512: launch overhead dominates a small proxy)."""
    if device.type == "cpu":
        return 512
    return max(512, min(8192, (1 << 22) // max(1, math.prod(size))))


def _check_positive(**values: float) -> None:
    for option, value in values.items():
        if not value > 0:
            raise ConfigError(f"{option} must be positive, got {value}")


def _place(images: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Put the whole uint8 dataset on the device if it fits in half the free memory.

    Returns the tensor and whether it is on ``device``; otherwise it stays in pinned host
    memory and each batch is copied over asynchronously.
    """
    if device.type != "cuda":
        return images.to(device), True
    free, _ = torch.cuda.mem_get_info(device)
    if images.numel() * images.element_size() < free // 2:
        return images.to(device), True
    return images.pin_memory(), False


def check_precision(precision: str) -> str:
    PRECISIONS.get(precision)  # an unknown name is an error that lists the known ones
    return precision


def _mixed_precision(device: torch.device, precision: str) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """Autocast dtype (None = fp32) and a scaler that is only active for fp16."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None, torch.amp.GradScaler(device.type, enabled=False)
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16, torch.amp.GradScaler(device.type, enabled=False)
    return torch.float16, torch.amp.GradScaler("cuda", enabled=True)
