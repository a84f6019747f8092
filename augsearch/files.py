"""Policy files: versioned YAML or JSON, read as plain data only (no tags, no pickle).

A file is a mapping with the format version ``augsearch: 1``, a ``kind`` (a name in
:data:`augsearch.policy.KINDS`) and that kind's keyword options;
an AutoAugment-style policy adds its ``convention`` and ``sub_policies`` as lists of
``[op, probability, magnitude]``. Errors name the file, the line and the place.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import augsearch.families  # noqa: F401  (its kinds register themselves)
import augsearch.mixing  # noqa: F401
import augsearch.schedule  # noqa: F401
from augsearch.errors import PolicyError
from augsearch.formats import FORMAT_VERSION, line_of, parse_text, read_text
from augsearch.policy import KINDS


def from_config(config: Any, *, file: str | None = None, text: str | None = None):
    """Build the augmentation a config mapping describes, validating every field."""
    try:
        return _build(config)
    except PolicyError as err:
        line = line_of(text, err.place) if text is not None and err.place else None
        raise PolicyError(err.message, file=file, place=err.place, value=err.value,
                          line=line or err.line) from None


def _build(config: Any):
    if not isinstance(config, Mapping):
        raise PolicyError("a policy file must hold a mapping", value=type(config).__name__)
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


def read_policy_file(path: str | Path):
    """Load a policy file, or raise a :class:`PolicyError` naming the file and place."""
    path = Path(path)
    text = read_text(path)
    data = parse_text(text, file=str(path), yaml_syntax=path.suffix.lower() != ".json")
    return from_config(data, file=str(path), text=text)
