"""augsearch: augmentation policies as data, and a search that finds them for your images.

One op table (:mod:`augsearch.ops`), magnitude conventions for every published method
(:mod:`augsearch.conventions`), policy objects that work on PIL images and uint8 tensors, and
policy files that any trainer can load.

The names below are imported on first use (:mod:`augsearch.lazy`), so ``import augsearch`` and
``augsearch --help`` start without importing torch.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from augsearch.lazy import exports

if TYPE_CHECKING:  # the one list of public names: augsearch.lazy reads it, type checkers and editors too
    from augsearch.conventions import CONVENTIONS, Convention, get_convention
    from augsearch.errors import AugsearchError, ConfigError, DataError, PolicyError
    from augsearch.families import AugMix, Cutout, RandAugment, TrivialAugment, jsd_loss
    from augsearch.mixing import CutMix, Mixup
    from augsearch.ops import OPS
    from augsearch.plans import Applied
    from augsearch.policy import Augment, Op, Policy, SubPolicy
    from augsearch.proof.train import train
    from augsearch.schedule import Schedule
    from augsearch.specs import bundled_policies, load_policy

try:
    __version__ = version("augsearch")  # pyproject.toml's, as installed
except PackageNotFoundError:  # imported from a checkout (PYTHONPATH=.) without being installed
    __version__ = "0+unknown"

__getattr__, __dir__ = exports(__name__)

__all__ = [
    "CONVENTIONS", "OPS", "Applied", "AugMix", "Augment", "AugsearchError", "ConfigError", "Convention",
    "CutMix", "Cutout", "DataError", "Mixup", "Op", "Policy", "PolicyError", "RandAugment", "Schedule", "SubPolicy",
    "TrivialAugment", "bundled_policies", "get_convention", "jsd_loss", "load_policy", "train",
]
