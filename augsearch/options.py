"""Options as dataclass fields: one table per command is the source of truth for its flags, its
config files, the ``config.yaml`` of its run directory and their checks.

Resolution is defaults < a preset's options < config file < command-line flags. Types come from the annotations
(``typing.get_type_hints``), choices from the registries, so nothing is restated.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from augsearch.errors import ConfigError, PolicyError, shown
from augsearch.formats import parse_text, read_text
from augsearch.registry import Registry

C = TypeVar("C")
COMMAND_LINE = "<flags>"  # check()'s origin for a flag's value: errors name the flag (--top-n), not the field

# Bounds that more than one command's options share
MAX_SEED = 2**63 - 1  # torch's generators take a signed 64-bit seed
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 8, 1024  # the models' poolings need 8; 1024 px x 50,000 images is 150 GB
MAX_THREADS = 256  # far beyond, libgomp runs out of memory allocating its thread pool


def option(default: Any, help: str, *, choices: Registry | None = None, names: Registry | None = None,
           low: float | None = None, high: float | None = None) -> Any:
    """A field: its default, its ``--help`` text and, for named things, the registry whose names it
    takes (``choices``), or whose names and arguments it takes (``names``: ``folder:PATH``); for
    numbers, the range it must lie in (``low``, ``high``: what a 2-core, 24 GiB machine survives),
    checked before any work starts."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "names": names,
                                                        "low": low, "high": high})


def field_type(cls: type, name: str) -> tuple[type, bool]:
    """The value type of option ``name`` and whether it may be unset (``None``)."""
    hint = typing.get_type_hints(cls)[name]
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]: a list of names
        return tuple, False
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (args[0], True) if args else (hint, False)


def check(cls: type, name: str, value: Any, origin: str) -> Any:
    """``value`` for option ``name``, type-checked (an int is a float where a float is asked for) and
    within its bounds; ``origin`` says where it came from (:data:`COMMAND_LINE`: a flag)."""
    field = name
    kind, optional = field_type(cls, name)
    if value is None and optional:
        return None
    if origin == COMMAND_LINE:  # name what the user typed
        origin, name = "command line", "--" + name.replace("_", "-")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is tuple:
        value = tuple(value) if isinstance(value, list) else value
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{origin}: {name} must be a list of names (got {shown(value)})")
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise ConfigError(f"{origin}: {name} must be {kind.__name__}{' or null' if optional else ''} "
                          f"(got {shown(value)})")
    meta = _fields(cls)[field].metadata
    low, high = meta.get("low"), meta.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"in [{low:,}, {high:,}]" if low is not None and high is not None else (
            f"at least {low:,}" if low is not None else f"at most {high:,}")
        raise ConfigError(f"{origin}: {name} must be {bounds} (got {shown(value)})")
    for each in value if kind is tuple else (value,):
        if meta["choices"] is not None:
            meta["choices"].get(each)  # an unknown name is an error that lists the known ones
        if meta["names"] is not None:
            meta["names"].resolve(each)
    return value


def read_file(cls: type, path: str | Path) -> dict[str, Any]:
    """A config file's options, checked against the fields of ``cls``; read within the limits of
    policy files (size, nesting, aliases, UTF-8, no tags), each failure one error naming the file."""
    try:
        data = parse_text(read_text(path, "config file"), file=str(path))
    except PolicyError as err:
        raise ConfigError(str(err)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of options")
    known = _fields(cls)
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown option {shown(key)}; known: {', '.join(known)}")
        data[key] = check(cls, key, value, str(path))
    return data


def resolve(cls: type[C], *, file: str | Path | None = None, overrides: dict[str, Any] | None = None,
            preset: Callable[[str], dict[str, Any]] | None = None) -> C:
    """Defaults, then a preset's options, then the config file, then explicit overrides (``None``
    values are not set). ``preset`` maps the ``preset`` option's value (a flag's, else the file's)
    to the options it sets."""
    values: dict[str, Any] = read_file(cls, file) if file else {}
    known = _fields(cls)
    flags = {}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown option {key!r}")
        if value is not None:
            flags[key] = check(cls, key, value, COMMAND_LINE)
    name = flags.get("preset", values.get("preset"))
    base = {} if preset is None or name is None else {
        key: check(cls, key, value, f"preset {name}") for key, value in preset(name).items() if key in known}
    return cls(**(base | values | flags))


def check_paths(cls: type, *, file: str | Path | None, overrides: dict[str, Any]) -> None:
    """Each ``NAME:PATH`` option (``dataset: folder:PATH``) that config ``file`` sets and no flag
    overrides names a path that exists; else one error naming the file, the field and the path,
    because a relative path in a config file is read from the working directory, not the file's."""
    if not file:
        return
    for key, value in read_file(cls, file).items():
        registry = _fields(cls)[key].metadata["names"]
        if registry is None or overrides.get(key) is not None:
            continue
        for each in value if isinstance(value, tuple) else (value,):
            family, _, argument = (each or "").partition(":")
            path = Path(argument).expanduser()
            if f"{family}:PATH" in registry and argument and not path.exists():
                where = "" if path.is_absolute() else f" in the working directory {Path.cwd()}"
                raise ConfigError(f"{file}: {key}: {shown(each)}: no {argument}{where}; put it there or "
                                  f"override it: --{key.replace('_', '-')} {family}:PATH")


def add_flags(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """A ``--flag`` per field of ``cls``; each defaults to ``None`` (not given), booleans negatable."""
    for name, f in _fields(cls).items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        text = f.metadata["help"]
        if f.metadata["names"] is not None:
            text += ": " + ", ".join(f.metadata["names"].names())
        kind, _ = field_type(cls, name)
        if kind is tuple:
            choices = f.metadata["choices"]
            parser.add_argument(flag, type=lambda text: tuple(v.strip() for v in text.split(",") if v.strip()),
                                default=None, metavar=",".join(choices.names()) if choices else name.upper(),
                                help=f"{text}, comma-separated (default: {','.join(f.default)})")
            continue
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{text} (default: {'yes' if f.default else 'no'})")
            continue
        choices = f.metadata["choices"]  # shown here, checked by check() (one-line errors)
        default = f" (default: {f.default})" if f.default is not None else ""
        metavar = "{" + ",".join(choices.names()) + "}" if choices else name.upper()
        parser.add_argument(flag, type=kind, default=None, metavar=metavar, help=text + default)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The flags of ``cls``'s fields as parsed (``None`` where not given)."""
    return {name: getattr(args, name, None) for name in _fields(cls)}


def default_out(kind: str) -> str:
    """Where a run goes when ``--out`` is not given: ``runs/<timestamp>-<kind>``."""
    return str(Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}")


def refuse_on_resume(overrides: dict[str, Any], *also: str) -> None:
    """``--resume`` keeps the run's own config: any option given with it is a mistake to name."""
    given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None] + [a for a in also if a]
    if given:
        raise ConfigError(f"--resume keeps the run's own config; drop {' '.join(given)}")


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}
