"""``augsearch train`` and ``augsearch compare``. Their option tables import torch, so they are
imported inside the functions (see :mod:`augsearch.policy_cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from augsearch.commands import command
from augsearch.errors import ConfigError


def _train_args(p: argparse.ArgumentParser) -> None:
    from augsearch import options
    from augsearch.proof.train import TrainConfig

    p.add_argument("policy", nargs="?", help="a policy file, a bundled name, a spec, or none (the base only)")
    p.add_argument("-c", "--config", help="YAML config file; flags given here override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted training run (its config is kept)")
    p.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=False, help="no line per epoch")
    p.add_argument("--tensorboard", metavar="DIR", help="write each epoch's metrics into DIR as TensorBoard scalars")
    options.add_flags(p, TrainConfig, skip=("policy",))


@command("train", _train_args)
def cmd_train(args: argparse.Namespace) -> int:
    """Train a model with a policy and report top-1 on held-out data no search saw."""
    from augsearch import options
    from augsearch.loggers import log_dir
    from augsearch.proof.train import TrainConfig, resolve, run_training

    overrides = options.given(args, TrainConfig)
    if args.resume:
        options.refuse_on_resume(overrides, "--config" if args.config else "")
        overrides["out"] = args.resume
    cfg = resolve(file=args.config, overrides=overrides)
    options.check_paths(TrainConfig, file=args.config, overrides=overrides)
    metrics = run_training(cfg, resume=bool(args.resume), quiet=args.quiet, tensorboard=log_dir(args.tensorboard))
    ema = f", EMA {metrics['ema_top1']:.4f}" if "ema_top1" in metrics else ""
    print(f"top-1 {metrics['top1']:.4f}{ema} on {metrics['test_size']} held-out images "
          f"({metrics['holdout']['kind']}); policy {metrics['policy']}, base {metrics['base']}, {metrics['model']}, "
          f"{metrics['epochs']} epochs, seed {metrics['seed']}, {metrics['seconds']:.1f} s")
    print(f"{cfg.out}/metrics.json")
    return 0


def _compare_args(p: argparse.ArgumentParser) -> None:
    from augsearch import options
    from augsearch.proof.compare import CompareConfig

    p.add_argument("targets", nargs="*", metavar="POLICY|RUN_DIR",
                   help="policies (files, bundled names or specs; the first is tested against the controls), "
                        "or one finished search's run directory")
    p.add_argument("-c", "--config", help="YAML config file; flags given here override it")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted comparison (its config is kept)")
    p.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=False, help="print only the result path")
    options.add_flags(p, CompareConfig, skip=("policy", "policies", "run_dir"))


@command("compare", _compare_args)
def cmd_compare(args: argparse.Namespace) -> int:
    """Train policies and controls over seeds; say with a confidence interval whether the first is better."""
    from augsearch import options
    from augsearch.proof.compare import CompareConfig, CompareDir, compare, resolve

    overrides = options.given(args, CompareConfig)
    if args.resume:
        options.refuse_on_resume(overrides, "--config" if args.config else "", *args.targets)
        cfg = CompareDir(args.resume).load_config()
    elif len(args.targets) == 1 and (Path(args.targets[0]) / "config.yaml").is_file():
        cfg = resolve(file=args.config, overrides={**overrides, "run_dir": args.targets[0]})
    else:
        for target in args.targets:
            if Path(target).is_dir():
                raise ConfigError(f"{target} is a directory but no search's run directory (no config.yaml)")
        cfg = resolve(file=args.config, overrides={**overrides, "policies": tuple(args.targets) or None})
    options.check_paths(CompareConfig, file=args.config, overrides=overrides)
    summary = compare(cfg, resume=bool(args.resume), quiet=args.quiet)
    if not args.quiet:
        from augsearch.proof.compare import markdown

        print(markdown(summary), end="")
    print(f"{cfg.out}/compare.md")
    for warning in summary.get("warnings", []):  # also with --quiet: they say the verdicts may mean little
        print(f"warning: {warning}", file=sys.stderr)
    return 0
