"""The ``augsearch`` command line. Each subcommand is a small function; errors a user can fix
print as one line and exit with status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import augsearch.policy_cli  # noqa: F401  (the command modules register their subcommands)
import augsearch.proof.cli  # noqa: F401
import augsearch.search.cli  # noqa: F401
import augsearch.viz.cli  # noqa: F401
from augsearch import __version__
from augsearch.commands import COMMANDS
from augsearch.errors import AugsearchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="augsearch", description="Augmentation policies as data, a search that "
                                     "finds one for your images, and the proof that it helps.")
    parser.add_argument("--version", action="version", version=f"augsearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=(cmd.run.__doc__ or "").splitlines()[0], description=cmd.run.__doc__)
        cmd.setup(p)
        p.set_defaults(func=cmd.run)
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
    except BrokenPipeError:  # the reader went away (`augsearch policies | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
