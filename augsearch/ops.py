"""The op table: every augmentation op, defined once, for every backend.

An op is applied with an explicit *physical* parameter (degrees, pixels, an enhance factor,
bits, a threshold); how a policy's stored magnitude maps to that parameter is a convention's
business (:mod:`augsearch.conventions`). Each op has two kernels with the same semantics:

* ``pil(image, value, aux, **settings)`` for one PIL image;
* ``tensor(images, values, aux, **settings)`` for a uint8 batch ``(N, C, H, W)`` on any
  device, with one parameter per sample (``values`` and ``aux`` have ``N`` rows).

The settings are ``fill`` (what geometric ops uncover), ``interpolation``, ``cutout_fill``
and ``pool`` (the batch SamplePairing draws partners from); kernels take what they need. A tensor
kernel may also be handed ``out``, a contiguous uint8 tensor of its result's shape that is not its
input: a kernel that writes its result there returns ``out`` (saving the copy into a batch), any
other returns a new tensor or its input.

``aux`` holds two uniform draws in [0, 1) per call for ops that need more randomness than
their magnitude (the centre of a Cutout square, the partner of SamplePairing).
Geometric ops share one inverse affine matrix per sample, so both backends sample the same
source pixel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from augsearch.errors import PolicyError
from augsearch.registry import Registry

Fill = tuple[int, ...]
Interpolation = Literal["nearest", "bilinear"]
Aux = tuple[float, float]
PilKernel = Callable[..., Image.Image]
TensorKernel = Callable[..., torch.Tensor]

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}
DEFAULT_CUTOUT_FILL: Fill = (125, 123, 114)  # CIFAR-10's mean colour, as Fast AutoAugment fills


@dataclass(frozen=True)
class OpDef:
    """One op: what its parameter means and how each backend applies it."""

    name: str
    kind: str
    param: str | None
    unit: str | None
    identity: float | None
    domain: tuple[float, float] | None
    pil: PilKernel
    tensor: TensorKernel
    axis: Literal["x", "y"] | None = None

    @property
    def has_magnitude(self) -> bool:
        return self.param is not None

    def clamp(self, value: float) -> float:
        if self.domain is None:
            return value
        return min(max(value, self.domain[0]), self.domain[1])

    def describe(self, value: float | None) -> str:
        """The physical parameter as a person reads it, e.g. ``Rotate -12.5deg``."""
        if value is None or self.param is None:
            return self.name
        unit = {"deg": "\u00b0", "px": "px", "bits": " bits"}.get(self.unit or "", "")
        text = f"{value:.0f}" if self.unit in ("bits",) else f"{value:.3g}"
        return f"{self.name} {text}{unit}"


# ----------------------------------------------------------------------------- geometry

def affine_coefficients(name: str, values: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Inverse affine maps (N, 6) in PIL's convention: output (x, y) samples input
    ``(a x + b y + c, d x + e y + f)``, in continuous pixel coordinates."""
    v = values.to(torch.float64)
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    if name == "ShearX":
        rows = (one, v, zero, zero, one, zero)
    elif name == "ShearY":
        rows = (one, zero, zero, v, one, zero)
    elif name == "TranslateX":  # content moves right by v pixels
        rows = (one, zero, -v, zero, one, zero)
    elif name == "TranslateY":
        rows = (one, zero, zero, zero, one, -v)
    elif name == "Rotate":  # counter-clockwise by v degrees about the image centre
        theta = torch.deg2rad(v)
        cos, sin = torch.cos(theta), torch.sin(theta)
        cx, cy = width / 2.0, height / 2.0
        rows = (cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy)
    else:
        raise KeyError(name)
    return torch.stack(rows, dim=-1)


def _affine_pil(name: str) -> PilKernel:
    def kernel(img: Image.Image, value: float, aux: Aux, *, fill: Fill, interpolation: Interpolation,
               **_) -> Image.Image:
        coeffs = affine_coefficients(name, torch.tensor([value], dtype=torch.float64), *img.size)[0].tolist()
        return img.transform(img.size, Image.Transform.AFFINE, tuple(coeffs),
                             resample=_RESAMPLE[interpolation], fillcolor=_pil_fill(img, fill))
    return kernel


def _affine_tensor(name: str) -> TensorKernel:
    def kernel(images: torch.Tensor, values: torch.Tensor, aux: torch.Tensor, *, fill: Fill,
               interpolation: Interpolation, out: torch.Tensor | None = None, **_) -> torch.Tensor:
        n, c, h, w = images.shape
        # the maps stay on the host: warp_affine reads which of them are finite or axis-aligned without a sync
        return warp_affine(images, affine_coefficients(name, values, w, h), fill=fill, interpolation=interpolation,
                           out=out)
    return kernel


def warp_affine(images: torch.Tensor, coeffs: torch.Tensor, *, fill: Fill, interpolation: Interpolation,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Apply per-sample inverse affine maps (N, 6) to a uint8 batch; nearest samples the source pixel
    PIL does, except where a sample lands exactly on a pixel edge (rounding breaks such ties apart).
    Coordinates are float64 (float32 would move samples that land near a pixel edge); the products
    with the pixel grid are formed per row and per column and broadcast, which is the same arithmetic.
    The result goes into ``out`` where given (see the module's docstring)."""
    if interpolation == "nearest":
        return _warp_nearest(images, coeffs, fill, out)
    n, c, h, w = images.shape
    dev = images.device
    fill_t = _fill_tensor(fill, c, images)
    xs = torch.arange(w, device=dev, dtype=torch.float64).add_(0.5).view(1, 1, w)
    ys = torch.arange(h, device=dev, dtype=torch.float64).add_(0.5).view(1, h, 1)
    a, b, cc, d, e, f = (coeffs[:, i].to(device=dev, dtype=torch.float64).view(n, 1, 1) for i in range(6))
    src_x = (a * xs + b * ys).add_(cc)
    src_y = (d * xs + e * ys).add_(f)
    grid = torch.stack((src_x / w * 2 - 1, src_y / h * 2 - 1), dim=-1).to(torch.float32)
    src = torch.cat([images.to(torch.float32), torch.ones_like(images[:, :1], dtype=torch.float32)], dim=1)
    sampled = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    colour, mask = sampled[:, :c], sampled[:, c:]
    blended = (colour + (1 - mask) * fill_t.view(1, c, 1, 1).to(torch.float32)).round_().clamp_(0, 255)
    return blended.to(torch.uint8) if out is None else out.copy_(blended)


def _warp_nearest(images: torch.Tensor, coeffs: torch.Tensor, fill: Fill, out: torch.Tensor | None) -> torch.Tensor:
    """Nearest warp as one gather from the image framed by one pixel of fill: floor(s) outside
    0..size-1 clamps onto the frame, so no mask is needed (NaN samples fill, as an outside one does)."""
    n, c, h, w = images.shape
    dev = images.device
    coeffs = coeffs.to(dtype=torch.float64)
    finite, x_aligned, y_aligned, x_kept, y_kept = _map_flags(coeffs)
    a, b, cc, d, e, f = coeffs.to(dev).view(n, 6, 1, 1).unbind(1)
    xs, ys = _centres(w, dev).view(1, 1, w), _centres(h, dev).view(1, h, 1)
    # an axis that every map keeps (ShearX's and TranslateX's y) samples 1 + its own index
    ix = _kept_index(w, dev).view(1, 1, w).expand(n, 1, w) if x_kept else \
        _source_index(a, b, cc, xs, ys, w, finite, x_aligned)
    iy = _kept_index(h, dev).view(1, h, 1).expand(n, h, 1) if y_kept else \
        _source_index(e, d, f, ys, xs, h, finite, y_aligned)
    values = _fill_values(fill, c)
    if x_aligned and y_aligned and n <= _WARP_SLICED:  # a few shifts (translations): copy blocks, no gather
        shifted = _shifted(images, ix.view(n, w).tolist(), iy.view(n, h).tolist(), values, out)
        if shifted is not None:
            return shifted
    index = torch.add(ix, iy, alpha=w + 2).long()  # (iy + 1) * (w + 2) + ix + 1, exact in int32
    framed = F.pad(images, (1, 1, 1, 1), value=values[0])
    if len(set(values)) > 1:
        column = torch.tensor(values, dtype=images.dtype, device=dev).view(1, c, 1, 1)
        framed[..., ::h + 1, :] = column
        framed[..., ::w + 1] = column
    hw = h * w
    index = index.view(n, 1, hw).expand(n, c, hw)
    if out is None:
        return framed.view(n, c, -1).gather(2, index).view(n, c, h, w)
    torch.gather(framed.view(n, c, -1), 2, index, out=out.view(n, c, hw))
    return out


_KEEP = (1.0, 0.0, 0.0)  # a, b, c of a map that keeps x; d, e, f = 0, 1, 0 keep y


def _map_flags(coeffs: torch.Tensor) -> tuple[bool, bool, bool, bool, bool]:
    """Whether every map (N, 6) is finite, whether every one is axis-aligned in x (b = 0) and in y (d = 0),
    and whether every one keeps x (x maps to x) and keeps y. Maps on the host are read without a sync: a few
    as Python floats (one op, where the tensor ops cost ~10 us), many with tensor ops; maps on a GPU count
    as none of these."""
    if coeffs.device.type != "cpu":
        return False, False, False, False, False
    if len(coeffs) <= _WARP_SLICED:
        rows = coeffs.tolist()
        return (all(math.isfinite(v) for row in rows for v in row), all(row[1] == 0 for row in rows),
                all(row[3] == 0 for row in rows), all(tuple(row[:3]) == _KEEP for row in rows),
                all((row[4], row[3], row[5]) == _KEEP for row in rows))
    keep = torch.tensor(_KEEP, dtype=coeffs.dtype)
    flags = torch.cat((torch.isfinite(coeffs).all().view(1), (coeffs[:, 1:4:2] == 0).all(0),
                       (coeffs[:, :3] == keep).all().view(1), (coeffs[:, [4, 3, 5]] == keep).all().view(1)))
    finite, x_aligned, y_aligned, x_kept, y_kept = flags.tolist()
    return finite, x_aligned, y_aligned, x_kept, y_kept


_WARP_SLICED = 4  # batches up to this size move by block copies where they can (224 px: 25 us, not 110)


def _shifted(images: torch.Tensor, columns: list[list[int]], rows: list[list[int]], fill: list[int],
             out: torch.Tensor | None) -> torch.Tensor | None:
    """The warp whose framed source indices are ``columns`` (per image, per output column) and ``rows``, as
    block copies onto the fill, when every image samples one block of consecutive source pixels; else None."""
    n, c, h, w = images.shape
    blocks = [(_run(x, w), _run(y, h)) for x, y in zip(columns, rows)]
    if any(x is None or y is None for x, y in blocks):
        return None
    out = torch.empty_like(images) if out is None else out
    if len(set(fill)) == 1:
        out.fill_(fill[0])
    else:  # fill_ per channel: repeat() of a pixel cost 27 us at 224x224, the copies themselves 5
        for channel, value in enumerate(fill):
            out[:, channel].fill_(value)
    for image, source, ((x0, x1, sx), (y0, y1, sy)) in zip(out, images, blocks):
        image[:, y0:y1, x0:x1] = source[:, sy:sy + y1 - y0, sx:sx + x1 - x0]
    return out


def _run(index: list[int], size: int) -> tuple[int, int, int] | None:
    """``(start, stop, source start)`` when ``index`` (framed, 0..size + 1, one per output) is a shift: the
    outputs ``start:stop`` sample consecutive pixels from the source start and the rest sample the frame
    (fill); else None. The shift is read at the middle output, which must sample inside."""
    middle = len(index) // 2
    shift = index[middle] - middle - 1
    if not 1 <= index[middle] <= size:
        return None
    start, stop = max(0, -shift), max(0, min(len(index), size - shift))
    expected = [0] * start + list(range(start + 1 + shift, stop + 1 + shift)) + [size + 1] * (len(index) - stop)
    return (start, stop, start + shift) if index == expected else None


@functools.lru_cache(maxsize=64)
def _kept_index(size: int, device: torch.device) -> torch.Tensor:
    """1, 2, ..., size as int32: the framed source index along an axis the maps keep; cached (never written)."""
    return torch.arange(1, size + 1, device=device, dtype=torch.int32)


@functools.lru_cache(maxsize=64)
def _centres(size: int, device: torch.device) -> torch.Tensor:
    """Pixel centres 0.5, 1.5, ... as float64; cached, as every warp of a size reads the same (never written)."""
    return torch.arange(size, device=device, dtype=torch.float64).add_(0.5)


def _source_index(along: torch.Tensor, across: torch.Tensor, offset: torch.Tensor, grid: torch.Tensor,
                  other: torch.Tensor, size: int, finite: bool, aligned: bool) -> torch.Tensor:
    """1 + floor(along * grid + across * other + offset) clamped to -1..size, as int32; ``aligned`` (every
    ``across`` is 0) forms it on ``grid``'s axis alone and broadcasts it: adding a zero product changes
    no floor."""
    s = along * grid if aligned else along * grid + across * other
    s = s.add_(offset)
    if not finite:
        s = s.nan_to_num_(nan=-1.0)
    return s.floor_().clamp_(-1, size).int().add_(1)


def _fill_values(fill: Fill, channels: int) -> list[int]:
    return list(fill)[:channels] if len(fill) >= channels else [fill[0]] * channels


def _fill_tensor(fill: Fill, channels: int, like: torch.Tensor) -> torch.Tensor:
    # masks beside images keep their label dtype
    return torch.tensor(_fill_values(fill, channels), dtype=like.dtype, device=like.device)


def _pil_fill(img: Image.Image, fill: Fill) -> int | tuple[int, ...]:
    return fill[0] if img.mode in ("L", "I", "F") else tuple(fill[:3])


# ----------------------------------------------------------------------------- colour, tensor

def _factor(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(device=like.device, dtype=torch.float32).view(-1, 1, 1, 1)


def _blend(image: torch.Tensor, other: torch.Tensor, values: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """``image * f + other * (1 - f)`` for a float32 ``image`` (the caller's own copy, scaled in place),
    clamped and truncated to uint8 (PIL's and torchvision's rounding)."""
    g = (1.0 - values.to(torch.float64)).to(device=image.device, dtype=torch.float32).view(-1, 1, 1, 1)
    return to_uint8(image.mul_(_factor(values, image)).addcmul_(other, g), out)  # fused, as torchvision


def to_uint8(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Clamp float pixels to 0..255 in place and truncate them to uint8 (into ``out`` where given), through
    int16: the CPU converts float32 to int16 and int16 to uint8 several times faster than float32 to uint8,
    with the same result for every value in 0..255 (and 0 for NaN, either way)."""
    x = x.clamp_(0, 255).to(torch.int16)
    return x.to(torch.uint8) if out is None else out.copy_(x)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """torchvision's grayscale of float32 pixels, in its op order."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).floor_().unsqueeze(1)


def _brightness_t(images, values, aux, *, out=None, **_):
    factor = _factor(values, images)
    return _pointwise(images, lambda x, o: to_uint8(x.to(torch.float32).mul_(factor), o), out)


def _color_t(images, values, aux, *, out=None, **_):
    if images.shape[1] == 1:
        return images
    x = images.to(torch.float32)
    return _blend(x, _gray(x), values, out)


def _contrast_t(images, values, aux, *, out=None, **_):
    pixels = images.to(torch.float32)
    mean = _gray(pixels).mean(dim=(1, 2, 3), keepdim=True)

    def blend(x: torch.Tensor, o: torch.Tensor | None) -> torch.Tensor:
        # applied directly, the float copy the mean came from is blended (the mean is taken: it may be scaled)
        x = pixels if x is images else x.to(torch.float32)
        # a row of the mean, not one value: addcmul runs its vector loop only when one operand is a scalar
        return _blend(x, mean.expand(-1, 1, 1, x.shape[-1]).contiguous(), values, o)
    return _pointwise(images, blend, out)


def _sharpness_t(images, values, aux, *, out=None, **_):
    n, c, h, w = images.shape
    if h <= 2 or w <= 2:
        return images
    x = images.to(torch.float32, memory_format=torch.contiguous_format)
    alpha = (1.0 - values.to(torch.float64)).to(device=images.device, dtype=torch.float32).view(-1, 1, 1, 1)
    x.addcmul_(_smooth(images).sub_(x), alpha)  # fused multiply-add, as torchvision's add_(alpha=)
    out = to_uint8(x, out)
    out[..., ::h - 1, :] = images[..., ::h - 1, :]  # the border keeps its pixels
    out[..., ::w - 1] = images[..., ::w - 1]
    return out


def _smooth(images: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH filter (centre 5, neighbours 1, over 13), rounded, as float32 of the images' shape:
    right on the inner pixels, finite elsewhere. Summed in integers on the flat buffer (sums beside
    the border wrap across rows and are never read), a row of three and then a column of three: a sum
    over 13 is never half-way between integers, so this rounds exactly as a float convolution does."""
    w = images.shape[-1]
    x = images.to(torch.int16, memory_format=torch.contiguous_format).view(-1)
    rows = x[:-2] + x[1:-1]  # rows[i] sums x[i:i + 3], centred on i + 1
    rows += x[2:]
    total = torch.zeros_like(x)
    inner = total[w + 1:x.numel() - w - 1]  # centred on i + w + 1: the rows above, beside and below
    torch.add(rows[:-2 * w], rows[w:-w], out=inner)
    inner += rows[2 * w:]
    inner.add_(x[w + 1:x.numel() - w - 1], alpha=4)
    return _round_thirteenth(total.to(torch.float32)).view(images.shape)


def _round_thirteenth(total: torch.Tensor) -> torch.Tensor:
    """round(t / 13) for float32 integers 0 <= t <= 13 * 255, as floor(t * (1/13) + 1/2): t / 13 lies at
    least 1/26 from half-way between integers, far beyond float32's error here."""
    return total.mul_(1.0 / 13.0).add_(0.5).floor_()


def _autocontrast_t(images, values, aux, *, out=None, **_):
    lo = images.amin(dim=(-2, -1), keepdim=True)  # extremes of uint8 pixels, exact in float32 after
    hi = images.amax(dim=(-2, -1), keepdim=True).to(torch.float32)
    flat = hi == lo
    scale = torch.where(flat, torch.ones_like(hi), (hi - lo) * (1.0 / 255.0))  # torchvision's rounding
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    # every pixel is at least its channel's low, so the difference is exact in uint8 (a table's entries under
    # the low wrap around, and no pixel reads them)
    return _pointwise(images, lambda x, o: to_uint8((x - lo).to(torch.float32).div_(scale), o), out)


def _equalize_t(images, values, aux, *, out=None, **_):
    n, c, h, w = images.shape
    hist = histograms(images)
    below = hist.cumsum(2, dtype=torch.float64).sub_(hist)  # pixels under each value, exact in float64
    top = images.reshape(n, c, h * w).amax(dim=2, keepdim=True).long()
    step = (h * w - hist.gather(2, top)) // 255
    # floor(a / b) of integers below 2^53 is exact in float64 (a non-integer quotient lies at least 1/b from
    # an integer, beyond the rounding error a * 2^-53 / b), and several times faster than int64's //;
    # value 0 maps to floor((step // 2) / step) = 0
    lut = below.add_(step // 2).div_(step.clamp(min=1)).floor_().clamp_(max=255)
    lut = torch.where(step > 0, lut, _pixel_values(images.device))  # one value stays
    return look_up(images, lut.to(torch.uint8), out)


TABLE_PLANE = 1 << 12  # pixels from which a CPU image's channels go through 256-entry tables (64x64)
HISTOGRAM_PLANE = 1 << 13  # pixels from which a CPU image's channels are counted by OpenCV (about 90x90)


def _by_table(images: torch.Tensor, plane: int | None = None) -> bool:
    """Whether pixel-by-pixel ops map ``images`` through tables of their 256 results: on the CPU, channels of
    :data:`TABLE_PLANE` pixels (or ``plane``) or more, a call or two per image. Smaller ones go faster as a
    few torch ops over a whole slice of the batch: per image of a slice of 4M values, Brightness took 2.1 us
    by tables and 2.0 directly at 32x32, 4.6 and 5.3 at 64x64, 16 and 19 at 128x128."""
    return images.device.type == "cpu" and images.shape[-2] * images.shape[-1] >= (plane or TABLE_PLANE)


Pointwise = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def _pointwise(images: torch.Tensor, op: Pointwise, out: torch.Tensor | None) -> torch.Tensor:
    """``op(images, out)`` for an ``op`` that maps each uint8 pixel by a rule of its image (or of its image and
    channel) alone. Where :func:`_by_table`, ``op`` maps the 256 pixel values instead (one row of them per image,
    which per-channel parameters broadcast to a row per channel), and the pixels are looked up in its results:
    the same arithmetic, on 256 values instead of every pixel. The ops that compute in float32 use it (one
    224x224 RGB image: Brightness 36 -> 20 us, Contrast 79 -> 63, AutoContrast 64 -> 38); those that stay in
    uint8 (Invert, Posterize, Solarize) cost about what a lookup's setup costs and go directly."""
    if not _by_table(images):
        return op(images, out)
    n = len(images)
    tables = op(_pixel_values(images.device).view(1, 1, 1, 256).expand(n, 1, 1, 256), None)
    return look_up(images, tables.view(n, -1, 256), out)


@functools.lru_cache(maxsize=8)
def _pixel_values(device: torch.device) -> torch.Tensor:
    """0, 1, ..., 255 as uint8: the pixels a table maps; cached (never written)."""
    return torch.arange(256, device=device, dtype=torch.uint8)


def histograms(images: torch.Tensor) -> torch.Tensor:
    """How many pixels of each image's channel hold each value 0..255: (N, C, 256) int32. On the CPU, channels
    of :data:`HISTOGRAM_PLANE` pixels or more (and under 2^24, which OpenCV's float32 counts hold exactly) are
    counted by one ``cv2.calcHist`` each: 15 us at 224x224 against 25 for torch's ``scatter_add``."""
    n, c, h, w = images.shape
    if _by_table(images, HISTOGRAM_PLANE) and h * w < 1 << 24:
        import cv2  # OpenCV comes with albumentations

        counts = np.empty((n * c, 256), dtype=np.float32)
        for plane, count in zip(images.contiguous().view(n * c, h, w).numpy(), counts):
            count[:] = cv2.calcHist([plane], [0], None, [256], [0, 256]).reshape(256)  # (256, 1) before OpenCV 5
        return torch.from_numpy(counts).view(n, c, 256).to(torch.int32)
    flat = images.reshape(n, c, h * w).long()
    hist = torch.zeros(n, c, 256, dtype=torch.int32, device=images.device)  # int32 counts scatter faster
    return hist.scatter_add_(2, flat, torch.ones_like(flat, dtype=torch.int32))


def look_up(images: torch.Tensor, tables: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Each pixel replaced by entry ``pixel`` of its image's table, or of its image's and channel's (``tables``:
    (N, 1, 256) or (N, C, 256) uint8), in ``out`` where given (contiguous), else in a new contiguous tensor.
    Where :func:`_by_table`, stringzilla's SIMD byte translation: 1.6 us for a 224x224 RGB image, against 39 us
    for OpenCV's ``LUT`` and 60 for torch's ``gather``."""
    n, c, h, w = images.shape
    out = torch.empty((n, c, h, w), dtype=torch.uint8, device=images.device) if out is None else out
    if _by_table(images):
        import stringzilla as sz

        k = n * tables.shape[1]  # images, or channels, each translated with its own table
        for source, table, target in zip(images.contiguous().view(k, -1).numpy(),
                                         tables.reshape(k, 256).contiguous().numpy(), out.view(k, -1).numpy()):
            sz.translate(memoryview(source), memoryview(table), out=memoryview(target))
        return out
    torch.gather(tables.expand(n, c, 256), 2, images.reshape(n, c, h * w).long(), out=out.view(n, c, h * w))
    return out


def _invert_t(images, values, aux, *, out=None, **_):
    return torch.bitwise_not(images, out=out)  # 255 - p for uint8


def _posterize_t(images, values, aux, *, out=None, **_):
    bits = values.to(device=images.device).long().clamp(0, 8).view(-1, 1, 1, 1)
    return torch.bitwise_and(images, ((255 << (8 - bits)) & 255).to(torch.uint8), out=out)


def _solarize_t(images, values, aux, *, out=None, **_):
    # for integer pixels, p >= t exactly when p >= ceil(t); NaN inverts nothing, as nothing compares >= NaN
    threshold = values.to(device=images.device, dtype=torch.float64).ceil().nan_to_num(nan=256.0)
    return torch.bitwise_xor(images, _at_least(images, threshold), out=out)


def _at_least(images: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """255 where a pixel is >= its image's threshold (an integer, any range), else 0, in uint8 arithmetic:
    torch compares and selects uint8 an order of magnitude slower than it adds on the CPU. A threshold
    above 255 leaves ``below`` at 255, which no pixel exceeds; one of 0 or less marks every pixel."""
    t = thresholds.to(device=images.device, dtype=torch.float64).view(-1, 1, 1, 1)
    below = (t - 1).clamp(0, 255).to(torch.uint8)  # the largest pixel value under the threshold
    hit = (torch.maximum(images, below) - below).clamp_(max=1).mul_(255)
    return hit.bitwise_or_((t <= 0).to(torch.uint8).mul_(255))


def _select(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``where(mask, a, b)`` for uint8 ``a`` and ``b`` and a uint8 mask of 0 and 255, in modular arithmetic."""
    return torch.add(b, (a - b) & mask, out=out)


def _solarize_add_t(images, values, aux, *, out=None, **_):
    add = values.to(device=images.device, dtype=torch.float32).view(-1, 1, 1, 1)

    def solarize_add(x: torch.Tensor, o: torch.Tensor | None) -> torch.Tensor:
        added = to_uint8(x.to(torch.float32).add_(add))
        return _select((x >> 7) - 1, added, x, o)  # the mask: 255 below 128 (0 - 1 wraps), 0 from it
    return _pointwise(images, solarize_add, out)


def _identity_t(images, values, aux, **_):
    return images


def _flip_lr_t(images, values, aux, **_):
    return images.flip(-1)


def _flip_ud_t(images, values, aux, **_):
    return images.flip(-2)


def cutout_boxes(sides: torch.Tensor, aux: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Integer boxes (N, 4) ``x0, y0, x1, y1`` (end exclusive) of squares of the given sides,
    centred at ``aux * (width, height)`` and clipped at the borders (all four ends in one tensor:
    a box costs a few ops, not a few per end)."""
    bounds = torch.tensor([width, height, width, height], dtype=torch.float64, device=sides.device)
    half = sides.to(torch.float64).view(-1, 1) / 2
    centre = aux.to(torch.float64) * bounds[:2]
    ends = torch.cat((centre - half, centre + half), dim=1).add_(0.5).floor_()
    return torch.minimum(ends.clamp_(min=0), bounds).long()  # NaN stays NaN, as clamp(0, size) keeps it


_CUTOUT_SLICED = 4  # batches up to this size fill each image's box by slicing (measured: faster up to ~8)


def _cutout_t(images, values, aux, *, cutout_fill: Fill = DEFAULT_CUTOUT_FILL, out=None, **_):
    n, c, h, w = images.shape
    box = cutout_boxes(values, aux, w, h)
    fill = _fill_tensor(cutout_fill, c, images)
    if n <= _CUTOUT_SLICED:  # a few images: fill each box through a slice, without full-size masks
        out = images.clone() if out is None else out.copy_(images)
        for image, (x0, y0, x1, y1) in zip(out, box.tolist()):  # the boxes live on the host: no sync
            if x0 < x1 and y0 < y1:  # a NaN box is empty (its ends are equal), as its masks are
                image[:, y0:y1, x0:x1] = fill.view(c, 1, 1)
        return out
    box = box.to(images.device)
    xs = torch.arange(w, device=images.device).view(1, 1, 1, w)
    ys = torch.arange(h, device=images.device).view(1, 1, h, 1)
    cols = ((xs >= box[:, 0, None, None, None]) & (xs < box[:, 2, None, None, None])).to(torch.uint8).mul_(255)
    rows = ((ys >= box[:, 1, None, None, None]) & (ys < box[:, 3, None, None, None])).to(torch.uint8).mul_(255)
    return _select(cols & rows, fill.view(1, c, 1, 1), images, out)


def _sample_pairing_t(images, values, aux, *, pool: torch.Tensor | None = None, out=None, **_):
    """Blend each image with a partner drawn (by ``aux``) from ``pool``, the whole batch."""
    pool = images if pool is None else pool
    if pool.shape[0] < 2:
        raise PolicyError("SamplePairing blends two images of a batch; it needs a batch of at least 2",
                          value=pool.shape[0])
    index = (aux[:, 0].to(torch.float64) * pool.shape[0]).long().clamp(0, pool.shape[0] - 1)
    partners = pool[index.to(pool.device)].to(torch.float32)
    return _blend(images.to(torch.float32), partners, 1.0 - values.to(torch.float64), out)


# ----------------------------------------------------------------------------- colour, PIL

def _enhance_pil(cls) -> PilKernel:
    def kernel(img, value, aux, **_):
        return cls(img).enhance(value)
    return kernel


def _posterize_pil(img, value, aux, **_):
    bits = int(value)
    if bits < 1:  # Pillow refuses 0 bits; keeping none leaves black, as the tensor kernel does
        return img.point([0] * 256 * len(img.getbands()))
    return ImageOps.posterize(img, bits)


def _solarize_pil(img, value, aux, **_):
    return ImageOps.solarize(img, value)


def _solarize_add_pil(img, value, aux, **_):
    lut = [min(255, int(i + value)) if i < 128 else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def _cutout_pil(img, value, aux, *, cutout_fill: Fill = DEFAULT_CUTOUT_FILL, **_):
    x0, y0, x1, y1 = cutout_boxes(torch.tensor([value], dtype=torch.float64), torch.tensor([aux], dtype=torch.float64),
                                  *img.size)[0].tolist()
    if x1 <= x0 or y1 <= y0:
        return img
    out = img.copy()
    ImageDraw.Draw(out).rectangle((x0, y0, x1 - 1, y1 - 1), fill=_pil_fill(img, cutout_fill))
    return out


def _sample_pairing_pil(img, value, aux, **_):
    raise PolicyError("SamplePairing blends two images of a batch: apply the policy to a uint8 batch "
                      "(N, C, H, W) instead of a single image")


def _no_param(fn: Callable[[Image.Image], Image.Image]) -> PilKernel:
    def kernel(img, value, aux, **_):
        return fn(img)
    return kernel


# ----------------------------------------------------------------------------- the table

def _geometric(name: str, param: str, unit: str, domain: tuple[float, float], axis) -> OpDef:
    return OpDef(name, "geometric", param, unit, 0.0, domain, _affine_pil(name), _affine_tensor(name), axis)


def _enhance(name: str, cls, tensor: TensorKernel, what: str) -> OpDef:
    return OpDef(name, "color", f"enhance factor ({what})", "factor", 1.0, (0.0, 100.0), _enhance_pil(cls), tensor)


_INF = float("inf")

OPS: Registry[OpDef] = Registry("op", error=PolicyError)
for _op in [
    OpDef("Identity", "identity", None, None, None, None, _no_param(lambda im: im), _identity_t),
    _geometric("ShearX", "shear factor (tan of the angle)", "factor", (-_INF, _INF), "x"),
    _geometric("ShearY", "shear factor (tan of the angle)", "factor", (-_INF, _INF), "y"),
    _geometric("TranslateX", "shift to the right", "px", (-_INF, _INF), "x"),
    _geometric("TranslateY", "shift downwards", "px", (-_INF, _INF), "y"),
    _geometric("Rotate", "counter-clockwise angle", "deg", (-_INF, _INF), None),
    OpDef("AutoContrast", "color", None, None, None, None, _no_param(ImageOps.autocontrast), _autocontrast_t),
    OpDef("Invert", "color", None, None, None, None, _no_param(ImageOps.invert), _invert_t),
    OpDef("Equalize", "color", None, None, None, None, _no_param(ImageOps.equalize), _equalize_t),
    OpDef("Solarize", "color", "threshold (pixels >= it are inverted)", "threshold", 256.0, (0.0, 256.0),
          _solarize_pil, _solarize_t),
    OpDef("SolarizeAdd", "color", "added to pixels below 128", "level", 0.0, (0.0, 255.0),
          _solarize_add_pil, _solarize_add_t),
    OpDef("Posterize", "color", "bits kept", "bits", 8.0, (0.0, 8.0), _posterize_pil, _posterize_t),
    _enhance("Contrast", ImageEnhance.Contrast, _contrast_t, "0 is flat grey"),
    _enhance("Color", ImageEnhance.Color, _color_t, "0 is greyscale"),
    _enhance("Brightness", ImageEnhance.Brightness, _brightness_t, "0 is black"),
    _enhance("Sharpness", ImageEnhance.Sharpness, _sharpness_t, "0 is blurred"),
    OpDef("Cutout", "erasing", "square side", "px", 0.0, (0.0, _INF), _cutout_pil, _cutout_t, "x"),
    OpDef("SamplePairing", "mixing", "weight of the partner image", "weight", 0.0, (0.0, 1.0),
          _sample_pairing_pil, _sample_pairing_t),
    OpDef("FlipLR", "geometric", None, None, None, None, _no_param(ImageOps.mirror), _flip_lr_t),
    OpDef("FlipUD", "geometric", None, None, None, None, _no_param(ImageOps.flip), _flip_ud_t),
]:
    OPS.register(_op.name, _op)
get_op = OPS.get


ROUNDINGS = {"round": (round, torch.round), "floor": (math.floor, torch.floor), "ceil": (math.ceil, torch.ceil),
             "trunc": (math.trunc, torch.trunc)}  # Python's and torch's, which agree (round halves to even)


def rounded(value: float | torch.Tensor, rounding: str | None) -> float | torch.Tensor:
    """Round a physical value (or a tensor of them, element-wise) the way a convention's reference code did."""
    if rounding is None:
        return value
    scalar, elementwise = ROUNDINGS[rounding]
    return elementwise(value) if isinstance(value, torch.Tensor) else float(scalar(value))
