"""``augsearch run`` and ``augsearch spaces``: their flags come from the fields of RunConfig."""

from __future__ import annotations

import argparse
import json
import sys

from augsearch.cli import command
from augsearch.search.config import config_fields, resolve


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="YAML config file; flags given here override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (its config is kept)")
    p.add_argument("--quiet", action="store_true", help="no progress display; print only the result paths")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    for name, f in config_fields().items():
        flag = "--" + name.replace("_", "-")
        text = f.metadata.get("help", "")
        if "bool" in str(f.type):
            p.add_argument(flag, action="store_true", default=None, help=text)
            continue
        kind = int if "int" in str(f.type) else float if "float" in str(f.type) else str
        default = f" (default: {f.default})" if f.default is not None else ""
        p.add_argument(flag, type=kind, default=None, metavar=name.upper(), help=text + default)


@command("run", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    """Search an augmentation policy for a dataset and write it as a policy file."""
    from augsearch.search.run import search

    overrides = {name: getattr(args, name) for name in config_fields()}
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if given or args.config:
            print(f"augsearch run: error: --resume keeps the run's own config; drop {' '.join(given) or '--config'}",
                  file=sys.stderr)
            return 2
        overrides["out"] = args.resume
    cfg = resolve(file=args.config, overrides=overrides)
    run = search(cfg, resume=bool(args.resume), quiet=args.quiet, report=not args.no_report)
    summary = json.loads(run.summary_file.read_text())
    if not args.quiet:
        print(f"searched {summary['trials']} candidate policies in {summary['wall_seconds']:.1f} s "
              f"({summary['failed_trials']} failed); final policy: {summary['final_sub_policies']} sub-policies")
    print(run.policy_file)
    return 0


@command("spaces", lambda p: None)
def cmd_spaces(args: argparse.Namespace) -> int:
    """The search spaces ``augsearch run --space`` accepts."""
    from augsearch.search.spaces import SPACES

    for space in SPACES.values():
        print(f"{space.name:12s} {space.description}")
        print(f"{'':12s} convention {space.convention_name}; ops: {', '.join(space.ops)}")
    return 0
