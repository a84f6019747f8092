"""``augsearch run`` and ``augsearch spaces``: the flags come from the fields of RunConfig, their
choices from the registries (imported inside the functions, see :mod:`augsearch.policy_cli`)."""

from __future__ import annotations

import argparse
import json
import sys

from augsearch.commands import command


def _run_args(p: argparse.ArgumentParser) -> None:
    from augsearch import options
    from augsearch.search.config import RunConfig

    p.add_argument("-c", "--config", help="YAML config file; flags given here override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (its config is kept)")
    p.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=False,
                   help="no progress display; print only the result paths")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                   help="write RUN_DIR/report.html at the end")
    p.add_argument("--tensorboard", metavar="DIR", help="write each trial's score and metrics into DIR as "
                   "TensorBoard scalars, while the search runs")
    options.add_flags(p, RunConfig)


@command("run", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    """Search an augmentation policy for a dataset and write it as a policy file."""
    from augsearch import options
    from augsearch.loggers import log_dir
    from augsearch.search.config import RunConfig, resolve
    from augsearch.workflow import search_and_prove

    overrides = options.given(args, RunConfig)
    if args.resume:
        options.refuse_on_resume(overrides, "--config" if args.config else "")
        overrides["out"] = args.resume
    cfg = resolve(file=args.config, overrides=overrides)
    options.check_paths(RunConfig, file=args.config, overrides=overrides)
    outcome = search_and_prove(cfg, resume=bool(args.resume), quiet=args.quiet, report=args.report,
                               tensorboard=log_dir(args.tensorboard))
    run = outcome.run
    if outcome.comparison is not None and not args.quiet:
        from augsearch.proof.compare import markdown

        print(markdown(outcome.comparison), end="")
    summary = json.loads(run.summary_file.read_text())
    if not args.quiet:
        shape = (f"{summary['final_sub_policies']} sub-policies" if "final_sub_policies" in summary
                 else f"kind {summary['final_kind']}")
        proxy = summary.get("proxy") or {}
        clean = ", ".join(f"{acc:.3f}" for acc in (proxy.get("clean_accuracy") or {}).values())
        early = f", {summary['stopped_early']} stopped early" if summary.get("stopped_early") else ""
        proxies = f"; proxy clean accuracy {clean} (chance {proxy['chance']:.3f})" if clean else ""
        print(f"searched {summary['trials']} candidate policies in {summary['wall_seconds']:.1f} s "
              f"({summary['failed_trials']} failed{early}){proxies}; final policy: {shape}")
        if outcome.report is not None:
            print(f"report: {outcome.report}")
        print(f"use it: augsearch.load_policy({str(run.policy_file)!r}), or augsearch train {run.policy_file}")
    print(run.policy_file)
    compared = (outcome.comparison or {}).get("warnings", [])
    for warning in [*summary.get("warnings", []), *compared]:  # also with --quiet: the result may mean little
        print(f"warning: {warning}", file=sys.stderr)
    return 0


@command("spaces", lambda p: None)
def cmd_spaces(args: argparse.Namespace) -> int:
    """The search spaces ``augsearch run --space`` accepts."""
    from augsearch.registry import build
    from augsearch.search.spaces import SPACES

    for name, factory in SPACES.items():
        space = build(factory, {})
        print(f"{name:12s} {space.description} (objective: {space.objective})")
        if space.details():
            print(f"{'':12s} {space.details()}")
    return 0
