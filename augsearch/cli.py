"""The ``augsearch`` command line. Each subcommand is a small function; errors a user can fix
print as one line and exit with status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from augsearch.errors import AugsearchError

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations must not call home on import

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command]] = {}


def command(name: str, setup: Callable[[argparse.ArgumentParser], None]):
    """Register ``fn`` as subcommand ``name``; ``setup`` adds its arguments."""
    def register(fn: Command) -> Command:
        COMMANDS[name] = (setup, fn)
        return fn
    return register


# ----------------------------------------------------------------------------- ops, policies, export

def _ops_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--convention", help="show one convention only")


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
    Console(width=200).print(table)
    scales = ", ".join(f"{c.name}: " + (f"bins 0..{c.levels - 1}" if c.levels else f"0..{c.max_magnitude:g}")
                       for c in conventions)
    print(f"magnitude scales: {scales}")
    return 0


@command("policies", lambda p: None)
def cmd_policies(args: argparse.Namespace) -> int:
    """The bundled policies, loadable by name."""
    from augsearch.specs import bundled_policies, load_policy

    for name, path in bundled_policies().items():
        policy = load_policy(name)
        source = getattr(policy, "source", None)
        print(f"{name:36s} {policy!r:.80s}" if not source else f"{name:36s} {len(policy)} sub-policies; {source}")
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("policy", help="a policy file, a bundled name or a spec")
    p.add_argument("--to", required=True, choices=("albumentations", "yaml", "json"))
    p.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")


@command("export", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    """Write a policy as a canonical YAML/JSON file or as an albumentations pipeline file."""
    from augsearch.files import dump_text
    from augsearch.specs import load_policy

    policy = load_policy(args.policy)
    if args.to in ("yaml", "json"):
        text = dump_text(policy.to_config(), f"x.{args.to}")
    else:
        import albumentations as A  # noqa: N812

        from augsearch.export.albumentations import to_albumentations

        text = _json_text(A.to_dict(to_albumentations(policy)))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _json_text(data: object) -> str:
    import json

    return json.dumps(data, indent=1) + "\n"


# ----------------------------------------------------------------------------- entry point

def build_parser() -> argparse.ArgumentParser:
    import augsearch.search.cli  # noqa: F401, PLC0415  (these modules register their subcommands)
    import augsearch.viz.cli  # noqa: F401, PLC0415

    parser = argparse.ArgumentParser(prog="augsearch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (setup, fn) in COMMANDS.items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").splitlines()[0], description=fn.__doc__)
        setup(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AugsearchError as err:
        print(f"augsearch {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        detail = f": {err}" if str(err) else ""
        print(f"augsearch {args.command}: interrupted{detail}", file=sys.stderr)
        return 130
