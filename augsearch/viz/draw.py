"""Layout for every picture augsearch draws: tiles with captions, row headers and a title.

Grids, sweeps and reports all go through :func:`sheet`, so spacing, fonts and the rules that
keep text legible (wrap to the tile, size the caption band to the text, never overlap) live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from augsearch.errors import AugsearchError

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

GAP = 6  # between tiles
MARGIN = 12  # around the sheet
CAPTION_GAP = 3  # between a tile and its caption
HEADER_WIDTH = 170  # the widest a row header may get
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
MUTED = (110, 110, 110)
TILE_EDGE = (200, 200, 200)


@dataclass(frozen=True)
class Tile:
    """One picture and the text under it (lines split at ``\\n``, each wrapped to the tile)."""

    image: Image.Image
    caption: str = ""


def font(size: int) -> Font:
    """Pillow's embedded font at ``size`` px: the same glyphs on every machine, no system fonts."""
    return ImageFont.load_default(size=size)


def to_pil(image: torch.Tensor | np.ndarray | Image.Image) -> Image.Image:
    """An RGB PIL image from a uint8 (C, H, W) tensor, an (H, W[, C]) array or a PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8 or image.ndim != 3:
            raise TypeError(f"expected a uint8 (C, H, W) tensor, got {image.dtype} {tuple(image.shape)}")
        image = image.permute(1, 2, 0).cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")


def line_height(fnt: Font) -> int:
    ascent, descent = fnt.getmetrics()
    return ascent + descent + 1


def text_width(text: str, fnt: Font) -> int:
    return int(np.ceil(fnt.getlength(text)))


def wrap(text: str, fnt: Font, width: int, *, max_lines: int) -> list[str]:
    """``text`` in lines no wider than ``width`` px: breaks at spaces (inside over-long words when
    needed), keeps explicit newlines, and ends with an ellipsis when it needs more than ``max_lines``."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, fnt) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while text_width(line, fnt) > width and len(line) > 1:
                cut = len(line) - 1
                while cut > 1 and text_width(line[:cut], fnt) > width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + "…", fnt) > width:
            last = last[:-1]
        lines = [*lines[:max_lines - 1], last + "…"]
    return lines


def fit(image: Image.Image, side: int) -> Image.Image:
    """``image`` scaled to fit a ``side`` x ``side`` square: nearest when enlarging, so small
    images keep their real pixels, antialiased when shrinking."""
    w, h = image.size
    scale = side / max(w, h)
    if scale == 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    return image.resize(size, resample)


def sheet(rows: Sequence[Sequence[Tile]], *, tile: int, title: str = "",
          row_headers: Sequence[str] | None = None, font_size: int = 12, max_lines: int = 6) -> Image.Image:
    """Tiles in rows, each row's caption band as tall as its longest caption, optional row
    headers on the left and a wrapped title on top."""
    if not rows or not any(rows):
        raise AugsearchError("nothing to draw: no tiles")
    if row_headers is not None and len(row_headers) != len(rows):
        raise ValueError("one row header per row")
    small, big = font(font_size), font(font_size + 3)
    lh = line_height(small)
    captions = [[wrap(t.caption, small, tile, max_lines=max_lines) if t.caption else [] for t in row]
                for row in rows]
    headers = [wrap(h, small, HEADER_WIDTH, max_lines=max_lines) for h in row_headers or []]
    header_w = max((text_width(line, small) for h in headers for line in h), default=-GAP) + GAP
    columns = max(len(row) for row in rows)
    body_w = columns * tile + (columns - 1) * GAP
    width = 2 * MARGIN + header_w + body_w
    title_lines = wrap(title, big, width - 2 * MARGIN, max_lines=4) if title else []
    title_h = len(title_lines) * line_height(big) + (GAP if title_lines else 0)
    bands = [max((len(c) for c in row), default=0) for row in captions]
    row_hs = [max(tile + (CAPTION_GAP + n * lh if n else 0), len(h) * lh)
              for n, h in zip(bands, headers or [[]] * len(rows))]
    height = 2 * MARGIN + title_h + sum(row_hs) + GAP * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    y = MARGIN
    for line in title_lines:
        draw.text((MARGIN, y), line, font=big, fill=INK)
        y += line_height(big)
    y += GAP if title_lines else 0
    for r, row in enumerate(rows):
        if headers:
            for k, line in enumerate(headers[r]):
                draw.text((MARGIN, y + k * lh), line, font=small, fill=INK if k == 0 else MUTED)
        for c, t in enumerate(row):
            x = MARGIN + header_w + c * (tile + GAP)
            picture = fit(t.image, tile)
            px, py = x + (tile - picture.width) // 2, y + (tile - picture.height) // 2
            canvas.paste(picture, (px, py))
            draw.rectangle((px - 1, py - 1, px + picture.width, py + picture.height), outline=TILE_EDGE)
            for k, line in enumerate(captions[r][c]):
                draw.text((x, y + tile + CAPTION_GAP + k * lh), line, font=small, fill=INK)
        y += row_hs[r] + GAP
    return canvas


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write ``image`` as PNG, creating the folder; an unwritable path is a one-line error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG", optimize=True)
    except (OSError, ValueError) as err:
        raise AugsearchError(f"cannot write {path}: {getattr(err, 'strerror', None) or err}") from None
    return path
