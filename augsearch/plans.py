"""Plans and their executor: what a policy drew for an image, and how a plan is applied.

Every augmentation first *draws* a plan (which ops fire, with which parameter) and then
*applies* it. The plan is what ``trace`` returns and what sample grids annotate; applying the
same plan on a PIL image and on a tensor gives the same result. A 4-D uint8 tensor is a batch:
each image gets its own plan, and the batch is applied op by op on its device.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from augsearch.ops import DEFAULT_CUTOUT_FILL, OPS, Fill, Interpolation, OpDef


@dataclass(frozen=True)
class Applied:
    """One op that fired: what a grid annotates and what the backends apply."""

    name: str
    op: str
    value: float | None
    aux: tuple[float, float] = (0.0, 0.0)

    def __str__(self) -> str:
        text = OPS[self.op].describe(self.value)
        return text if self.name == self.op else f"{self.name}: {text}"


Plan = tuple[Applied, ...]


@dataclass(frozen=True)
class PlanTable:
    """The plans of a batch as tensors, which batched draws fill without a Python loop per image.

    Slot ``j`` of row ``i`` is the ``j``-th op image ``i`` applies: ``index`` into ``calls`` (-1: none;
    a row's ops come first), its parameter ``value`` (0 where the op takes none) and its two ``aux``
    draws. ``calls`` holds ``(name, op, takes a value)`` per index."""

    calls: tuple[tuple[str, str, bool], ...]
    index: torch.Tensor  # (n, slots) int64
    value: torch.Tensor  # (n, slots) float64
    aux: torch.Tensor  # (n, slots, 2) float64

    def __len__(self) -> int:
        return self.index.shape[0]

    @classmethod
    def from_plans(cls, plans: Sequence[Plan]) -> PlanTable:
        calls: dict[tuple[str, str, bool], int] = {}
        slots = max((len(plan) for plan in plans), default=0)
        index = [[-1] * slots for _ in plans]
        value = [[0.0] * slots for _ in plans]
        aux = [[(0.0, 0.0)] * slots for _ in plans]
        for i, plan in enumerate(plans):
            for j, call in enumerate(plan):
                index[i][j] = calls.setdefault((call.name, call.op, call.value is not None), len(calls))
                value[i][j] = 0.0 if call.value is None else call.value
                aux[i][j] = call.aux
        return cls(tuple(calls), torch.tensor(index, dtype=torch.int64).view(len(plans), slots),
                   torch.tensor(value, dtype=torch.float64).view(len(plans), slots),
                   torch.tensor(aux, dtype=torch.float64).view(len(plans), slots, 2))

    @classmethod
    def from_slots(cls, calls: tuple[tuple[str, str, bool], ...], n: int, index: Sequence[torch.Tensor],
                   value: Sequence[torch.Tensor], aux: Sequence[torch.Tensor]) -> PlanTable:
        """The table of per-slot columns as a batched draw makes them (no columns: ``n`` empty plans), its
        ops moved to the first slots (:meth:`compacted`)."""
        if not index:
            return cls(calls, torch.zeros(n, 0, dtype=torch.int64), torch.zeros(n, 0, dtype=torch.float64),
                       torch.zeros(n, 0, 2, dtype=torch.float64))
        return cls(calls, torch.stack(tuple(index), 1), torch.stack(tuple(value), 1),
                   torch.stack(tuple(aux), 1)).compacted()

    def compacted(self) -> PlanTable:
        """The same plans with each row's ops moved to its first slots, in order (draws leave gaps
        where an op did not fire); a batch applies step by step, so this is how list plans line up."""
        order = torch.argsort((self.index < 0).to(torch.uint8), dim=1, stable=True)
        return PlanTable(self.calls, self.index.gather(1, order), self.value.gather(1, order),
                         self.aux.gather(1, order.unsqueeze(-1).expand_as(self.aux)))

    def rows(self, start: int, stop: int) -> PlanTable:
        return PlanTable(self.calls, self.index[start:stop], self.value[start:stop], self.aux[start:stop])

    def plans(self) -> list[Plan]:
        """The plans as :class:`Applied` tuples, one per image (what ``trace`` returns)."""
        out = []
        for row, values, auxes in zip(self.index.tolist(), self.value.tolist(), self.aux.tolist()):
            calls = ((self.calls[k], v, a) for k, v, a in zip(row, values, auxes) if k >= 0)
            out.append(tuple(Applied(name, op, v if valued else None, tuple(a)) for (name, op, valued), v, a in calls))
        return out


# ----------------------------------------------------------------------------- applying plans

PIL_MODES = ("RGB", "L")  # what the PIL kernels of every op accept


def is_batch(image: Any) -> bool:
    return isinstance(image, torch.Tensor) and image.ndim == 4


def check_image(image: Any) -> None:
    if isinstance(image, Image.Image):
        check_pil_image(image)
        return
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a PIL image or a uint8 tensor, got {type(image).__name__}")
    if image.dtype != torch.uint8 or image.ndim not in (3, 4) or image.shape[-3] not in (1, 3):
        raise TypeError("expected a uint8 tensor (C, H, W) or (N, C, H, W) with 1 or 3 channels, "
                        f"got {image.dtype} {tuple(image.shape)}")
    check_size(image_size(image))


def check_pil_image(image: Image.Image) -> None:
    """Refuse, in one line, the PIL modes the ops' kernels do not handle (RGBA, P, I, F, CMYK, 1, ...):
    converting them here would drop alpha or a palette without the user's say."""
    if image.mode not in PIL_MODES:
        raise TypeError(f"expected a PIL image in mode RGB or L, got mode {image.mode!r}: convert it first, "
                        "e.g. image.convert('RGB')")
    check_size(image.size)


def check_size(size: tuple[int, int]) -> None:
    if 0 in size:
        raise ValueError(f"the image is empty ({size[0]}x{size[1]} pixels)")


def image_size(image: Image.Image | torch.Tensor) -> tuple[int, int]:
    """(width, height) of a PIL image or an image tensor."""
    if isinstance(image, Image.Image):
        return image.size
    return int(image.shape[-1]), int(image.shape[-2])


def apply_plan(image: Image.Image | torch.Tensor, plan: Plan, *, fill: Fill, interpolation: Interpolation,
               cutout_fill: Fill = DEFAULT_CUTOUT_FILL) -> Image.Image | torch.Tensor:
    """Apply a plan to one PIL image or one (C, H, W) tensor."""
    if isinstance(image, Image.Image):
        for call in plan:
            image = OPS[call.op].pil(image, call.value, call.aux, fill=fill, interpolation=interpolation,
                                     cutout_fill=cutout_fill)
        return image
    settings = {"fill": fill, "interpolation": interpolation, "cutout_fill": cutout_fill}
    out = torch.empty_like(image)  # made outside inference mode, as apply_plans' output
    with torch.inference_mode():  # one image needs no table: each call's parameters as one-element tensors
        calls = [(OPS[call.op], torch.tensor([0.0 if call.value is None else call.value], dtype=torch.float64),
                  torch.tensor([call.aux], dtype=torch.float64)) for call in plan]
        _apply_calls(image.unsqueeze(0), calls, settings, out.unsqueeze(0))
    return out


SLICE_VALUES = 1 << 22  # values per slice of a CPU batch of small images: 1365 of 32x32 (1.2-1.7x faster than 682)
LARGE_IMAGE = 1 << 16  # values from which a CPU batch goes one image at a time (148x148 RGB)
COLOUR_VALUES = 1 << 17  # values a CPU colour op takes at a time (see _chunk_rows)
FEW_ROWS = 16  # slices of up to this many images group their plans from Python lists


def apply_plans(images: torch.Tensor, plans: PlanTable | Sequence[Plan], *, fill: Fill,
                interpolation: Interpolation, cutout_fill: Fill = DEFAULT_CUTOUT_FILL) -> torch.Tensor:
    """Apply one plan per image of a uint8 batch: step by step, each op once on the sub-batch of
    images that fire it (gathered, transformed, scattered back); Identity costs nothing.

    On the CPU the batch goes in slices, so that the kernels' temporaries stay small enough to be
    reused from cache and the allocator instead of being faulted in afresh: images of
    :data:`LARGE_IMAGE` values or more one at a time (measured at 224x224: 1.5x the rate of 13-image
    slices), smaller ones :data:`SLICE_VALUES` values at a time (per-op overhead dominates there). A GPU
    takes the batch whole (fewer, larger launches); SamplePairing draws partners from the whole batch,
    so a batch that may use it is one slice. The kernels read the caller's images and never write them:
    an op that a whole slice fires maps it to a new tensor, and a slice is copied into the output only
    once, when a group must be scattered into it or at its end."""
    table = plans if isinstance(plans, PlanTable) else PlanTable.from_plans(plans)
    if not len(table):
        return images.clone()
    whole = any(op == "SamplePairing" for _, op, _ in table.calls)
    rows_per_slice = len(table) if whole else min(len(table), slice_rows(images))  # one image: one at a time
    settings = {"fill": fill, "interpolation": interpolation, "cutout_fill": cutout_fill}
    out = torch.empty_like(images)  # made outside inference mode: a normal tensor, which autograd may save
    with torch.inference_mode():  # the kernels' temporaries skip autograd's bookkeeping: 5-15% per op on one image
        if rows_per_slice == 1 and table.index.device.type == "cpu":
            _apply_one_by_one(images, table, out, settings)
        else:
            _apply_slices(images, table, out, rows_per_slice, settings)
    return out


def _apply_slices(images: torch.Tensor, table: PlanTable, out: torch.Tensor, rows_per_slice: int,
                  settings: dict[str, Any]) -> None:
    """Slices of several images (and any batch on a GPU): each step's groups formed, then applied."""
    # a slice of a few large images groups from Python lists (cheaper than tensor ops for a row or two); large
    # slices group with tensor ops, making no Python objects per image: with many objects alive (torch._dynamo
    # or timm imported), the garbage collections they set off made the batch 1.5-2x slower, in spikes of 0.2 s
    few = table.index.device.type == "cpu" and rows_per_slice <= FEW_ROWS
    lists = (table.index.tolist(), table.value.tolist(), table.aux.tolist()) if few else None
    for start in range(0, len(table), rows_per_slice):
        stop = min(start + rows_per_slice, len(table))
        rows = table.rows(start, stop)
        part, current = out[start:stop], images[start:stop]  # the input is read, never written
        for step in range(table.index.shape[1]):
            groups = (_host_groups(rows, *(column[start:stop] for column in lists), step) if lists is not None
                      else _device_groups(rows, step))
            current = _apply_step(current, part, groups, table.calls, settings)
        if current is not part:
            part.copy_(current)  # slice by slice, while it is in cache (a whole clone streams memory twice)


def _apply_one_by_one(images: torch.Tensor, table: PlanTable, out: torch.Tensor, settings: dict[str, Any]) -> None:
    """Slices of one image: each image's ops in order, each op's result the next one's input, and the last
    written to the image's slot of ``out`` (no groups to form: at 224x224 they cost 5-8 us an image)."""
    ops = [OPS[op] for _, op, _ in table.calls]
    slots = table.index.shape[1]
    # every view the loop reads, made by one call each (indexing made them one by one at ~1.5 us apiece)
    values, aux = table.value.reshape(-1, 1).unbind(), table.aux.reshape(-1, 1, 2).unbind()
    for i, (row, image, target) in enumerate(zip(table.index.tolist(), images.split(1), out.split(1))):
        calls = [(ops[k], values[i * slots + step], aux[i * slots + step]) for step, k in enumerate(row) if k >= 0]
        _apply_calls(image, calls, settings, target)


def _apply_calls(image: torch.Tensor, calls: Sequence[tuple[OpDef, torch.Tensor, torch.Tensor]],
                 settings: dict[str, Any], target: torch.Tensor) -> None:
    """One image (a batch of one) through its ops in order, each op's result the next one's input, the last
    written to ``target``: by its kernel where ``target`` is contiguous (one copy fewer: 4 us at 224x224)."""
    calls = [call for call in calls if call[0].kind != "identity"]
    last = len(calls) - 1
    out = target if target.is_contiguous() else None
    for k, (opdef, values, aux) in enumerate(calls):
        image = opdef.tensor(image, values, aux, pool=image, out=out if k == last else None, **settings)
    if image is not target:
        target.copy_(image)


def slice_rows(images: torch.Tensor) -> int:
    """How many images of a batch go through the kernels together: the whole batch on a GPU; on the CPU one
    image of :data:`LARGE_IMAGE` values or more, else :data:`SLICE_VALUES` values of images."""
    if images.device.type != "cpu":
        return max(1, len(images))
    per_image = max(1, images[0].numel()) if len(images) else 1
    return 1 if per_image >= LARGE_IMAGE else max(1, SLICE_VALUES // per_image)


Group = tuple[int, torch.Tensor | None, torch.Tensor, torch.Tensor]  # op index, rows (None: all), values, aux


def _apply_step(current: torch.Tensor, part: torch.Tensor, groups: list[Group], calls: Sequence[tuple[str, str, bool]],
                settings: dict[str, Any]) -> torch.Tensor:
    """Apply one step of the plans to ``current``, the images of the slice ``part`` as they stand, op by op;
    returns the images after it. An op that every image fires maps ``current`` to its result without a copy;
    one that some fire moves ``current`` into ``part`` first and writes their rows there. SamplePairing draws
    partners from ``current`` (a batch that may use it is one slice)."""
    for k, rows, values, aux in groups:
        opdef = OPS[calls[k][1]]
        if opdef.kind == "identity":
            continue
        per = _chunk_rows(opdef.kind, part)
        if rows is None and per >= len(part):
            current = opdef.tensor(current, values, aux, pool=current, **settings)
            continue
        if rows is None:  # a whole slice of a colour op, a chunk at a time into the slice
            for start in range(0, len(part), per):
                stop = start + per
                part[start:stop] = opdef.tensor(current[start:stop], values[start:stop], aux[start:stop],
                                                pool=current, **settings)
            current = part
            continue
        if current is not part:
            part.copy_(current)
            current = part
        index = rows.to(part.device)
        for start in range(0, len(index), per):
            chunk = index[start:start + per]
            _put_rows(part, chunk, opdef.tensor(part.index_select(0, chunk), values[start:start + per],
                                                aux[start:start + per], pool=part, **settings))
    return current


def _chunk_rows(kind: str, part: torch.Tensor) -> int:
    """How many images of ``part`` an op of ``kind`` takes at a time: a colour op on the CPU at most
    :data:`COLOUR_VALUES` values of them, anything else the whole slice. Colour ops make float32 and int64
    temporaries (4-12 bytes a value); at a megabyte and more glibc gave them back to the kernel after every
    call and faulted them in afresh on the next (on this VM ~2 us a fault): AutoAugment's batches of 32x32
    took 1.1-1.3 faults an image and ran at 109-112k images/s, with colour ops in chunks 0-0.2 and 139-147k."""
    if kind != "color" or part.device.type != "cpu" or not len(part):
        return max(1, len(part))
    return max(1, COLOUR_VALUES // max(1, part[0].numel()))


def _host_groups(table: PlanTable, index: list[list[int]], value: list[list[float]], aux: list[list[list[float]]],
                 step: int) -> list[Group]:
    """The groups of a step of a few plans (``table``, also held as lists): each op's rows (ascending) with
    their values and aux, in the order the ops first appear (SamplePairing's partners see the groups before
    theirs applied). An op that every row fires reads its values as views of the table, new tensors for none."""
    rows: dict[int, list[int]] = defaultdict(list)
    for i, row in enumerate(index):
        if row[step] >= 0:
            rows[row[step]].append(i)
    return [(k, None, table.value[:, step], table.aux[:, step]) if len(r) == len(index) else
            (k, torch.tensor(r), torch.tensor([value[i][step] for i in r], dtype=torch.float64),
             torch.tensor([aux[i][step] for i in r], dtype=torch.float64).view(len(r), 2)) for k, r in rows.items()]


def _device_groups(table: PlanTable, step: int) -> list[Group]:
    """:func:`_host_groups` with tensor ops and one host sync (on a GPU the rows stay there)."""
    column = table.index[:, step]
    order = torch.argsort(column, stable=True)
    keys = column + 1  # -1 (none) counts in bin 0
    counts = torch.bincount(keys, minlength=1)
    first = torch.full_like(counts, len(column)).scatter_reduce_(
        0, keys, torch.arange(len(column), device=column.device), reduce="amin")
    sizes, firsts = torch.stack((counts, first)).tolist()
    if sizes[0] == 0 and sum(1 for size in sizes if size) == 1:  # every row fires one op
        k = next(k for k, size in enumerate(sizes) if size)
        return [(k - 1, None, table.value[:, step], table.aux[:, step])]
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    found = sorted((firsts[k], k) for k in range(1, len(sizes)) if sizes[k])
    groups = []
    for _, k in found:
        rows = order[starts[k]:starts[k] + sizes[k]]
        groups.append((k - 1, rows, table.value[rows, step], table.aux[rows, step]))
    return groups


def _put_rows(out: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> None:
    """``out[index] = rows``; on the CPU a contiguous batch's images move as the widest integer words that divide
    them: torch's CPU scatters uint8 element by element (at 32x32 RGB, 8-byte words scatter 9x faster; on an
    H200 ``index_copy_`` was 4-9% faster than the words)."""
    size = out[0].numel() * out.element_size()
    word = next(w for w in (torch.int64, torch.int32, torch.int16, torch.uint8) if size % w.itemsize == 0)
    if out.device.type != "cpu" or not out.is_contiguous() or out.element_size() > word.itemsize:
        out.index_copy_(0, index, rows)
        return
    flat = out.view(len(out), -1).view(word)
    flat.index_put_((index,), rows.contiguous().view(len(rows), -1).view(word))
