"""Policy files: versioned YAML or JSON, read as plain data only (no tags, no pickle).

A file is a mapping with the format version ``augsearch: 1``, a ``kind`` (a name in
:data:`augsearch.policy.KINDS`) and that kind's keyword options;
an AutoAugment-style policy adds its ``convention`` and ``sub_policies`` as lists of
``[op, probability, magnitude]``. Errors name the file, the line and the place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import augsearch.families  # noqa: F401  (its kinds register themselves)
import augsearch.mixing  # noqa: F401
import augsearch.recipe  # noqa: F401
import augsearch.schedule  # noqa: F401
from augsearch.errors import PolicyError
from augsearch.formats import line_of, parse_text, read_text
from augsearch.policy import build_config


def from_config(config: Any, *, file: str | None = None, text: str | None = None):
    """Build the augmentation a config mapping describes, validating every field."""
    try:
        if not isinstance(config, Mapping):
            raise PolicyError("a policy file must hold a mapping", value=type(config).__name__)
        return build_config(config)
    except PolicyError as err:
        line = line_of(text, err.place) if text is not None and err.place else None
        raise PolicyError(err.message, file=file, place=err.place, value=err.value,
                          line=line or err.line) from None


def read_policy_file(path: str | Path):
    """Load a policy file, or raise a :class:`PolicyError` naming the file and place."""
    path = Path(path)
    text = read_text(path)
    data = parse_text(text, file=str(path), yaml_syntax=path.suffix.lower() != ".json")
    return from_config(data, file=str(path), text=text)
