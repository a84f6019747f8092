"""``augsearch run`` and ``augsearch spaces``: the flags come from the fields of RunConfig, their
choices from the registries."""

from __future__ import annotations

import argparse
import json
import sys

from augsearch.commands import command
from augsearch.registry import build
from augsearch.search.config import config_fields, field_type, resolve


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="YAML config file; flags given here override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (its config is kept)")
    p.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=False,
                   help="no progress display; print only the result paths")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                   help="write RUN_DIR/report.html at the end")
    for name, f in config_fields().items():
        flag = "--" + name.replace("_", "-")
        text = f.metadata["help"]
        if f.metadata["names"]:
            text += ": " + ", ".join(f.metadata["names"].names())
        kind, _ = field_type(name)
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{text} (default: {'yes' if f.default else 'no'})")
            continue
        choices = f.metadata["choices"]  # shown here, checked by the config (one-line errors)
        default = f" (default: {f.default})" if f.default is not None else ""
        metavar = "{" + ",".join(choices.names()) + "}" if choices else name.upper()
        p.add_argument(flag, type=kind, default=None, metavar=metavar, help=text + default)


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
    run = search(cfg, resume=bool(args.resume), quiet=args.quiet)
    if args.report:
        from augsearch.viz.report import write_report

        write_report(run.path)
    summary = json.loads(run.summary_file.read_text())
    if not args.quiet:
        shape = (f"{summary['final_sub_policies']} sub-policies" if "final_sub_policies" in summary
                 else f"a {summary['final_kind']} policy")
        print(f"searched {summary['trials']} candidate policies in {summary['wall_seconds']:.1f} s "
              f"({summary['failed_trials']} failed); final policy: {shape}")
    print(run.policy_file)
    return 0


@command("spaces", lambda p: None)
def cmd_spaces(args: argparse.Namespace) -> int:
    """The search spaces ``augsearch run --space`` accepts."""
    from augsearch.search.spaces import SPACES

    for name, factory in SPACES.items():
        space = build(factory, {})
        print(f"{name:12s} {space.description}")
        if space.details():
            print(f"{'':12s} {space.details()}")
    return 0
