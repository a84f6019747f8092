"""The registry of ``augsearch`` subcommands. Command modules register here; :mod:`augsearch.cli`
imports them and builds the parser, so no command module imports the entry point."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from augsearch.registry import Registry

Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """A subcommand: ``setup`` adds its arguments, ``run`` does the work and returns the exit status."""

    setup: Callable[[argparse.ArgumentParser], None]
    run: Run


COMMANDS: Registry[Command] = Registry("command")


def command(name: str, setup: Callable[[argparse.ArgumentParser], None]) -> Callable[[Run], Run]:
    """Register the decorated function as subcommand ``name``; its docstring is its help."""
    def register(fn: Run) -> Run:
        COMMANDS.register(name, Command(setup, fn))
        return fn
    return register
