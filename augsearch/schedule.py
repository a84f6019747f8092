"""Population Based Augmentation schedules (Ho et al. 2019): the policy changes with the epoch.

A :class:`Schedule` is a list of phases, each a start epoch and a PBA policy vector: 60 integers,
two halves of 30 that give, for each of PBA's 15 ops in :data:`PBA_OPS` order, ``probability * 10``
then ``level`` (0..10). Per image, PBA's rule: 0, 1 or 2 ops may apply (probabilities 0.2, 0.3,
0.5); the 30 (op, probability, level) entries are shuffled and walked, each firing with its
probability, until that many have fired.

The current epoch lives in a one-element shared-memory tensor, so ``set_epoch`` in the training
process reaches the copies that DataLoader workers hold (fork and spawn, persistent or not):
torch's multiprocessing pickler passes such a tensor by handle. Plain ``pickle`` and ``deepcopy``
give a copy with its own epoch, and files never hold the epoch.

:func:`read_pba_log` reads PBA's published schedule text (one Python literal per line, read with
``ast.literal_eval``, never ``eval``); ``experiments/convert_pba_schedule.py`` made the bundled
``pba/*`` files with it.
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from augsearch.conventions import Convention
from augsearch.draws import Draws
from augsearch.errors import PolicyError
from augsearch.formats import read_text
from augsearch.ops import DEFAULT_CUTOUT_FILL, Interpolation
from augsearch.plans import Plan
from augsearch.policy import Augment

PBA_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "Color", "Contrast",
           "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY", "Cutout")
VECTOR_LENGTH = 4 * len(PBA_OPS)  # two halves, each (probability * 10, level) per op
MAX_LEVEL = 10  # PBA's PARAMETER_MAX; probabilities are stored as tenths, 0..10 too
COUNT_PROBS = (0.2, 0.3, 0.5)  # how many ops may fire on one image: 0, 1 or 2
SEARCH_EPOCHS = 200  # PBA's CIFAR-10 search; its published SVHN schedule spans 160
LOG_FIELDS = ("target_trial", "clone_trial", "target_epoch", "clone_epoch", "old_policy", "new_policy")

Entry = tuple[str, float, int]  # op name, probability, level


@dataclass(frozen=True)
class Phase:
    """A PBA policy vector in force from epoch ``start`` until the next phase's start."""

    start: int
    policy: tuple[int, ...]

    def entries(self) -> tuple[Entry, ...]:
        """The 30 (op, probability, level) entries of the vector, first half then second."""
        half = VECTOR_LENGTH // 2
        return tuple((PBA_OPS[i // 2], self.policy[h + i] / 10, self.policy[h + i + 1])
                     for h in (0, half) for i in range(0, half, 2))


def check_vector(vector: Any, place: str) -> tuple[int, ...]:
    """A PBA policy vector as a tuple, or a :class:`PolicyError` naming the bad element."""
    if isinstance(vector, (str, bytes, Mapping)) or not isinstance(vector, Sequence):
        raise PolicyError(f"a PBA policy is a list of {VECTOR_LENGTH} integers", place=place, value=vector)
    if len(vector) != VECTOR_LENGTH:
        raise PolicyError(f"a PBA policy has {VECTOR_LENGTH} integers (two halves of 15 ops x "
                          f"[probability * 10, level]), not {len(vector)}", place=place, value=vector)
    for i, v in enumerate(vector):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_LEVEL:
            what = "probability * 10" if i % 2 == 0 else f"{PBA_OPS[(i % 30) // 2]} level"
            raise PolicyError(f"{what} must be an integer 0..{MAX_LEVEL}", place=f"{place}[{i}]", value=v)
    return tuple(vector)


def _integer(value: Any, place: str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise PolicyError(f"must be an integer {bound}", place=place, value=value)
    return value


class Schedule(Augment):
    """A PBA schedule over ``epochs`` epochs: ``phases`` are ``{start, policy}`` mappings,
    ``(start, policy)`` pairs or :class:`Phase` objects, the first starting at epoch 0.
    ``set_epoch(e)`` selects the phase in force; ``fill`` also colours Cutout squares, as
    PBA fills both with the dataset's mean colour."""

    kind = "schedule"

    def __init__(self, phases: Iterable[Phase | Mapping[str, Any] | Sequence[Any]], *, epochs: int = SEARCH_EPOCHS,
                 convention: str | Convention = "pba", fill: Sequence[int] | int = DEFAULT_CUTOUT_FILL,
                 interpolation: Interpolation = "nearest", source: str | None = None) -> None:
        super().__init__(convention=convention, fill=fill, interpolation=interpolation)
        self.cutout_fill = self.fill
        for name in PBA_OPS:
            try:
                self.convention.entry(name)
            except PolicyError as err:
                raise err.located(place_prefix="convention") from None
        self.epochs = _integer(epochs, "epochs", low=1, high=100_000)
        if isinstance(phases, (str, bytes, Mapping)) or not isinstance(phases, Iterable):
            raise PolicyError("phases must be a list of {start, policy}", place="phases", value=phases)
        self.phases: tuple[Phase, ...] = tuple(self._check_phase(p, i) for i, p in enumerate(phases))
        if not self.phases:
            raise PolicyError("a schedule needs at least one phase", place="phases", value=[])
        if self.phases[0].start != 0:
            raise PolicyError("the first phase must start at epoch 0", place="phases[0].start",
                              value=self.phases[0].start)
        for i in range(1, len(self.phases)):
            if self.phases[i].start <= self.phases[i - 1].start:
                raise PolicyError(f"phases must start at increasing epochs (the previous starts at "
                                  f"{self.phases[i - 1].start})", place=f"phases[{i}].start",
                                  value=self.phases[i].start)
        if source is not None and not isinstance(source, str):
            raise PolicyError("source must be text", place="source", value=source)
        self.source = source
        self._starts = [p.start for p in self.phases]
        # per phase, the entries that can fire, with None for the levels of ops that take none
        self._entries = [tuple((name, prob, level if self.convention.entry(name).range is not None else None)
                               for name, prob, level in p.entries() if prob > 0) for p in self.phases]
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def _check_phase(self, phase: Any, i: int) -> Phase:
        place = f"phases[{i}]"
        if isinstance(phase, Phase):
            start, vector = phase.start, phase.policy
        elif isinstance(phase, Mapping):
            unknown = set(phase) - {"start", "policy"}
            if unknown or not {"start", "policy"} <= set(phase):
                raise PolicyError("a phase is a mapping with exactly start and policy", place=place, value=phase)
            start, vector = phase["start"], phase["policy"]
        elif isinstance(phase, (list, tuple)) and len(phase) == 2:
            start, vector = phase
        else:
            raise PolicyError("a phase is {start: epoch, policy: [60 integers]}", place=place, value=phase)
        start = _integer(start, f"{place}.start", low=0, high=self.epochs - 1)
        vector = check_vector(vector, f"{place}.policy")
        for j, (name, _, level) in enumerate(Phase(start, vector).entries()):
            try:
                self.convention.check_magnitude(name, level)
            except PolicyError as err:
                raise err.located(place_prefix=f"{place}.policy[{2 * j + 1}]") from None
        return Phase(start, vector)

    # -- the epoch
    def set_epoch(self, epoch: int) -> None:
        """Select the phase in force at ``epoch`` (0-based), here and in every DataLoader worker.
        Call it before iterating the loader for that epoch: batches already prefetched keep theirs."""
        self._epoch[0] = _integer(epoch, "epoch", low=0, high=self.epochs - 1)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def phase_at(self, epoch: int) -> Phase:
        """The phase in force at ``epoch``."""
        epoch = _integer(epoch, "epoch", low=0, high=self.epochs - 1)
        return self.phases[bisect.bisect_right(self._starts, epoch) - 1]

    def stretch(self, epochs: int) -> Schedule:
        """This schedule for a training of ``epochs`` epochs, as PBA's ``parse_log_schedule`` stretches:
        each phase lasts ``floor(length * epochs / self.epochs)`` epochs (exact integers, where PBA
        multiplies by a float), phases that shrink to nothing vanish, and the last policy fills
        what the rounding left at the end."""
        epochs = _integer(epochs, "epochs", low=1, high=100_000)
        ends = [*self._starts[1:], self.epochs]
        phases: list[Phase] = []
        start = 0
        for phase, end in zip(self.phases, ends):
            length = (end - phase.start) * epochs // self.epochs
            if length:
                phases.append(Phase(start, phase.policy))
                start += length
        if start < epochs and (not phases or phases[-1].policy != self.phases[-1].policy):
            phases.append(Phase(start, self.phases[-1].policy))
        return Schedule(phases, epochs=epochs, convention=self.convention, fill=self.fill,
                        interpolation=self.interpolation, source=self.source)

    # -- the Augment contract
    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Plan:
        draws = Draws(generator)
        u = draws.uniform()
        count = 0 if u < COUNT_PROBS[0] else 1 if u < COUNT_PROBS[0] + COUNT_PROBS[1] else 2
        if not count:
            return ()
        entries = list(self._entries[bisect.bisect_right(self._starts, self.epoch) - 1])
        plan = []
        for k in range(len(entries)):  # Fisher-Yates, drawn lazily: stop as soon as enough fired
            j = k + draws.randint(len(entries) - k)
            entries[k], entries[j] = entries[j], entries[k]
            name, prob, level = entries[k]
            if draws.uniform() < prob:
                plan.append(self._call(name, level, size, draws))
                if len(plan) == count:
                    break
        return tuple(plan)

    def _op_names(self) -> Iterable[str]:
        return (name for entries in self._entries for name, _, _ in entries)

    def _options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"source": self.source} if self.source else {}
        return opts | {"epochs": self.epochs,
                       "phases": [{"start": p.start, "policy": list(p.policy)} for p in self.phases]}

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config["phases"] = config.pop("phases")  # the long part last, as sub_policies are
        return config

    def __len__(self) -> int:
        return len(self.phases)

    def __repr__(self) -> str:
        return (f"Schedule(convention={self.convention.name!r}, {self.epochs} epochs, {len(self)} phases "
                f"starting at {self._starts[:8]}{' ...' if len(self) > 8 else ''}, epoch {self.epoch})")


# ----------------------------------------------------------------------------- PBA's schedule text

def read_pba_log(path: str | Path, *, epochs: int = SEARCH_EPOCHS, source: str | None = None,
                 fill: Sequence[int] | int = DEFAULT_CUTOUT_FILL) -> Schedule:
    """The schedule a PBA search log describes (arcelien/pba ``schedules/*.txt``), for a training of
    ``epochs`` epochs (the search's own length). Each line is
    ``[target_trial, clone_trial, target_epoch, clone_epoch, old_policy, new_policy]``: the first
    line's old policy holds until its clone epoch, each line's new policy from its clone epoch on,
    as PBA's ``parse_log`` reads them. Every mistake is one error naming the file and line."""
    text = read_text(path, "PBA schedule")
    return Schedule(pba_phases(text, epochs=epochs, file=str(path)), epochs=epochs, source=source, fill=fill)


def pba_phases(text: str, *, epochs: int, file: str = "<string>") -> list[Phase]:
    """The phases of PBA schedule ``text``; see :func:`read_pba_log`."""
    phases: list[Phase] = []
    previous: tuple[Any, int] | None = None  # the last line's target trial and clone epoch
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise PolicyError("no schedule lines", file=file)
    for n, line in lines:
        try:
            row = _pba_row(line, previous, epochs)
        except PolicyError as err:
            raise PolicyError(err.message, file=file, line=n, place=err.place, value=err.value) from None
        old, new = row[4], row[5]
        if previous is None and row[3] > 0:
            phases.append(Phase(0, old))
        phases.append(Phase(row[3], new))
        previous = (row[0], row[3])
    return phases


def _pba_row(line: str, previous: tuple[Any, int] | None, epochs: int) -> list[Any]:
    try:
        row = ast.literal_eval(line.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise PolicyError("not a Python literal list", value=line.strip()) from None
    if not isinstance(row, (list, tuple)) or len(row) != len(LOG_FIELDS):
        raise PolicyError(f"a line is [{', '.join(LOG_FIELDS)}]", value=row)
    row = list(row)
    for i in (0, 1):
        if isinstance(row[i], bool) or not isinstance(row[i], (str, int)):
            raise PolicyError("a trial is a name or a number", place=LOG_FIELDS[i], value=row[i])
        row[i] = str(row[i])
    for i in (2, 3):
        row[i] = _integer(row[i], LOG_FIELDS[i], low=0, high=None if i == 2 else epochs - 1)
    for i in (4, 5):
        policy = row[i]
        if isinstance(policy, dict):  # PBA's later logs hold the trial's config
            if "hp_policy" not in policy:
                raise PolicyError("a config needs hp_policy", place=LOG_FIELDS[i], value=policy)
            policy = policy["hp_policy"]
        row[i] = check_vector(policy, LOG_FIELDS[i])
    if previous is not None:
        if row[1] != previous[0]:
            raise PolicyError(f"must be the previous line's target_trial {previous[0]!r}: the lines follow the "
                              "lineage of the final trial", place="clone_trial", value=row[1])
        if row[3] <= previous[1]:
            raise PolicyError(f"must be above the previous line's ({previous[1]})",
                              place="clone_epoch", value=row[3])
    return row
