"""Batch-level label mixing: mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019).

They take ``(images, labels)`` and return mixed images of the same dtype (uint8 included,
unlike torchvision's MixUp) and soft targets, with timm's options: a switch probability
between the two when both are on, ``mode`` ``batch`` (one lambda per batch), ``pair`` (one
per pair of samples) or ``elem`` (one per sample), and label smoothing.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from augsearch.draws import MAX_ALPHA, Draws
from augsearch.errors import PolicyError
from augsearch.formats import FORMAT_VERSION
from augsearch.ops import to_uint8
from augsearch.plans import slice_rows
from augsearch.policy import PolicyData

MODES = ("batch", "pair", "elem")
MAX_CLASSES = 1_000_000  # soft targets take batch x classes floats: 512 MB for a batch of 128


def _positive(value: Any, place: str, *, allow_zero: bool = True, high: float = float("inf")) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0 <= value <= high) or (value == 0 and not allow_zero):
        raise PolicyError(f"must be a number in [0, {high:g}]" + ("" if allow_zero else ", not 0"),
                          place=place, value=value)
    return float(value)


def soft_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot (or given soft) targets with label smoothing."""
    if labels.ndim == 2:
        targets = labels.to(torch.float32)
    else:
        targets = torch.nn.functional.one_hot(labels.long(), num_classes).to(torch.float32)
    return targets * (1.0 - smoothing) + smoothing / num_classes


class Mixup(PolicyData):
    """Mixes a batch with its reversed copy. ``alpha`` is mixup's Beta parameter,
    ``cutmix_alpha`` CutMix's (0 turns either off); with both on, CutMix is used with
    ``switch_prob``. ``prob`` is the chance a batch (or sample, or pair) is mixed at all."""

    kind: ClassVar[str] = "mixup"

    def __init__(self, alpha: float = 1.0, *, cutmix_alpha: float = 0.0, num_classes: int,
                 prob: float = 1.0, switch_prob: float = 0.5, mode: str = "batch",
                 label_smoothing: float = 0.0, correct_lam: bool = True) -> None:
        self.alpha = _positive(alpha, "alpha", high=MAX_ALPHA)
        self.cutmix_alpha = _positive(cutmix_alpha, "cutmix_alpha", high=MAX_ALPHA)
        if self.alpha == 0 and self.cutmix_alpha == 0:
            raise PolicyError("one of alpha and cutmix_alpha must be above 0", place="alpha", value=alpha)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 2 <= num_classes <= MAX_CLASSES:
            raise PolicyError(f"must be an integer in [2, {MAX_CLASSES:,}]", place="num_classes",
                              value=num_classes)
        self.num_classes = num_classes
        self.prob = _positive(prob, "prob", high=1.0)
        self.switch_prob = _positive(switch_prob, "switch_prob", high=1.0)
        if mode not in MODES:
            raise PolicyError(f"mode must be one of {', '.join(MODES)}", place="mode", value=mode)
        self.mode = mode
        self.label_smoothing = _positive(label_smoothing, "label_smoothing", high=1.0)
        if not isinstance(correct_lam, bool):
            raise PolicyError("correct_lam must be true or false", place="correct_lam", value=correct_lam)
        self.correct_lam = correct_lam

    def _draw_one(self, draws: Draws) -> tuple[float, bool]:
        """(lambda, use_cutmix) for one batch, pair or sample."""
        if draws.uniform() >= self.prob:
            return 1.0, False
        use_cutmix = self.cutmix_alpha > 0 and (self.alpha == 0 or draws.uniform() < self.switch_prob)
        a = self.cutmix_alpha if use_cutmix else self.alpha
        return draws.beta(a, a), use_cutmix

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise TypeError("Mixup and CutMix take a batch tensor (N, C, H, W) and its labels")
        n, _, h, w = images.shape
        if self.mode == "pair" and n % 2:
            raise PolicyError("mode 'pair' needs an even batch size", place="mode", value=n)
        draws = Draws(generator)
        if self.mode == "batch":
            lam, cut = self._draw_one(draws)
            lams, cuts = [lam] * n, [cut] * n
        elif self.mode == "elem":
            drawn = [self._draw_one(draws) for _ in range(n)]
            lams, cuts = [lam for lam, _ in drawn], [cut for _, cut in drawn]  # an empty batch draws none
        else:
            half = [self._draw_one(draws) for _ in range(n // 2)]
            lams = [lam for lam, _ in half] + [lam for lam, _ in reversed(half)]
            cuts = [c for _, c in half] + [c for _, c in reversed(half)]
        partner = images.flip(0)
        blended = [i for i in range(n) if not cuts[i] and lams[i] < 1.0]  # a box changes only its own row's lambda
        per = slice_rows(images)  # float32 copies of a whole batch of 224 px images are 77 MB each, faulted in afresh
        if len(blended) == n <= per:  # every image, in one slice: the blend is the output
            out, blended = _blend(images, partner, lams), []
        else:  # rows that neither blend nor take a box keep their image
            out = torch.empty_like(images) if len(blended) == n else images.clone()
        for i in range(n):  # boxes in row order: each draws its centre
            if cuts[i]:
                x0, y0, x1, y1 = cutmix_box(lams[i], w, h, draws)
                out[i, :, y0:y1, x0:x1] = partner[i, :, y0:y1, x0:x1]
                if self.correct_lam or lams[i] in (0.0, 1.0):
                    lams[i] = 1.0 - (x1 - x0) * (y1 - y0) / float(w * h)
        for start in range(0, len(blended), per):
            some = blended[start:start + per]
            if some[-1] - some[0] == len(some) - 1:  # consecutive rows: slices, no gathered copies
                first, stop = some[0], some[-1] + 1
                out[first:stop] = _blend(images[first:stop], partner[first:stop], lams[first:stop])
            else:
                rows = torch.tensor(some, device=images.device)
                out.index_copy_(0, rows, _blend(images.index_select(0, rows), partner.index_select(0, rows),
                                                [lams[i] for i in some]))
        lam_t = torch.tensor(lams, dtype=torch.float32, device=images.device).view(n, 1)
        targets = soft_targets(labels.to(images.device), self.num_classes, self.label_smoothing)
        return out, targets * lam_t + targets.flip(0) * (1.0 - lam_t)

    def to_config(self) -> dict[str, Any]:
        return {"augsearch": FORMAT_VERSION, "kind": self.kind, "alpha": self.alpha,
                "cutmix_alpha": self.cutmix_alpha, "num_classes": self.num_classes, "prob": self.prob,
                "switch_prob": self.switch_prob, "mode": self.mode, "label_smoothing": self.label_smoothing,
                "correct_lam": self.correct_lam}

    def __repr__(self) -> str:
        cfg = {k: v for k, v in self.to_config().items() if k not in ("augsearch", "kind")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in cfg.items())})"


class CutMix(Mixup):
    """CutMix: a box of area ``1 - lambda`` (``lambda ~ Beta(alpha, alpha)``) pasted from the
    reversed batch; lambda is recomputed from the clipped box."""

    kind: ClassVar[str] = "cutmix"

    def __init__(self, alpha: float = 1.0, *, num_classes: int, prob: float = 1.0, mode: str = "batch",
                 label_smoothing: float = 0.0, correct_lam: bool = True) -> None:
        super().__init__(0.0, cutmix_alpha=alpha, num_classes=num_classes, prob=prob, switch_prob=1.0,
                         mode=mode, label_smoothing=label_smoothing, correct_lam=correct_lam)

    def to_config(self) -> dict[str, Any]:
        cfg = super().to_config()
        cfg["alpha"] = cfg.pop("cutmix_alpha")
        del cfg["switch_prob"]
        return cfg


def _blend(images: torch.Tensor, partner: torch.Tensor, lams: list[float]) -> torch.Tensor:
    """``image * lam + partner * (1 - lam)`` in float32, in the images' dtype (integers rounded)."""
    lam = torch.tensor(lams, dtype=torch.float32, device=images.device).view(-1, 1, 1, 1)
    rest = torch.tensor([1.0 - v for v in lams], dtype=torch.float32, device=images.device).view(-1, 1, 1, 1)
    # the partner converts as a copy, to be scaled in place (the caller's images are never written)
    mixed = (images.to(torch.float32) * lam).add_(partner.to(torch.float32, copy=True).mul_(rest))
    return mixed.to(images.dtype) if images.is_floating_point() else to_uint8(mixed.round_()).to(images.dtype)


def cutmix_box(lam: float, width: int, height: int, draws: Draws) -> tuple[int, int, int, int]:
    """A box of about ``(1 - lam)`` of the image, centre uniform, clipped: ``x0, y0, x1, y1``."""
    ratio = math.sqrt(1.0 - lam)
    cut_w, cut_h = int(width * ratio), int(height * ratio)
    cx, cy = draws.randint(width), draws.randint(height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    return x0, y0, x1, y1
