"""Every exporter accounts for every op in augsearch.ops.OPS: mapped or refused, never both, never
neither; a one-op policy of each mapped op exports and runs, one of each refused op raises with the
reason; and the dispatch on the policy kind refuses what no exporter registered in one line.

imgaug 0.4.0 needs numpy < 2: in the main environment only its tables are checked and building
skips; tests/run_imgaug.sh runs the rest in .venv-imgaug."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from augsearch import Policy
from augsearch.conventions import CONVENTIONS, get_convention
from augsearch.errors import AugsearchError, PolicyError
from augsearch.export.albumentations import to_albumentations
from augsearch.export.imgaug import import_imgaug, to_imgaug
from augsearch.export.pins import op_pins
from augsearch.export.torchvision import PolicyTransform, to_torchvision
from augsearch.ops import OPS
from augsearch.policy import Augment, PolicyData

TARGETS = ("albumentations", "torchvision", "imgaug")
EXPORT: dict[str, Callable[[Any], Any]] = {"albumentations": to_albumentations, "torchvision": to_torchvision,
                                           "imgaug": to_imgaug}


def exporter(target: str) -> ModuleType:
    return importlib.import_module(f"augsearch.export.{target}")


def one_op_policies(op: str) -> list[Policy]:
    """A policy of ``op`` alone at a middle magnitude for each name any convention gives it."""
    policies = []
    for conv in CONVENTIONS.values():
        for name, entry in conv.entries.items():
            if entry.op == op:
                magnitude = None if entry.range is None else int(conv.max_magnitude) // 2
                policies.append(Policy([[(name, 1.0, magnitude)]], convention=conv.name))
    assert policies, f"no convention names {op}: nothing to export"
    return policies


def images(*, channels_last: bool) -> np.ndarray:
    """A small uint8 batch: SamplePairing needs partners, and every op runs on a batch."""
    batch = np.random.default_rng(0).integers(0, 256, (4, 3, 24, 32), dtype=np.uint8)
    return batch.transpose(0, 2, 3, 1).copy() if channels_last else batch


def run_albumentations(policy: Policy) -> None:
    image = images(channels_last=True)[0]
    out = to_albumentations(policy)(image=image)["image"]
    assert out.shape == image.shape and out.dtype == np.uint8


def run_torchvision(policy: Policy) -> None:
    batch = torch.from_numpy(images(channels_last=False))
    out = to_torchvision(policy)(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8


def run_imgaug(policy: Policy) -> None:
    batch = images(channels_last=True)
    out = to_imgaug(policy)(images=batch)
    assert out.shape == batch.shape and out.dtype == np.uint8


RUN: dict[str, Callable[[Policy], None]] = {"albumentations": run_albumentations, "torchvision": run_torchvision,
                                            "imgaug": run_imgaug}


def builds(target: str) -> None:
    """Skips unless ``target``'s library loads here (imgaug needs numpy < 2)."""
    if target == "imgaug":
        try:
            import_imgaug()
        except AugsearchError as err:
            pytest.skip(str(err))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", list(OPS))
def test_each_op_is_either_mapped_or_refused(target, op):
    module = exporter(target)
    assert (op in module.MAPPED_OPS) != (op in module.REFUSED_OPS)
    if op in module.REFUSED_OPS:
        assert module.REFUSED_OPS[op]  # a reason a user can read


@pytest.mark.parametrize("target", TARGETS)
def test_the_tables_name_only_ops_augsearch_has(target):
    module = exporter(target)
    assert set(module.MAPPED_OPS) | set(module.REFUSED_OPS) <= set(OPS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", list(OPS))
def test_each_mapped_op_exports_and_runs_and_each_refused_op_says_why(target, op):
    builds(target)
    module = exporter(target)
    for policy in one_op_policies(op):
        if op in module.MAPPED_OPS:
            RUN[target](policy)
        else:
            with pytest.raises(PolicyError, match=re.escape(module.REFUSED_OPS[op])):
                EXPORT[target](policy)


def test_an_op_neither_mapped_nor_refused_is_refused_by_name():
    with pytest.raises(PolicyError, match="Rotate cannot be exported to somewhere: its exporter maps no transform"):
        op_pins(get_convention("autoaugment"), "Rotate", 4, target="somewhere", mapped=(), refused={})


# ----------------------------------------------------------------------------- the kind dispatch


class Sepia(Augment):
    """A per-image kind that no exporter registered (no ``kind``: it stays out of KINDS)."""

    def __init__(self) -> None:
        super().__init__(convention="autoaugment")

    def draw(self, size: tuple[int, int], *, generator: torch.Generator | None = None) -> tuple:
        return ()

    def _options(self) -> dict[str, Any]:
        return {}


class Stack(PolicyData):
    """A kind of policy that is not per-image, which no exporter registered."""


def refusal(target: str, policy: object) -> str:
    with pytest.raises(PolicyError) as err:
        EXPORT[target](policy)
    return str(err.value)


@pytest.mark.parametrize("target", ["albumentations", "imgaug"])
def test_an_unregistered_per_image_kind_is_refused_in_one_line(target):
    assert refusal(target, Sepia()) == f"Sepia cannot be exported to {target}"


@pytest.mark.parametrize("target", TARGETS)
def test_an_unregistered_kind_that_is_not_per_image_is_refused_in_one_line(target):
    assert refusal(target, Stack()) == f"Stack cannot be exported to {target}"


@pytest.mark.parametrize("target", TARGETS)
def test_what_is_no_policy_is_refused_in_one_line(target):
    assert refusal(target, "randaugment-n2-m9") == "expected an augsearch policy (got 'str')"


def test_torchvision_takes_any_per_image_kind():
    transform = to_torchvision(Sepia())
    batch = torch.from_numpy(images(channels_last=False))
    assert isinstance(transform, PolicyTransform) and torch.equal(transform(batch), batch)
