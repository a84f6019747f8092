"""``augsearch ops``, ``augsearch policies`` and ``augsearch export``: the policy DSL's commands.

Like every command module, this one imports torch and the registries inside the functions that
need them, so that ``augsearch --help`` stays fast.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from augsearch.commands import command
from augsearch.errors import ConfigError


def _ops_args(p: argparse.ArgumentParser) -> None:
    from augsearch.conventions import CONVENTIONS

    p.add_argument("--convention", help="show one convention only: " + ", ".join(CONVENTIONS.names()))


@command("ops", _ops_args)
def cmd_ops(args: argparse.Namespace) -> int:
    """The op table: each op's parameter and its range in every convention."""
    from rich.console import Console
    from rich.table import Table

    from augsearch.conventions import CONVENTIONS, get_convention
    from augsearch.ops import OPS

    conventions = [get_convention(args.convention)] if args.convention else list(CONVENTIONS.values())
    table = Table(title="augsearch ops (ranges: magnitude 0 .. max of each convention; +/- = random sign)")
    for col in ("op", "kind", "parameter", *(c.name for c in conventions)):
        table.add_column(col)
    for op in OPS.values():
        cells = []
        for c in conventions:
            names = [k for k, e in c.entries.items() if e.op == op.name]
            cells.append("\n".join(f"{c.range_text(k)}" + (f" ({k})" if k != op.name else "") for k in names) or "")
        param = f"{op.param} [{op.unit}]" if op.param else "-"
        table.add_row(op.name, op.kind, param, *cells)
    Console(width=shutil.get_terminal_size((200, 24)).columns).print(table)  # COLUMNS or the terminal's
    scales = ", ".join(f"{c.name}: " + (f"bins 0..{c.levels - 1}" if c.levels else f"0..{c.max_magnitude:g}")
                       for c in conventions)
    print(f"magnitude scales: {scales}")
    return 0


@command("policies", lambda p: None)
def cmd_policies(args: argparse.Namespace) -> int:
    """The bundled policies, loadable by name."""
    from augsearch.policy import Policy
    from augsearch.specs import bundled_policies, load_policy

    for name in bundled_policies():
        policy = load_policy(name)
        source = getattr(policy, "source", None)
        size = f"{len(policy)} sub-policies" if isinstance(policy, Policy) else repr(policy)
        print(f"{name:36s} {size}; {source}" if source else f"{name:36s} {size}")
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("policy", help="a policy file, a bundled name or a spec")
    p.add_argument("--to", required=True, choices=("albumentations", "yaml", "json"),
                   help="albumentations: a pipeline as JSON for A.load; yaml or json: augsearch's policy file")
    p.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")


@command("export", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    """Write a policy as a canonical YAML/JSON file or as an albumentations pipeline file."""
    from augsearch.formats import dump_text
    from augsearch.specs import load_policy

    policy = load_policy(args.policy)
    if args.to in ("yaml", "json"):
        text = dump_text(policy.to_config(), f"x.{args.to}")
    else:
        import albumentations as A  # noqa: N812

        from augsearch.export.albumentations import to_albumentations

        text = _json_text(A.to_dict(to_albumentations(policy)))
        if args.output and args.output.suffix.lower() in (".yaml", ".yml"):
            raise ConfigError(f"{args.output}: albumentations pipelines are written as JSON (A.load reads them); "
                              "name the file .json")
    if args.output:
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text)
        except OSError as err:
            raise ConfigError(f"{args.output}: cannot write here ({err.strerror})") from None
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _json_text(data: object) -> str:
    import json

    return json.dumps(data, indent=1) + "\n"
