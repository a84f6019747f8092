"""Shared fixtures for the policy DSL tests: small natural images (PIL and uint8 CHW tensors),
a grayscale image, a small batch, and helpers to run one op kernel directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from augsearch import load_policy
from augsearch.ops import OPS

NO_AUX = (0.0, 0.0)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image as a uint8 (C, H, W) tensor."""
    arr = np.array(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def to_pil(t: torch.Tensor) -> Image.Image:
    """A uint8 (C, H, W) tensor as a PIL image (RGB or L)."""
    arr = t.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def natural(name: str, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A scikit-image sample picture resized to ``size`` (width, height)."""
    return Image.fromarray(getattr(data, name)()).convert(mode).resize(size, Image.Resampling.BILINEAR)


def coordinate_image(width: int = 64, height: int = 48) -> torch.Tensor:
    """Channel 0 is the pixel's x, channel 1 its y, channel 2 is 255: a warped copy shows, per
    output pixel, which input pixel it sampled (channel 2 is 0 where the fill came in)."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([xs, ys, torch.full_like(xs, 255)]).to(torch.uint8)


def run_tensor(name: str, images: torch.Tensor, values, aux=None, *, fill=(0, 0, 0), interpolation="nearest",
               **settings) -> torch.Tensor:
    """Run op ``name``'s batch kernel with one value per image (a scalar is broadcast)."""
    n = images.shape[0]
    if not isinstance(values, (list, tuple)):
        values = [values] * n
    values = torch.tensor([0.0 if v is None else float(v) for v in values], dtype=torch.float64)
    aux = torch.tensor([NO_AUX] * n if aux is None else aux, dtype=torch.float64)
    return OPS[name].tensor(images, values, aux, fill=fill, interpolation=interpolation, **settings)


def run_pil(name: str, img: Image.Image, value, aux=NO_AUX, *, fill=(0, 0, 0), interpolation="nearest",
            **settings) -> Image.Image:
    return OPS[name].pil(img, value, aux, fill=fill, interpolation=interpolation, **settings)


@pytest.fixture(scope="session")
def astronaut_pil() -> Image.Image:
    return natural("astronaut", (64, 64))


@pytest.fixture(scope="session")
def cat_pil() -> Image.Image:
    """Not square, so width/height mix-ups show."""
    return natural("chelsea", (64, 48))


@pytest.fixture(scope="session")
def gray_pil() -> Image.Image:
    return natural("camera", (40, 40), mode="L")


@pytest.fixture(scope="session")
def astronaut(astronaut_pil) -> torch.Tensor:
    return to_tensor(astronaut_pil)


@pytest.fixture(scope="session")
def cat(cat_pil) -> torch.Tensor:
    return to_tensor(cat_pil)


@pytest.fixture(scope="session")
def noise() -> torch.Tensor:
    """Uniform noise: every pixel value occurs, odd sizes."""
    return torch.randint(0, 256, (3, 23, 29), generator=torch.Generator().manual_seed(7), dtype=torch.uint8)


@pytest.fixture(scope="session")
def images(astronaut_pil, cat_pil, noise):
    """A few test pictures as PIL images: natural, non-square, noise and a low-contrast one."""
    low = to_pil((to_tensor(cat_pil).float() * 0.3 + 60).to(torch.uint8))
    return [astronaut_pil, cat_pil, to_pil(noise), low]


@pytest.fixture(scope="session")
def batch() -> torch.Tensor:
    """Six different 32x32 natural crops as a uint8 batch (N, C, H, W)."""
    big = to_tensor(natural("astronaut", (96, 96)))
    coffee = to_tensor(natural("coffee", (64, 48)))
    crops = [big[:, y:y + 32, x:x + 32] for y, x in [(0, 0), (20, 50), (60, 10), (40, 40)]]
    crops += [coffee[:, 0:32, 0:32], coffee[:, 16:48, 30:62]]
    return torch.stack(crops).contiguous()


@pytest.fixture(scope="session")
def bundled():
    """``bundled(name)``: a bundled policy, each file read once per session (the Fast AA ones are big)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_policy(name)
        return cache[name]
    return get


def write_two_tone_folder(root: Path, *, n: int, size: int = 16) -> Path:
    """An image folder of two classes, n images each: 'dark' (a bright square on black) and
    'bright' (a dark square on white). Invert turns one class into the other."""
    rng = np.random.default_rng(0)
    for label, (bg, fg) in {"dark": (20, 235), "bright": (235, 20)}.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            img = np.full((size, size, 3), bg, np.uint8) + rng.integers(0, 12, (size, size, 3), dtype=np.uint8)
            x, y = rng.integers(2, size - 7, 2)
            img[y:y + 5, x:x + 5] = fg
            Image.fromarray(img).save(root / label / f"{i}.png")
    return root


def write_arrows_folder(root: Path, *, n: int, size: int = 16) -> Path:
    """An image folder of two classes, n images each: an arrow pointing 'left' or 'right' (a bar and
    a triangular head, dark on a light, noisy background, at a random height). A mirror turns one
    class into the other, so a base that flips makes the classes indistinguishable."""
    rng = np.random.default_rng(0)
    for label in ("left", "right"):
        (root / label).mkdir(parents=True)
        for i in range(n):
            img = np.full((size, size, 3), 220, np.uint8) - rng.integers(0, 20, (size, size, 3), dtype=np.uint8)
            y = int(rng.integers(4, size - 4))
            img[y - 1:y + 1, 2:size - 2] = 30  # the shaft
            for k in range(4):  # the head, at the tip: widest next to the shaft
                x = 2 + k if label == "left" else size - 3 - k
                img[y - k - 1:y + k + 1, x] = 30
            Image.fromarray(img).save(root / label / f"{i}.png")
    return root
