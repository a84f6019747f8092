"""Policy file text: versioned YAML or JSON, read as plain data only (no tags, no pickle).

Only text and plain data live here, so every layer can read and write files without knowing
the policy kinds (:mod:`augsearch.files` builds policies from the data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from augsearch.errors import PolicyError

FORMAT_VERSION = 1
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



_PLACE_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")
_OP_FIELDS = {"name": 0, "prob": 1, "magnitude": 2}


def line_of(text: str, place: str) -> int | None:
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
