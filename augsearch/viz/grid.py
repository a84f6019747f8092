"""Sample grids: what a policy really does to images, one row per image, with what fired.

Each augmented tile and its annotation come from the same ``trace`` call, so the text is
what happened to that tile, not a second draw. Each column is one call on the batch of all
rows, so batch-level ops (SamplePairing, Mixup, CutMix) mix images that are on the sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from augsearch.data import IMAGE_EXTENSIONS
from augsearch.errors import AugsearchError, DataError
from augsearch.families import MixPlan
from augsearch.mixing import Mixup
from augsearch.ops import OPS
from augsearch.plans import Applied, Plan
from augsearch.recipe import AugmentationRecipe
from augsearch.specs import load_policy
from augsearch.viz.draw import Tile, sheet, to_pil

DEFAULT_TILE = 128
# scikit-image's bundled photos (no download), colourful and varied first
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina", "immunohistochemistry",
          "hubble_deep_field", "colorwheel", "camera", "coins")


# ----------------------------------------------------------------------------- image sources

def square(image: Image.Image, size: int) -> Image.Image:
    """The centre square of ``image`` as RGB, resized to ``size`` px."""
    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return image.resize((size, size), Image.Resampling.LANCZOS, box=box)


def sample_photos(count: int, *, size: int, start: int = 0) -> tuple[list[str], torch.Tensor]:
    """``count`` of scikit-image's sample photos (names, uint8 (N, 3, size, size))."""
    import skimage.data  # noqa: PLC0415  (slow import, only when photos are wanted)

    if not 1 <= start + count <= len(PHOTOS):
        raise DataError(f"there are {len(PHOTOS)} sample photos; ask for fewer rows or give --images DIR")
    names = list(PHOTOS[start:start + count])
    photos = [square(to_pil(getattr(skimage.data, name)()), size) for name in names]
    return names, as_batch(photos)


def read_image(path: str | Path, *, size: int) -> Image.Image:
    """One image file as a ``size`` px RGB square, or a one-line error naming the file."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return square(img, size)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read image {path}: {getattr(err, 'strerror', None) or err}") from None


def read_images(folder: str | Path, *, size: int, limit: int) -> tuple[list[str], torch.Tensor]:
    """The first ``limit`` image files of ``folder`` (sorted by name) as ``size`` px squares."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist or is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {folder}")
    files = files[:limit]
    return [p.stem for p in files], as_batch([read_image(p, size=size) for p in files])


def pick_rows(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of ``count`` samples, one per class first, so a grid shows different classes."""
    first = {}
    for i, label in enumerate(labels.tolist()):
        first.setdefault(label, i)
    chosen = list(first.values())[:count]
    taken = set(chosen)
    rest = [i for i in range(len(labels)) if i not in taken][:count - len(chosen)]
    return torch.tensor(sorted(chosen) + rest, dtype=torch.int64)


def as_batch(images: torch.Tensor | Sequence[Image.Image]) -> torch.Tensor:
    """A uint8 (N, 3, H, W) batch from a tensor or from equally sized PIL images."""
    if len(images) == 0:
        raise DataError("no images to show")
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise TypeError(f"expected uint8 images (N, 1|3, H, W), got {images.dtype} {tuple(images.shape)}")
        return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images
    pictures = [to_pil(im) for im in images]
    if len({p.size for p in pictures}) > 1:
        raise DataError("the images differ in size; resize them to one size first")
    return torch.from_numpy(np.stack([np.asarray(p) for p in pictures])).permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------- captions

def describe(applied: Applied) -> str:
    """One fired op as ``Rotate -12.5°``; a convention's variant keeps its own name
    (``PosterizeIncreasing 4 bits``), which is shorter than ``str(applied)``."""
    text = OPS[applied.op].describe(applied.value)
    return applied.name + text[len(applied.op):]


def annotation(plan: Plan | MixPlan) -> str:
    """What a plan applied, one op per line, with physical values; ``none`` when nothing fired."""
    if isinstance(plan, MixPlan):
        chains = [f"{w:.2f}: " + (" > ".join(map(describe, chain)) or "Identity")
                  for w, chain in zip(plan.weights, plan.chains)]
        return "\n".join([f"AugMix mix {plan.skip:.2f}", *chains])
    return "\n".join(map(describe, plan)) or "none"


def soft_label(target: torch.Tensor, classes: Sequence[str]) -> str:
    """A soft target as ``0.63 cat + 0.37 dog`` (the three largest shares); class names that
    look like numbers are quoted so they do not read as weights."""
    shares = sorted(((float(p), k) for k, p in enumerate(target.tolist()) if p >= 0.005), reverse=True)
    parts = [f"{p:.2f} {_class_name(classes, k)}" for p, k in shares[:3]]
    return " + ".join(parts) + (" + …" if len(shares) > 3 else "")


def _class_name(classes: Sequence[str], k: int) -> str:
    name = classes[k] if k < len(classes) else str(k)
    return f'"{name}"' if name.replace(".", "", 1).isdigit() else name


# ----------------------------------------------------------------------------- grids

def sample_tiles(policy: Any, images: torch.Tensor | Sequence[Image.Image], *, n: int = 8, seed: int = 0,
                 annotate: bool = False, labels: torch.Tensor | Sequence[int] | None = None,
                 classes: Sequence[str] | None = None, names: Sequence[str] | None = None) -> list[list[Tile]]:
    """The tiles of :func:`sample_grid`: per image, the original and then ``n`` draws."""
    policy = load_policy(policy)
    batch = as_batch(images)
    rows = batch.shape[0]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise AugsearchError(f"n must be a positive integer, got {n!r}")
    label_t = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
    classes = list(classes or [])
    if any(x is not None and len(x) != rows for x in (label_t, names)):
        raise DataError(f"give one label and one name per image ({rows} images)")
    if names:
        titles = list(names)
    elif label_t is not None:
        titles = [classes[k] if k < len(classes) else str(k) for k in label_t.tolist()]
    else:
        titles = [""] * rows
    grid = [[Tile(to_pil(batch[i]), "original" + (f"\n{titles[i]}" if titles[i] else ""))] for i in range(rows)]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(n):
        if isinstance(policy, Mixup):
            out, texts = _mix(policy, batch, label_t, classes, generator)
        elif isinstance(policy, AugmentationRecipe):  # per image, then its batch mixing when labels are given
            out, texts = policy.image(batch, generator=generator), [""] * rows
            if policy.mixes and label_t is not None:
                count = max(len(classes), int(label_t.max()) + 1, 2)
                out, targets = policy.batch(out, label_t, num_classes=count, generator=generator)
                texts = [soft_label(t, classes) for t in targets]
        else:
            out, plans = policy.trace(batch, generator=generator)
            if policy._views() > 1:  # AugMix with jsd=True: its first augmented view
                out, plans = out[1], plans[0]
            texts = [annotation(p) if annotate else "" for p in plans]
        for i in range(rows):
            grid[i].append(Tile(to_pil(out[i]), texts[i]))
    return grid


def _mix(policy: Mixup, batch: torch.Tensor, labels: torch.Tensor | None, classes: Sequence[str],
         generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
    if labels is None:
        raise DataError(f"{policy.kind} mixes labels: give the images' labels (and class names)")
    if int(labels.max()) >= policy.num_classes:
        raise DataError(f"the policy has num_classes={policy.num_classes} but the images have "
                        f"{int(labels.max()) + 1} classes; raise num_classes")
    out, targets = policy(batch, labels, generator=generator)
    return out, [soft_label(t, classes) for t in targets]


def sample_grid(policy: Any, images: torch.Tensor | Sequence[Image.Image], *, n: int = 8, seed: int = 0,
                annotate: bool = False, tile: int = DEFAULT_TILE,
                labels: torch.Tensor | Sequence[int] | None = None, classes: Sequence[str] | None = None,
                names: Sequence[str] | None = None, title: str = "") -> Image.Image:
    """One row per image: the original, then ``n`` augmented draws, each ``tile`` px (small
    images are enlarged with nearest neighbours). ``annotate`` writes under each tile the ops
    that fired with their physical values. Mixup and CutMix need ``labels`` and show each
    mixed image's soft label in ``classes`` (or ``names``)."""
    rows = sample_tiles(policy, images, n=n, seed=seed, annotate=annotate, labels=labels, classes=classes,
                        names=names)
    return sheet(rows, tile=tile, title=title)
