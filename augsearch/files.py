"""Policy files: versioned YAML or JSON, read as plain data only (no tags, no pickle).

A file is a mapping with the format version ``augsearch: 1``, a ``kind`` (policy,
randaugment, trivialaugment, augmix, cutout, mixup, cutmix) and that kind's keyword options;
an AutoAugment-style policy adds its ``convention`` and ``sub_policies`` as lists of
``[op, probability, magnitude]``. Errors name the file, the line and the place.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from augsearch.errors import PolicyError
from augsearch.families import AugMix, Cutout, RandAugment, TrivialAugment
from augsearch.mixing import CutMix, Mixup
from augsearch.policy import FORMAT_VERSION, Policy

KINDS: dict[str, type] = {cls.kind: cls for cls in (Policy, RandAugment, TrivialAugment, AugMix, Cutout,
                                                     Mixup, CutMix)}
YAML_SUFFIXES = (".yaml", ".yml")


def dump_text(config: Mapping[str, Any], path: str | Path) -> str:
    """A config as YAML or JSON text, by the file's suffix; sub-policies stay one per line."""
    if Path(path).suffix.lower() not in YAML_SUFFIXES:
        return json.dumps(config, indent=1) + "\n"
    head = {k: v for k, v in config.items() if k != "sub_policies"}
    text = yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=100)
    if "sub_policies" in config:
        text += "sub_policies:\n" + "".join(
            f"- {yaml.safe_dump(sp, default_flow_style=True, width=10**6).strip()}\n"
            for sp in config["sub_policies"])
    return text


def parse_text(text: str, *, file: str = "<string>", yaml_syntax: bool = True) -> Any:
    """Plain data from YAML or JSON text; explicit YAML tags are refused."""
    if not yaml_syntax:
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise PolicyError(f"invalid JSON: {err.msg}", file=file, line=err.lineno) from None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.TagToken):
                raise PolicyError("YAML tags are not allowed in policy files", file=file,
                                  line=token.start_mark.line + 1, value=token.value[0] + token.value[1])
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise PolicyError(f"invalid YAML: {problem}", file=file,
                          line=mark.line + 1 if mark else None) from None


def from_config(config: Any, *, file: str | None = None, text: str | None = None):
    """Build the augmentation a config mapping describes, validating every field."""
    try:
        return _build(config)
    except PolicyError as err:
        line = _line_of(text, err.place) if text is not None and err.place else None
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
    if kind not in KINDS:
        raise PolicyError(f"unknown kind; known: {', '.join(KINDS)}", place="kind", value=kind)
    cls = KINDS[kind]
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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PolicyError(f"cannot read policy file: {getattr(err, 'strerror', None) or err}",
                          file=str(path)) from None
    data = parse_text(text, file=str(path), yaml_syntax=path.suffix.lower() != ".json")
    return from_config(data, file=str(path), text=text)


_PLACE_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")
_OP_FIELDS = {"name": 0, "prob": 1, "magnitude": 2}


def _line_of(text: str, place: str) -> int | None:
    """The 1-based line of ``place`` (e.g. ``sub_policies[3][1].prob``) in YAML or JSON text."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    for key, index in _PLACE_TOKEN.findall(place):
        parent = node
        if isinstance(node, yaml.MappingNode) and key:
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode):
            i = int(index) if index else _OP_FIELDS.get(key)
            node = node.value[i] if i is not None and i < len(node.value) else None
        else:
            node = None
        if node is None:  # a missing field: the line of what should hold it
            return parent.start_mark.line + 1
    return node.start_mark.line + 1
