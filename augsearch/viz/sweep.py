"""Op sweeps: one image across an op's whole magnitude range, so a convention's numbers get a face.

Each row is one op of a convention: the original, then the image at evenly spaced stored
magnitudes from 0 to the convention's maximum, captioned with the physical parameter the
magnitude maps to. Signed ops are shown without their random sign flip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from augsearch.conventions import Convention, get_convention
from augsearch.errors import AugsearchError
from augsearch.ops import DEFAULT_CUTOUT_FILL
from augsearch.viz.draw import Tile, sheet, to_pil
from augsearch.viz.grid import as_batch, sample_photos

SWEEP_TILE = 112
DEFAULT_STEPS = 11
FILL = (0, 0, 0)  # what a policy uncovers by default


def magnitudes(convention: Convention, steps: int) -> list[float]:
    """``steps`` evenly spaced magnitudes from 0 to the maximum; whole bins, each once, for
    binned conventions."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise AugsearchError(f"steps must be an integer >= 2, got {steps!r}")
    points = np.linspace(0.0, convention.max_magnitude, steps)
    if convention.levels is None:
        return [float(m) for m in points]
    return sorted({int(round(m)) for m in points})


def sweep_tiles(name: str, *, convention: str | Convention, steps: int = DEFAULT_STEPS,
                image: Image.Image, partner: Image.Image) -> list[Tile]:
    """The original and ``name`` at each magnitude; ops without one give original + result.
    ``partner`` is the second image SamplePairing blends in."""
    convention = get_convention(convention)
    entry = convention.entry(name)
    op = entry.opdef
    original = to_pil(image)
    if entry.range is None:
        levels, values, captions = [None], [0.0], ["applied"]
    else:
        levels = magnitudes(convention, steps)
        values = [convention.value(name, m, size=original.size, negate=False) for m in levels]
        captions = [f"{op.describe(v)[len(op.name):].strip()}\nm={m:g}" for m, v in zip(levels, values)]
    source = as_batch([original])
    batch = source.expand(len(values), -1, -1, -1)
    centre = torch.full((len(values), 2), 0.5, dtype=torch.float64)  # Cutout's centre; pool[1] below
    out = op.tensor(batch, torch.tensor(values, dtype=torch.float64), centre, fill=FILL,
                    interpolation="nearest", cutout_fill=DEFAULT_CUTOUT_FILL,
                    pool=torch.cat([source, as_batch([partner.resize(original.size)])]))
    return [Tile(original, "original"), *(Tile(to_pil(o), c) for o, c in zip(out, captions))]


def row_header(name: str, convention: Convention) -> str:
    """An op's name, what its parameter means and its range in ``convention``."""
    entry = convention.entry(name)
    op = entry.opdef
    alias = "" if entry.op == name else f"= {entry.op}: "
    lines = [name, f"{alias}{op.param or 'no magnitude'}"]
    if entry.range is not None:
        lines.append(f"range {convention.range_text(name)}")
    if entry.op == "SamplePairing":
        lines.append("blends in a second photo (weight = its share)")
    return "\n".join(lines)


def sweep_sheet(op_names: Sequence[str], *, convention: str | Convention, steps: int = DEFAULT_STEPS,
                image: Image.Image | None = None, partner: Image.Image | None = None,
                tile: int = SWEEP_TILE) -> Image.Image:
    """One row per op in ``op_names``: the image across the op's magnitude range in
    ``convention`` (scikit-image's astronaut by default, blended with its coffee for SamplePairing)."""
    convention = get_convention(convention)
    if isinstance(op_names, str) or not op_names:
        raise AugsearchError("give a list of op names to sweep")
    for name in op_names:
        convention.entry(name)
    if image is None:
        image = to_pil(sample_photos(1, size=tile)[1][0])
    if partner is None:
        partner = to_pil(sample_photos(1, size=tile, start=2)[1][0])
    rows = [sweep_tiles(name, convention=convention, steps=steps, image=image, partner=partner)
            for name in op_names]
    scale = (f"integer bins 0..{convention.max_magnitude:g}" if convention.levels is not None
             else f"magnitudes 0..{convention.max_magnitude:g}")
    title = (f"{convention.name} convention, {scale}: the physical value under each tile, m = stored "
             "magnitude; signed (±) ops shown at positive sign, without the random flip")
    return sheet(rows, tile=tile, title=title, row_headers=[row_header(n, convention) for n in op_names])
