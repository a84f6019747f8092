"""Policy objects: AutoAugment-style policies and the base every per-image augmentation shares.

Each kind draws a plan per image and hands it to the executor in :mod:`augsearch.plans`; each
kind registers itself in :data:`KINDS` under the name policy files give as ``kind``. Kinds whose
draws can be made for a whole batch at once (:meth:`Augment.draw_batch`) draw a batch's plans
as one :class:`~augsearch.plans.PlanTable`, the same plans as drawing image by image.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2

from augsearch import tvsample
from augsearch.conventions import Convention, get_convention
from augsearch.draws import CHUNK, BatchDraws, Draws
from augsearch.errors import PolicyError
from augsearch.formats import FORMAT_VERSION, dump_text
from augsearch.ops import DEFAULT_CUTOUT_FILL, Fill, Interpolation
from augsearch.plans import Applied, Plan, PlanTable, apply_plan, apply_plans, check_image, image_size, is_batch
from augsearch.registry import Registry

INTERPOLATIONS = ("nearest", "bilinear")


@dataclass(frozen=True)
class Op:
    """One op of a sub-policy: fires with ``prob``; ``magnitude`` is in the policy's convention."""

    name: str
    prob: float = 1.0
    magnitude: float | None = None

    def __repr__(self) -> str:
        m = "" if self.magnitude is None else f", {self.magnitude:g}"
        return f"({self.name}, {self.prob:g}{m})"


@dataclass(frozen=True)
class SubPolicy:
    """Ops applied in order; each fires independently with its probability."""

    ops: tuple[Op, ...]

    def __repr__(self) -> str:
        return "[" + ", ".join(map(repr, self.ops)) + "]"


# ----------------------------------------------------------------------------- base classes

KINDS: Registry[type[PolicyData]] = Registry("kind", error=PolicyError)


class PolicyData:
    """What every policy kind shares as data: a config mapping, a file, equality by config.
    A subclass that sets ``kind`` is registered in :data:`KINDS` under it."""

    kind: ClassVar[str]

    def to_config(self) -> dict[str, Any]:
        """The plain-data description that policy files hold."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:  # a concrete kind of its own, not a shared base
            KINDS.register(cls.kind, cls)

    def save(self, path: str | Path) -> Path:
        """Write the policy as YAML (``.yaml``/``.yml``) or JSON (any other suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_text(self.to_config(), path))
        return path

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_config() == self.to_config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_config(), sort_keys=True))


NO_PLAN: Any = object()  # ``apply`` called as ``nn.Module.apply(fn)``


class Augment(PolicyData, v2.Transform):
    """Base of per-image augmentations: draw a plan, then apply it to PIL images or uint8 tensors.

    Every kind is a ``torchvision.transforms.v2.Transform`` (so an ``nn.Module``): it takes whole
    samples (tuples, dicts, nested) and moves their boxes, masks and keypoints with the image, see
    :mod:`augsearch.tvsample`. One PIL image or plain uint8 tensor takes the path it always took."""

    cutout_fill: Fill = DEFAULT_CUTOUT_FILL  # the colour of Cutout squares
    _last_table: tuple[tuple[Any, ...], torch.Tensor] | None = None  # see _value_table
    _transformed_types = tvsample.TRANSFORMED_TYPES

    def __init__(self, *, convention: str | Convention, fill: Sequence[int] | int = 0,
                 interpolation: Interpolation = "nearest") -> None:
        super().__init__()  # the module's own state, before any attribute
        try:
            self.convention = get_convention(convention)
        except PolicyError as err:
            raise err.located(place_prefix="convention") from None
        self.fill: Fill = _check_fill(fill)
        if interpolation not in INTERPOLATIONS:
            raise PolicyError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}",
                              place="interpolation", value=interpolation)
        self.interpolation: Interpolation = interpolation

    # -- what subclasses define
    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Any:
        """Draw the random choices for one image of ``size`` (width, height)."""
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        """The subclass's own settings, in file order."""
        raise NotImplementedError

    def _op_names(self) -> Iterable[str] | None:
        """The convention's op names this policy may apply; None where a kind cannot say."""
        return None

    @property
    def reads_batch(self) -> bool:
        """Whether an image's result may depend on the other images of its batch (SamplePairing blends in a
        partner): then a batch of several draws of the same images is not those draws one batch at a time."""
        names = self._op_names()
        return names is None or any(self.convention.entry(name).op == "SamplePairing" for name in names)

    # -- shared behaviour
    def apply(self, image: Image.Image | torch.Tensor, plan: Any = NO_PLAN) -> Image.Image | torch.Tensor:
        if plan is NO_PLAN:  # nn.Module.apply(fn), which e.g. nn.Sequential(policy, net).apply(init) calls
            return nn.Module.apply(self, image)
        return apply_plan(image, plan, fill=self.fill, interpolation=self.interpolation,
                          cutout_fill=self.cutout_fill)

    def draw_batch(self, n: int, size: tuple[int, int], *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> PlanTable | list[Any]:
        """The plans of ``n`` images of ``size``: the plans ``n`` calls of :meth:`draw` give, as a list or,
        where a kind draws them all at once, as a :class:`PlanTable`. Batched draws read ``generator``,
        or else the default generator of ``device`` (a CUDA batch draws on its GPU)."""
        return [self.draw(size, generator=generator) for _ in range(n)]

    def apply_batch(self, images: torch.Tensor, plans: PlanTable | Sequence[Any]) -> torch.Tensor:
        return apply_plans(images, plans, fill=self.fill, interpolation=self.interpolation,
                           cutout_fill=self.cutout_fill)

    def trace(self, image: Image.Image | torch.Tensor, *, generator: torch.Generator | None = None):
        """Augment ``image`` and return ``(output, plan)``: the plan says what was applied.
        For a batch the plan is a list, one per image. A kind with two views (AugMix with ``jsd``)
        returns ``((image, view1, view2), (plan1, plan2))``."""
        check_image(image)
        views = []
        for _ in range(self._views()):
            out, plans = self._augment(image, generator)
            views.append((out, plans.plans() if isinstance(plans, PlanTable) else plans))
        if len(views) == 1:
            return views[0]
        return (image, *(out for out, _ in views)), tuple(plans for _, plans in views)

    def _augment(self, image: Image.Image | torch.Tensor, generator: torch.Generator | None) -> tuple[Any, Any]:
        """One augmented view of an image or a batch, and its plans (a :class:`PlanTable` where drawn as one)."""
        if is_batch(image):
            plans = self.draw_batch(image.shape[0], image_size(image), generator=generator, device=image.device)
            return self.apply_batch(image, plans), plans
        plan = self.draw(image_size(image), generator=generator)
        return self.apply(image, plan), plan

    def forward(self, *inputs: Any, generator: torch.Generator | None = None) -> Any:
        """``policy(image)``, ``policy(image, boxes, mask)``, ``policy({"image": ..., "label": ...})``: the
        augmented image, batch or sample (see :mod:`augsearch.tvsample`)."""
        if not inputs:
            raise TypeError(f"{self.kind} augments an image, a batch or a sample: call it as policy(image)")
        if len(inputs) == 1 and tvsample.is_plain_input(inputs[0]):
            if self._views() == 1:  # without listing a batch's plans
                check_image(inputs[0])
                return self._augment(inputs[0], generator)[0]
            return self.trace(inputs[0], generator=generator)[0]
        return tvsample.augment_sample(self, inputs, generator=generator)

    # -- as a torchvision transform (what v2.Transform.forward calls) and its hooks
    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return tvsample.draw_params(self, flat_inputs)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return tvsample.transform(self, inpt, params)

    def _geometry(self, plan: Any) -> Plan | str:
        """The steps of ``plan`` that boxes, masks and keypoints follow, or why they cannot follow it."""
        steps = tvsample.geometric_steps(plan)
        return "its plans are not one sequence of ops" if steps is None else steps

    def _views(self) -> int:
        """How many augmented views of an image one call returns (more than one: after the original)."""
        return 1

    def to_config(self) -> dict[str, Any]:
        return {"augsearch": FORMAT_VERSION, "kind": self.kind, "convention": self.convention.name,
                **self._options(), "fill": list(self.fill), "interpolation": self.interpolation}

    def __repr__(self) -> str:
        opts = {**self._options(), "convention": self.convention.name}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in opts.items())})"

    # -- helpers for subclasses
    def _call(self, name: str, magnitude: float | None, size: tuple[int, int], draws: Draws) -> Applied:
        entry = self.convention.entry(name)
        negate = draws.uniform() < 0.5
        aux = (draws.uniform(), draws.uniform())
        value = self.convention.value(name, magnitude, size=size, negate=negate)
        return Applied(name, entry.op, value, aux)

    def _batch_calls(self, names: Sequence[str]) -> tuple[tuple[str, str, bool], ...]:
        """:attr:`PlanTable.calls` for ops chosen from ``names``."""
        return tuple((name, self.convention.entry(name).op, self.convention.entry(name).range is not None)
                     for name in names)

    def _call_values(self, names: Sequence[str], which: torch.Tensor, magnitudes: torch.Tensor,
                     negate: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The parameter ``_call`` gives op ``names[which]`` at ``magnitudes``, element-wise."""
        out = torch.zeros(which.shape, dtype=torch.float64, device=which.device)
        for k, name in enumerate(names):
            out = torch.where(which == k, self.convention.values(name, magnitudes, size=size, negate=negate), out)
        return out

    def _value_table(self, names: Sequence[str], which: torch.Tensor, magnitudes: torch.Tensor,
                     size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """:meth:`_call_values` for every entry of ``which`` and ``magnitudes``, unnegated and negated (last
        axis), computed on the CPU (a handful of values) and moved to ``device``. The last table is kept with
        everything it was computed from, and handed out again (never written) while that is unchanged:
        computing it costs ~25 us an op name (TrivialAugment's 14: 0.75 ms, 6 us an image of a 128-image batch)."""
        key = (self.convention, tuple(names), which.tolist(), magnitudes.tolist(), size, str(device))
        if self._last_table is not None and self._last_table[0] == key:
            return self._last_table[1]
        shape = (*which.shape, 2)
        negate = torch.tensor([False, True]).expand(shape)
        table = self._call_values(names, which.unsqueeze(-1).expand(shape), magnitudes.unsqueeze(-1).expand(shape),
                                  negate, size).to(device)
        self._last_table = (key, table)
        return table


def drawn_call(draws: BatchDraws, fire: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``Augment._call`` draws for the rows that ``fire``: whether to negate, and the two aux values."""
    negate = draws.uniform(fire) < 0.5
    aux = torch.stack((draws.uniform(fire), draws.uniform(fire)), dim=1)
    return negate, aux


DRAWS_BYTES = 1 << 28  # images augmented in one call when a candidate's draws go together


def augmented_draws(policy: Augment, images: torch.Tensor, *, draws: int,
                    generator: torch.Generator | None) -> Iterator[torch.Tensor]:
    """``draws`` augmented copies of ``images``, several from one call (up to :data:`DRAWS_BYTES`) where no
    image reads its batch: the same plans as one call each (draws read one stream in order), at a fraction
    of the per-call cost, which dominates on a GPU."""
    together = 1 if policy.reads_batch else max(1, min(draws, DRAWS_BYTES // max(1, images.nbytes)))
    for first in range(0, draws, together):
        count = min(together, draws - first)
        yield from policy(images.repeat(count, 1, 1, 1) if count > 1 else images, generator=generator).split(
            len(images))


def _check_fill(fill: Sequence[int] | int) -> Fill:
    values = [fill] if isinstance(fill, int) and not isinstance(fill, bool) else fill
    if (not isinstance(values, (list, tuple)) or len(values) not in (1, 3)
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values)):
        raise PolicyError("fill must be an integer 0..255 or three of them", place="fill", value=fill)
    return tuple(values) * (3 if len(values) == 1 else 1)


# ----------------------------------------------------------------------------- Policy

class Policy(Augment):
    """An AutoAugment-style policy: one sub-policy chosen uniformly per image, each op firing
    with its own probability. Magnitudes are in ``convention`` (AutoAugment's bins by default).
    ``magnitude_std`` adds timm's Gaussian magnitude noise (``inf``: uniform in 0..m)."""

    kind = "policy"

    def __init__(self, sub_policies: Iterable[SubPolicy | Iterable[Op | Sequence[Any]]], *,
                 convention: str | Convention = "autoaugment", fill: Sequence[int] | int = 0,
                 interpolation: Interpolation = "nearest", magnitude_std: float = 0.0,
                 source: str | None = None) -> None:
        super().__init__(convention=convention, fill=fill, interpolation=interpolation)
        self.sub_policies: tuple[SubPolicy, ...] = tuple(
            self._check_sub_policy(sp, i) for i, sp in enumerate(sub_policies))
        if not self.sub_policies:
            raise PolicyError("a policy needs at least one sub-policy", place="sub_policies", value=[])
        self.magnitude_std = check_magnitude_std(magnitude_std)
        if source is not None and not isinstance(source, str):
            raise PolicyError("source must be text", place="source", value=source)
        self.source = source

    def _check_sub_policy(self, sub: SubPolicy | Iterable[Any], i: int) -> SubPolicy:
        ops = sub.ops if isinstance(sub, SubPolicy) else sub
        if isinstance(ops, (str, bytes, Mapping)) or not isinstance(ops, Iterable):
            raise PolicyError("a sub-policy must be a list of ops", place=f"sub_policies[{i}]", value=ops)
        checked = tuple(self._check_op(op, f"sub_policies[{i}][{j}]") for j, op in enumerate(ops))
        if not checked:
            raise PolicyError("a sub-policy needs at least one op", place=f"sub_policies[{i}]", value=[])
        return SubPolicy(checked)

    def _check_op(self, op: Op | Sequence[Any], place: str) -> Op:
        if isinstance(op, Op):
            name, prob, magnitude = op.name, op.prob, op.magnitude
        elif isinstance(op, (list, tuple)) and len(op) in (2, 3):
            name, prob, magnitude = (*op, None) if len(op) == 2 else op
        else:
            raise PolicyError("an op must be [name, probability, magnitude]", place=place, value=op)
        if not isinstance(name, str):
            raise PolicyError("op name must be text", place=f"{place}.name", value=name)
        try:
            self.convention.entry(name)
        except PolicyError as err:
            raise err.located(place_prefix=f"{place}.name") from None
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
            raise PolicyError("probability must be a number in [0, 1]", place=f"{place}.prob", value=prob)
        try:
            magnitude = self.convention.check_magnitude(name, magnitude)
        except PolicyError as err:
            raise err.located(place_prefix=f"{place}.magnitude") from None
        return Op(name, float(prob), magnitude)

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> Plan:
        draws = Draws(generator)
        sub = self.sub_policies[draws.randint(len(self.sub_policies))]
        plan = []
        for op in sub.ops:
            if draws.uniform() < op.prob:
                magnitude = noisy_magnitude(op.magnitude, self.magnitude_std, self.convention, draws)
                plan.append(self._call(op.name, magnitude, size, draws))
        return tuple(plan)

    def draw_batch(self, n: int, size: tuple[int, int], *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> PlanTable | list[Any]:
        longest = max(len(sp.ops) for sp in self.sub_policies)
        if self.magnitude_std or 1 + 4 * longest > CHUNK:  # noise draws vary in number; or past one chunk
            return super().draw_batch(n, size, generator=generator, device=device)
        names = tuple(dict.fromkeys(op.name for sp in self.sub_policies for op in sp.ops))
        which = [[names.index(op.name) for op in sp.ops] + [-1] * (longest - len(sp.ops)) for sp in self.sub_policies]
        probs = [[op.prob for op in sp.ops] + [0.0] * (longest - len(sp.ops)) for sp in self.sub_policies]
        magnitudes = [[op.magnitude or 0.0 for op in sp.ops] + [0.0] * (longest - len(sp.ops))
                      for sp in self.sub_policies]
        draws = BatchDraws(n, generator=generator, device=device)
        table = self._value_table(names, torch.tensor(which), torch.tensor(magnitudes, dtype=torch.float64),
                                      size, draws.device)
        which_t = torch.tensor(which, device=draws.device)
        probs_t = torch.tensor(probs, dtype=torch.float64, device=draws.device)
        sub = draws.randint(len(self.sub_policies))
        index, value, aux = [], [], []
        for j in range(longest):
            op = which_t[sub, j]
            fire = draws.uniform(op >= 0) < probs_t[sub, j]  # an absent op's probability is 0
            negate, drawn_aux = drawn_call(draws, fire)
            index.append(torch.where(fire, op, -1))
            value.append(table[sub, j, negate.long()])
            aux.append(drawn_aux)
        return PlanTable.from_slots(self._batch_calls(names), n, index, value, aux)

    def _op_names(self) -> Iterable[str]:
        return (op.name for sp in self.sub_policies for op in sp.ops)

    def _options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"source": self.source} if self.source else {}
        if self.magnitude_std:
            opts["magnitude_std"] = self.magnitude_std
        opts["sub_policies"] = [[[op.name, op.prob, op.magnitude] for op in sp.ops] for sp in self.sub_policies]
        return opts

    def __len__(self) -> int:
        return len(self.sub_policies)

    def __repr__(self) -> str:
        shown = ", ".join(map(repr, self.sub_policies[:3]))
        more = f", ... {len(self) - 3} more" if len(self) > 3 else ""
        std = f", magnitude_std={self.magnitude_std:g}" if self.magnitude_std else ""
        return f"Policy(convention={self.convention.name!r}{std}, {len(self)} sub-policies: [{shown}{more}])"


def check_magnitude_std(std: float) -> float:
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not std >= 0:
        raise PolicyError("magnitude_std must be a number >= 0 (inf: uniform)", place="magnitude_std", value=std)
    return float(std)


def noisy_magnitude(magnitude: float | None, std: float, convention: Convention, draws: Draws,
                    upper: float | None = None) -> float | None:
    """timm's magnitude noise: Gaussian around ``magnitude`` (or uniform in 0..m for ``inf``), clipped."""
    if magnitude is None or not std:
        return magnitude
    m = draws.uniform(0.0, magnitude) if std == float("inf") else draws.normal(magnitude, std)
    m = min(max(m, 0.0), convention.max_magnitude if upper is None else upper)
    return round(m) if convention.levels is not None else m


def build_config(config: Any) -> PolicyData:
    """The policy a config mapping describes (``augsearch: 1``, ``kind`` and that kind's options),
    every field checked against the kind's signature; the kind's module must be imported."""
    if not isinstance(config, Mapping):
        raise PolicyError("a policy must be a mapping", value=type(config).__name__)
    version = config.get("augsearch")
    if version is None:
        raise PolicyError(f"missing format version; add 'augsearch: {FORMAT_VERSION}'", place="augsearch")
    if version != FORMAT_VERSION or isinstance(version, bool):  # YAML's 'true' equals 1 in Python
        raise PolicyError(f"unknown format version; this augsearch reads version {FORMAT_VERSION}",
                          place="augsearch", value=version)
    kind = config.get("kind", "policy")
    try:
        cls = KINDS.get(kind)
    except PolicyError as err:
        raise err.located(place_prefix="kind") from None
    params = inspect.signature(cls.__init__).parameters
    options = {k: v for k, v in config.items() if k not in ("augsearch", "kind")}
    for key in options:
        if key not in params or key == "self":
            allowed = ", ".join(p for p in params if p != "self")
            raise PolicyError(f"unknown field for kind {kind!r}; allowed: {allowed}", place=str(key))
    for name, p in params.items():
        if name != "self" and p.default is inspect.Parameter.empty and name not in options:
            raise PolicyError(f"missing field for kind {kind!r}", place=name)
    if "sub_policies" in options and not isinstance(options["sub_policies"], list):
        raise PolicyError("sub_policies must be a list", place="sub_policies", value=options["sub_policies"])
    for key in ("fill", "ops"):
        if isinstance(options.get(key), list):
            options[key] = tuple(options[key])
    return cls(**options)
