"""Policy file text: versioned YAML or JSON, read as plain data only (no tags, no pickle), within limits.

Only text and plain data live here, so every layer can read and write files without knowing
the policy kinds (:mod:`augsearch.files` builds policies from the data). The limits turn a huge,
deeply nested or alias-bombed file into one :class:`PolicyError` instead of minutes of work,
gigabytes of memory or a ``RecursionError``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from augsearch.errors import PolicyError, first_line

FORMAT_VERSION = 1
YAML_SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 64 * 2**20  # a file size; the largest published policy takes 40 KB, 100,000 sub-policies 11 MB
MAX_DEPTH = 100  # nested lists and mappings; a policy file needs 4, Python's recursion limit is 1,000
MAX_ALIASED = 100_000  # nodes that YAML aliases may stand for, all aliases together

# libyaml's parser where PyYAML was built with it: 100,000 sub-policies parse in 2 s, not 13 s
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_TAGS = "tag:yaml.org,2002:"
# YAML 1.1 (PyYAML) reads 1e-3 and 1E5 as text: a float needs a dot there. Users write them as
# numbers (YAML 1.2, JSON, Python), so plain scalars of this form are read as floats.
_EXPONENT_FLOAT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


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


def read_text(path: str | Path, what: str = "policy file") -> str:
    """A file's text. At most :data:`MAX_BYTES` are read (a huge file or a device cannot fill the
    memory), a UTF-8 byte-order mark is dropped, and every failure is one error naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except (OSError, ValueError) as err:  # ValueError: a NUL character in the path
        raise PolicyError(f"cannot read {what}: {getattr(err, 'strerror', None) or err}", file=str(path)) from None
    if len(data) > MAX_BYTES:
        raise PolicyError(f"{what} larger than {MAX_BYTES // 2**20} MiB", file=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise PolicyError(f"cannot read {what}: not UTF-8 text (byte {data[err.start]:#04x} on line {line})",
                          file=str(path)) from None


def parse_text(text: str, *, file: str = "<string>", yaml_syntax: bool = True) -> Any:
    """Plain data from YAML or JSON text, nested at most :data:`MAX_DEPTH` deep, each mapping key
    once; explicit YAML tags are refused and YAML aliases stand for :data:`MAX_ALIASED` nodes at most."""
    if yaml_syntax:
        return _yaml_data(text, file)
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise PolicyError(f"invalid JSON: {err.msg}", file=file, line=err.lineno) from None
    except PolicyError as err:
        raise err.located(file=file) from None
    except RecursionError:  # (json's own recursion, from about 1,000 levels on)
        raise _too_deep(file, None) from None
    except ValueError as err:  # an integer of more digits than Python converts
        raise PolicyError(f"invalid JSON: {first_line(err)}", file=file) from None
    level, depth = [data], 0  # (json.loads itself only stops at Python's recursion limit)
    while level := [v for v in level if isinstance(v, (list, dict))]:
        depth += 1
        if depth > MAX_DEPTH:
            raise _too_deep(file, None)
        level = [v for c in level for v in (c.values() if isinstance(c, dict) else c)]
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; a key given twice is an error (json keeps the last one silently)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise PolicyError("invalid JSON: duplicate key", value=key)
        data[key] = value
    return data


def _too_deep(file: str, line: int | None) -> PolicyError:
    return PolicyError(f"nested more than {MAX_DEPTH} lists or mappings deep", file=file, line=line)


_NO_KEY = object()


@dataclasses.dataclass
class _Open:
    """A list or mapping whose end the parser has not reached yet."""

    value: list | dict
    anchor: str | None
    nodes: int = 1  # itself and all it holds, aliases expanded
    key: Any = _NO_KEY  # in a mapping: the key waiting for its value


def _yaml_data(text: str, file: str) -> Any:
    """Data built from the parser's events in one pass without recursion, so that depth, tags,
    aliases and duplicate keys are checked as they come, before anything is built from them."""
    loader = SafeLoader(text)
    stack: list[_Open] = []
    anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (its value, the nodes it stands for)
    aliased, documents, data = 0, 0, None
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if getattr(event, "tag", None) is not None:
                tag = "!!" + event.tag[len(_YAML_TAGS):] if event.tag.startswith(_YAML_TAGS) else event.tag
                raise PolicyError("YAML tags are not allowed", file=file,
                                  line=event.start_mark.line + 1, value=tag)
            if kind is yaml.ScalarEvent:
                anchor, nodes = event.anchor, 1
                value = _plain_scalar(loader, event) if event.implicit[0] else event.value  # else quoted: text
            elif kind is yaml.AliasEvent:
                if event.anchor not in anchors:
                    raise PolicyError("invalid YAML: undefined or recursive alias", file=file,
                                      line=event.start_mark.line + 1, value=event.anchor)
                anchor, (value, nodes) = None, anchors[event.anchor]
                aliased += nodes
                if aliased > MAX_ALIASED:
                    raise PolicyError(f"YAML aliases stand for more than {MAX_ALIASED} nodes",
                                      file=file, line=event.start_mark.line + 1)
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                if len(stack) == MAX_DEPTH:
                    raise _too_deep(file, event.start_mark.line + 1)
                stack.append(_Open([] if kind is yaml.SequenceStartEvent else {}, event.anchor))
                continue
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                done = stack.pop()
                value, anchor, nodes = done.value, done.anchor, done.nodes
            else:  # the stream's and documents' starts and ends
                if kind is yaml.DocumentStartEvent and documents:
                    raise PolicyError("invalid YAML: more than one document", file=file,
                                      line=event.start_mark.line + 1)
                documents += kind is yaml.DocumentStartEvent
                continue
            if anchor is not None:
                anchors[anchor] = (value, nodes)
            if not stack:
                data = value
                continue
            top = stack[-1]
            top.nodes += nodes
            if type(top.value) is list:
                top.value.append(value)
            elif top.key is not _NO_KEY:
                top.value[top.key] = value
                top.key = _NO_KEY
            else:
                try:
                    duplicate = value in top.value
                except TypeError:
                    raise PolicyError("invalid YAML: a mapping key must be a scalar", file=file,
                                      line=event.start_mark.line + 1) from None
                if duplicate:
                    raise PolicyError("invalid YAML: duplicate key", file=file, line=event.start_mark.line + 1,
                                      value=value)
                top.key = value
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or first_line(err)
        raise PolicyError(f"invalid YAML: {problem}", file=file, line=mark.line + 1 if mark else None) from None
    return data


def _plain_scalar(loader: Any, event: yaml.ScalarEvent) -> Any:
    """A plain scalar's value as ``yaml.safe_load`` gives it (a number, a boolean, null, a date or
    text), except that ``1e-3`` is a number, as in YAML 1.2."""
    node = yaml.ScalarNode(loader.resolve(yaml.ScalarNode, event.value, (True, False)), event.value,
                           event.start_mark, event.end_mark)
    if node.tag == _YAML_TAGS + "str" and _EXPONENT_FLOAT.fullmatch(event.value):
        return float(event.value)
    construct = loader.yaml_constructors.get(node.tag)
    if construct is None:  # '<<' (a merge key) and '=' (a value key) are no plain data
        raise yaml.MarkedYAMLError(None, None, f"{event.value!r} is not supported", event.start_mark)
    try:
        return construct(loader, node)
    except ValueError as err:  # a date like 2021-02-30, an integer of more digits than Python converts
        raise yaml.MarkedYAMLError(None, None, first_line(err), event.start_mark) from None


_PLACE_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")
_OP_FIELDS = {"name": 0, "prob": 1, "magnitude": 2}


def line_of(text: str, place: str) -> int | None:
    """The 1-based line of ``place`` (e.g. ``sub_policies[3][1].prob``) in YAML or JSON text."""
    try:
        node = yaml.compose(text, SafeLoader)
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
