"""Named training budgets (``--preset``): a task model and how it trains, one name for ``augsearch
train``, ``compare`` and the candidates of ``run``, so that a search judges its candidates in the
regime its policy will be used in.

A preset only sets defaults: options from a config file and from flags override it, and the
resolved values are what a run directory records (a run resumes with them, whatever the preset
says later). See docs/regime.md for what each preset was measured to do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from augsearch.registry import Registry


@dataclass(frozen=True)
class Preset:
    """A task model and its training: what ``train`` and ``compare`` train, and what the candidates
    of a trained search (and density matching's proxies) train, for ``epochs``."""

    description: str
    model: str
    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    precision: str = "auto"

    def training(self) -> dict[str, Any]:
        """The options of ``train`` and ``compare`` it sets."""
        return {k: v for k, v in asdict(self).items() if k != "description"}

    def search(self) -> dict[str, Any]:
        """The options of ``run`` it sets: its candidates (and proxies) train as the final training,
        which ``--compare`` then runs for the same number of epochs."""
        return self.training() | {"compare_epochs": self.epochs}


PRESETS: Registry[Preset] = Registry("preset")
PRESETS.register("resnet20-160", Preset(
    "where augmentation pays on CIFAR-sized data: ResNet-20 for 160 epochs, bf16 autocast (fast on CPUs with "
    "bf16 instructions and on GPUs; on other CPUs add --precision fp32); about 11 min per run of 4,000 "
    "32 px images on 2 CPU cores", model="resnet20", epochs=160, precision="bf16"))


def training(name: str) -> dict[str, Any]:
    """The options of ``train`` and ``compare`` that preset ``name`` sets."""
    return PRESETS.get(name).training()


def search(name: str) -> dict[str, Any]:
    """The options of ``run`` that preset ``name`` sets."""
    return PRESETS.get(name).search()
