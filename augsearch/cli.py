"""The ``augsearch`` command line. Each subcommand is a small function; errors a user can fix
print as one line and exit with status 2.

Only the chosen subcommand's arguments are set up: their choices come from the registries, which
import torch, so ``augsearch --help`` (the commands and their one-line help) and
``augsearch --version`` answer without importing it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import augsearch.policy_cli  # noqa: F401  (the command modules register their subcommands)
import augsearch.proof.cli  # noqa: F401
import augsearch.search.cli  # noqa: F401
import augsearch.viz.cli  # noqa: F401
from augsearch.commands import COMMANDS
from augsearch.errors import AugsearchError


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``: every subcommand with its help, the arguments of the one named."""
    parser = argparse.ArgumentParser(prog="augsearch", description="Augmentation policies as data, a search that "
                                     "finds one for your images, and the proof that it helps.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = chosen_command(argv)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=(cmd.run.__doc__ or "").splitlines()[0], description=cmd.run.__doc__)
        if name == chosen:
            cmd.setup(p)
        p.set_defaults(func=cmd.run)
    return parser


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (the top level's options,
    ``--help`` and ``--version``, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


class _Version(argparse.Action):
    """``--version``, read from the installed metadata only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from augsearch import __version__

        print(f"augsearch {__version__}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = chosen_command(argv)
    prefix = f"augsearch {name}" if name else "augsearch"  # as argparse names the failing parser
    try:
        args = build_parser(argv).parse_args(argv)  # a subcommand's setup may import torch: inside the try
        return args.func(args)
    except AugsearchError as err:
        print(f"{prefix}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        detail = f": {err}" if str(err) else ""
        print(f"{prefix}: interrupted{detail}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`augsearch policies | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
