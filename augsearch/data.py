"""Datasets as small in-memory uint8 tensors, so search and training never touch the disk again.

Every loader returns an :class:`ImageSet`; images are uint8 (N, 3, H, W) so a whole
dataset stays compact on the host or on an accelerator and augmentation ops can work
on the exact pixel values.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from augsearch.errors import ConfigError, DataError, first_line
from augsearch.registry import Registry

DatasetLoader = Callable[..., "ImageSet"]
DATASETS: Registry[DatasetLoader] = Registry("dataset", error=DataError)
"""Loaders ``(argument, *, data_root, image_size, split, skip_bad)``; ``folder:PATH`` passes PATH."""
DEFAULT_IMAGE_SIZE = 32
DIGITS_IMAGE_SIZE = 16  # the digits are 8x8: twice that keeps every detail and the default search fast
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
DIGITS_VAL_FRACTION = 0.2
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_RESIZE_CHUNK = 4096


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare by identity
class ImageSet:
    """A labelled image collection held in memory.

    ``images`` is uint8 (N, 3, H, W), ``labels`` int64 (N,) indexing ``classes``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"{self.name}: images must be uint8 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise DataError(
                f"{self.name}: labels must be int64 ({self.images.shape[0]},), got "
                f"{self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageSet:
        """The images at ``indices`` (in that order), sharing ``classes`` and ``name``."""
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.images.device)
        return ImageSet(self.images[index], self.labels[index], self.classes, self.name)


def default_image_size(name: str) -> int:
    """The side ``load_dataset(name)`` gives when no ``image_size`` is asked for."""
    return DIGITS_IMAGE_SIZE if name == "digits" else DEFAULT_IMAGE_SIZE


def load_dataset(
    name: str,
    *,
    data_root: str | Path = "data",
    image_size: int | None = None,
    subset: int | None = None,
    seed: int = 0,
    split: str = "train",
    skip_bad: bool = False,
) -> ImageSet:
    """Load a dataset by name into memory.

    Names:
      ``digits``  scikit-learn's 1,797 8x8 digits, embedded (no download). It has one
                  split, so a fixed stratified 20% holdout (seed 0, independent of
                  ``seed``) is ``val`` (359 images) and the rest is ``train`` (1,438).
      ``cifar10``, ``cifar100``, ``svhn``  torchvision datasets in ``data_root``, downloaded
                  when absent; ``val`` and ``test`` both mean the official test split.
      ``folder:PATH``  an image tree ``PATH/<class>/<images>`` (any sizes and modes; the
                  shorter side is scaled to ``image_size`` and the centre square kept,
                  alpha is composited over black, 16-bit grey is scaled to 8 bits); one
                  split only, so point PATH at the split's directory and leave ``split``.

    ``image_size`` resizes to a square (default 32, the CIFAR/SVHN native size; 16 for digits).
    ``subset=N`` keeps a stratified sample of N images chosen with ``seed``.
    ``skip_bad`` (folders only) skips unreadable images with a warning instead of failing.
    """
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image_size must be a positive integer, got {image_size}")
    loader, argument = DATASETS.resolve(name)
    data = loader(argument, data_root=Path(data_root), image_size=image_size, split=split, skip_bad=skip_bad)
    if subset is not None:
        if not 1 <= subset <= len(data):
            raise DataError(
                f"subset={subset} is out of range: {data.name} ({split}) has {len(data)} images"
            )
        picked, _ = _stratified_pick(data.labels, subset, torch.Generator().manual_seed(seed))
        data = data.subset(picked)
    return data


def has_test_split(name: str) -> bool:
    """Whether dataset ``name`` has a held-out split of its own (``split="test"``): the named ones
    do (digits' fixed 20 %, torchvision's test sets); one given by an argument (``folder:PATH``)
    is a single split, from which the caller holds out a stratified part."""
    return DATASETS.resolve(name)[1] is None


@dataclass(frozen=True, eq=False)
class TrainTest:
    """Training images and held-out images, and how the held-out part was chosen (``holdout``,
    recorded with every run that uses it)."""

    train: ImageSet
    test: ImageSet
    holdout: dict


def load_train_test(name: str, *, val: str | None = None, val_fraction: float = 0.2, seed: int = 0,
                    data_root: str | Path = "data", image_size: int | None = None, subset: int | None = None,
                    skip_bad: bool = False) -> TrainTest:
    """``name``'s training data and held-out data: ``val`` when given, else the dataset's own test
    split, else a stratified ``val_fraction`` of its one split chosen with ``seed`` (the indices
    are recorded, and the training part is the rest)."""
    train = load_dataset(name, data_root=data_root, image_size=image_size, subset=subset, seed=seed,
                         skip_bad=skip_bad)
    size = train.images.shape[-1]
    if val is not None:
        split = "test" if has_test_split(val) else "train"
        test = load_dataset(val, data_root=data_root, image_size=size, split=split, skip_bad=skip_bad)
        if test.classes != train.classes:
            raise DataError(f"{val} has classes {test.classes[:5]}..., {name} has {train.classes[:5]}...: "
                            "the held-out data must have the same classes")
        return TrainTest(train, test, {"kind": "val", "dataset": val, "split": split})
    if has_test_split(name):
        test = load_dataset(name, data_root=data_root, image_size=size, split="test")
        return TrainTest(train, test, {"kind": "test split", "dataset": name})
    if not 0 < val_fraction < 1:
        raise ConfigError(f"{name} has one split: hold out a fraction of it between 0 and 1 (got {val_fraction})")
    keep, held = stratified_splits(train.labels, n_splits=1, train_fraction=1 - val_fraction, seed=seed)[0]
    return TrainTest(train.subset(keep), train.subset(held),
                     {"kind": "val fraction", "fraction": val_fraction, "seed": seed, "test_indices": held.tolist()})


def stratified_splits(
    labels: torch.Tensor, *, n_splits: int, train_fraction: float = 0.6, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """K random stratified splits into (D_M, D_A) index tensors, as Fast AutoAugment uses.

    Each pair is disjoint and covers every sample; ``round(train_fraction * N)`` samples go
    to D_M, allotted to classes in proportion to their sizes (largest remainder), so class
    ratios match in both parts as closely as integer counts allow. Indices are sorted.
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 1:
        raise ConfigError(f"n_splits must be a positive integer, got {n_splits!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"train_fraction must be strictly between 0 and 1, got {train_fraction}")
    if labels.dim() != 1:
        raise DataError(f"labels must be one-dimensional, got shape {tuple(labels.shape)}")
    n_train = round(train_fraction * labels.numel())
    if not 1 <= n_train < labels.numel():
        raise DataError(
            f"cannot split {labels.numel()} samples with train_fraction={train_fraction}: "
            "both parts need at least one sample"
        )
    generator = torch.Generator().manual_seed(seed)
    return [_stratified_pick(labels.cpu(), n_train, generator) for _ in range(n_splits)]


def _stratified_pick(
    labels: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly pick ``n`` indices with per-class quotas; return (picked, rest), each sorted."""
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * n / labels.numel()
    quotas = exact.floor().long()
    shortfall = n - int(quotas.sum())
    # Largest remainder first; ties go to larger classes, then lower class ids.
    order = sorted(
        range(len(classes)), key=lambda c: (-float(exact[c] - quotas[c]), -int(counts[c]), c)
    )
    for c in order[:shortfall]:
        quotas[c] += 1
    picked = []
    for c, quota in zip(classes, quotas):
        members = torch.nonzero(labels == c).flatten()
        picked.append(members[torch.randperm(len(members), generator=generator)[: int(quota)]])
    chosen = torch.zeros(labels.numel(), dtype=torch.bool)
    chosen[torch.cat(picked)] = True
    return torch.nonzero(chosen).flatten(), torch.nonzero(~chosen).flatten()


def _resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of a uint8 batch to size x size, in chunks to bound memory."""
    out = [
        F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True)
        .round_()
        .clamp_(0, 255)
        .to(torch.uint8)
        for chunk in images.split(_RESIZE_CHUNK)
    ]
    return torch.cat(out)


@DATASETS.register("digits")
def _load_digits(argument: str | None, *, image_size: int | None, split: str, **_: object) -> ImageSet:
    from sklearn.datasets import load_digits

    image_size = image_size or DIGITS_IMAGE_SIZE
    if split not in ("train", "val", "test"):
        raise DataError(f"digits has splits 'train' and 'val' ('test' means 'val'), not {split!r}")
    bunch = load_digits()
    pixels = torch.from_numpy(bunch.images).float().mul_(255.0 / 16.0).round_()
    images = pixels.to(torch.uint8).unsqueeze(1)
    if image_size != images.shape[-1]:
        images = _resize_uint8(images, image_size)
    labels = torch.from_numpy(bunch.target).long()
    val_size = round(DIGITS_VAL_FRACTION * len(labels))
    val, train = _stratified_pick(labels, val_size, torch.Generator().manual_seed(0))
    index = train if split == "train" else val
    classes = [str(c) for c in range(10)]
    return ImageSet(images[index].expand(-1, 3, -1, -1).contiguous(), labels[index], classes, "digits")


# name -> (torchvision class, display name, folder torchvision reads, archive to fetch)
_TORCHVISION = {
    "cifar10": ("CIFAR10", "CIFAR-10", "cifar-10-batches-py",
                "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"),
    "cifar100": ("CIFAR100", "CIFAR-100", "cifar-100-python",
                 "cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html"),
    "svhn": ("SVHN", "SVHN", "", "train_32x32.mat and test_32x32.mat from "
             "http://ufldl.stanford.edu/housenumbers/"),
}


def _torchvision_loader(name: str) -> DatasetLoader:
    def load(argument: str | None, *, data_root: Path, image_size: int | None, split: str, **_: object) -> ImageSet:
        data = _load_torchvision(name, root=data_root, split=split)
        if image_size is not None and image_size != data.images.shape[-1]:
            data = ImageSet(_resize_uint8(data.images, image_size), data.labels, data.classes, data.name)
        return data
    return load


def _load_torchvision(name: str, *, root: Path, split: str) -> ImageSet:
    """Read a torchvision dataset, downloading it only when the local files are unusable."""
    import torchvision.datasets

    if split not in ("train", "val", "test"):
        raise DataError(f"{name} has splits 'train' and 'test' ('val' means 'test'), not {split!r}")
    class_name, display, folder, archive = _TORCHVISION[name]
    dataset_class = getattr(torchvision.datasets, class_name)
    is_train = split == "train"
    kwargs = {"split": "train" if is_train else "test"} if name == "svhn" else {"train": is_train}
    try:
        dataset = dataset_class(str(root), download=False, **kwargs)
    except RuntimeError:
        try:
            dataset = dataset_class(str(root), download=True, **kwargs)
        except Exception as exc:  # any download failure becomes one actionable line
            reason = f"{type(exc).__name__}: {str(exc).strip()}".splitlines()[0]
            location = root / folder if folder else root
            raise DataError(
                f"{display} not found in {location} and could not be downloaded ({reason}); "
                f"download {archive} and {'extract it into' if folder else 'put them in'} {root}/"
            ) from exc
    if name == "svhn":
        images = torch.from_numpy(dataset.data)
        labels = torch.from_numpy(np.asarray(dataset.labels)).long()
        classes = [str(c) for c in range(10)]
    else:
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
        classes = list(dataset.classes)
    return ImageSet(images, labels, classes, name)


for _name in _TORCHVISION:
    DATASETS.register(_name, _torchvision_loader(_name))


@DATASETS.register("folder:PATH")
def _folder_loader(argument: str, *, image_size: int | None, split: str, skip_bad: bool, **_: object) -> ImageSet:
    if split != "train":
        raise DataError(f"folder:{argument} has a single split; pass the {split} folder as its own folder:PATH")
    return _load_folder(Path(argument).expanduser(), image_size=image_size or DEFAULT_IMAGE_SIZE, skip_bad=skip_bad)


def _load_folder(root: Path, *, image_size: int, skip_bad: bool) -> ImageSet:
    """Read ``root/<class>/**/<image>``; classes are the sorted subfolder names."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a directory")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DataError(f"no class subfolders in {root}; expected {root}/<class>/<image files>")
    files: list[Path] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        members = sorted(
            p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not members:
            raise DataError(f"class folder {class_dir} contains no image files")
        files += members
        labels += [label] * len(members)

    # Pillow decodes and resizes without the GIL, so threads pay off for large images;
    # chunks keep the per-task overhead negligible for tiny ones.
    workers = min(8, os.cpu_count() or 1)
    size = -(-len(files) // (4 * workers))  # about four chunks per worker balances the load
    chunks = [files[i:i + size] for i in range(0, len(files), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(lambda chunk: [_read_image(p, image_size) for p in chunk], chunks)
        results = [result for part in parts for result in part]

    bad = [(path, r) for path, r in zip(files, results) if isinstance(r, Exception)]
    if bad and not skip_bad:
        path, exc = bad[0]
        raise DataError(
            f"cannot read image {path} ({first_line(exc)}); fix or remove it, "
            "or skip unreadable files with skip_bad"
        )
    if bad:
        warnings.warn(
            f"skipped {len(bad)} unreadable image file(s) in {root} (first: {bad[0][0]})",
            stacklevel=3,
        )
    keep = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    label_tensor = torch.tensor([labels[i] for i in keep], dtype=torch.int64)
    for label, class_dir in enumerate(class_dirs):
        if not bool((label_tensor == label).any()):
            raise DataError(f"class folder {class_dir} has no readable images")
    images = torch.from_numpy(np.stack([results[i] for i in keep]))
    return ImageSet(images, label_tensor, [d.name for d in class_dirs], f"folder:{root}")


def _read_image(path: Path, size: int) -> np.ndarray | Exception:
    """Decode one file to uint8 (3, size, size), or return the error (threads can't raise usefully).

    The shorter side is scaled to ``size`` and the centre square kept (aspect ratio preserved).
    Transparent pixels are composited over black; 16-bit grey is scaled, not clipped, to 8 bits.
    """
    try:
        with Image.open(path) as img:
            img.draft(None, (size, size))  # JPEG: decode at reduced scale when the file is large
            img.load()  # forces a full decode, so truncated files fail here
            rgb = _to_rgb(img)
    except Exception as exc:  # Pillow raises many types on malformed files; report them all
        return exc
    width, height = rgb.size
    if (width, height) != (size, size):
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        rgb = rgb.resize(
            (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
        )
    return np.asarray(rgb).transpose(2, 0, 1).copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB."""
    if img.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
        return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return img.convert("RGB")
