"""Proxy training and batched evaluation, the inner loop of policy search.

One code path for CPU and GPU. Activations are ``channels_last`` everywhere (oneDNN on
CPU and tensor cores on GPU are both faster with it). On CUDA the dataset stays on the
device when it fits and the forward pass runs under autocast (bf16, or fp16 with a
gradient scaler); on CPU everything is plain fp32. Thread counts are the caller's choice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from augsearch.data import ImageSet
from augsearch.errors import AugsearchError, ConfigError

BatchAugment = Callable[[torch.Tensor], torch.Tensor]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1] (the models' input contract), channels_last."""
    return images.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def random_crop_flip(*, padding: int = 4, flip: bool = True) -> BatchAugment:
    """The standard CIFAR baseline augmentation, batched on uint8 tensors on any device.

    Zero-pads by ``padding``, takes a random crop of the original size per image, and
    mirrors half the images horizontally when ``flip`` (leave it off for digits or text).
    Randomness comes from torch's generator for the batch's device.
    """
    if padding < 0:
        raise ConfigError(f"padding must be >= 0, got {padding}")

    def augment(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        device = images.device
        padded = F.pad(images, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
        dx = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
        rows = (dy + torch.arange(h, device=device))[:, :, None]
        cols = (dx + torch.arange(w, device=device))[:, None, :]
        batch = torch.arange(n, device=device)[:, None, None]
        out = padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        if flip:
            mirror = torch.rand(n, device=device) < 0.5
            out = torch.where(mirror[:, None, None, None], out.flip(3), out)
        return out.contiguous()

    return augment


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
) -> list[dict]:
    """Train ``model`` in place with Nesterov SGD and a per-step cosine schedule.

    Each epoch sees a fresh shuffle in full batches (the ragged remainder is dropped, so
    batch-norm never sees a tiny batch). ``augment`` maps a uint8 batch on the device to
    an augmented uint8 batch; default none. Shuffling and any randomness inside
    ``augment`` come from a private RNG stream seeded with ``seed``, so a CPU run is
    reproducible and the caller's global RNG state is left as it was.

    Returns one dict per epoch: ``epoch`` (1-based), ``loss`` and ``train_acc`` (means over
    the epoch's training batches), ``lr`` (of the epoch's last step), ``seconds``.
    """
    _check_positive(epochs=epochs, batch_size=batch_size, lr=lr)
    if weight_decay < 0 or not 0 <= momentum < 1 or not 0 <= label_smoothing < 1:
        raise ConfigError(
            "need weight_decay >= 0, 0 <= momentum < 1 and 0 <= label_smoothing < 1, got "
            f"{weight_decay}, {momentum}, {label_smoothing}"
        )
    if len(train) == 0:
        raise ConfigError("cannot train on an empty dataset")
    device = torch.device(device)
    model.to(device, memory_format=torch.channels_last)
    images, on_device = _place(train.images, device)
    labels = train.labels.to(device)
    n = len(train)
    steps_per_epoch = max(1, n // batch_size)
    total_steps = epochs * steps_per_epoch
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
        nesterov=momentum > 0,
    )
    amp_dtype, scaler = _mixed_precision(device)
    history: list[dict] = []
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        step = 0
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
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
                step_lr = lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
                for group in optimizer.param_groups:
                    group["lr"] = step_lr
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(to_float(batch))
                loss = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.detach() * len(index)
                correct += (logits.argmax(1) == target).sum()
                seen += len(index)
                step += 1
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise AugsearchError(
                    f"training diverged (loss {mean_loss} in epoch {epoch}); lower the learning rate"
                )
            metrics = {
                "epoch": epoch,
                "loss": mean_loss,
                "train_acc": correct.item() / seen,
                "lr": step_lr,
                "seconds": time.perf_counter() - start,
            }
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)
    return history


def evaluate(
    model: nn.Module,
    images_uint8: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> dict:
    """Score ``model`` on uint8 images; per-sample results let a scorer combine several draws.

    Returns ``loss`` (mean cross-entropy), ``accuracy``, and on the CPU ``per_sample_correct``
    (bool, N) and ``per_sample_loss`` (float32, N). The model's train/eval mode is restored.
    """
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
    device = torch.device(device)
    model.to(device, memory_format=torch.channels_last)
    amp_dtype, _ = _mixed_precision(device)
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


def _mixed_precision(device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """Autocast dtype (None = fp32) and a scaler that is only active for fp16."""
    if device.type != "cuda":
        return None, torch.amp.GradScaler("cpu", enabled=False)
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, torch.amp.GradScaler("cuda", enabled=False)
    return torch.float16, torch.amp.GradScaler("cuda", enabled=True)
