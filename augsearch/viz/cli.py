"""The picture subcommands: ``augsearch show``, ``augsearch sweep`` and ``augsearch report`` (torch
and the registries are imported inside the functions, see :mod:`augsearch.policy_cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from augsearch.commands import command
from augsearch.errors import ConfigError

MAX_TILE = 1024


def _positive(value: int, option: str, *, high: int | None = None) -> int:
    if value < 1 or (high is not None and value > high):
        raise ConfigError(f"{option} must be between 1 and {high}, got {value}" if high
                          else f"{option} must be a positive integer, got {value}")
    return value


def _show_args(p: argparse.ArgumentParser) -> None:
    from augsearch.data import DATASETS
    from augsearch.viz.grid import DEFAULT_TILE

    p.add_argument("policy", help="a policy file, a bundled name or a spec")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--images", type=Path, metavar="DIR", help="a folder of image files (default: "
                        "scikit-image's sample photos)")
    source.add_argument("--dataset", metavar="NAME", help="rows from a dataset: " + ", ".join(DATASETS.names()))
    p.add_argument("--n", type=int, default=8, help="augmented draws per image (default 8)")
    p.add_argument("--rows", type=int, default=6, help="images, one per row (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--annotate", action="store_true", help="write the ops that fired under each tile")
    p.add_argument("--epoch", type=int, help="a schedule's phase in force at this 0-based epoch (default 0)")
    p.add_argument("--size", type=int, default=DEFAULT_TILE, metavar="PX",
                   help=f"tile size in pixels; small images are enlarged (default {DEFAULT_TILE})")
    p.add_argument("--out", type=Path, default=Path("grid.png"), help="PNG to write (default grid.png)")


@command("show", _show_args)
def cmd_show(args: argparse.Namespace) -> int:
    """Sample grid: each image, then what the policy makes of it in several draws."""
    import torch

    from augsearch.data import load_dataset
    from augsearch.mixing import Mixup
    from augsearch.specs import load_policy
    from augsearch.viz.draw import save_png
    from augsearch.viz.grid import pick_rows, read_images, sample_grid, sample_photos

    rows = _positive(args.rows, "--rows")
    size = _positive(args.size, "--size", high=MAX_TILE)
    policy = load_policy(args.policy)
    if args.epoch is not None:
        if not hasattr(policy, "set_epoch"):
            raise ConfigError(f"--epoch: a {policy.kind} policy does not change with the epoch; only a schedule does")
        policy.set_epoch(args.epoch)
    if args.dataset:
        data = load_dataset(args.dataset)
        index = pick_rows(data.labels, rows)
        images, labels, classes, names = data.images[index], data.labels[index], data.classes, None
    else:
        names, images = (read_images(args.images, size=size, limit=rows) if args.images
                         else sample_photos(rows, size=size))
        labels, classes = torch.arange(len(names)), names  # each photo its own class, for Mixup's labels
    under = "its soft label" if isinstance(policy, Mixup) else "the ops that fired" if args.annotate else ""
    at = f" at epoch {args.epoch}" if args.epoch is not None else ""
    title = (f"{args.policy}{at}: original, then {args.n} draws (seed {args.seed})"
             + (f"; under each draw {under}" if under else ""))
    grid = sample_grid(policy, images, n=args.n, seed=args.seed, annotate=args.annotate, tile=size,
                       labels=labels, classes=classes, names=names, title=title)
    print(save_png(grid, args.out))
    return 0


def _sweep_args(p: argparse.ArgumentParser) -> None:
    from augsearch.conventions import CONVENTIONS

    p.add_argument("op", nargs="?", help="an op of the convention (augsearch ops lists them)")
    p.add_argument("--all", action="store_true", help="every op of the convention, one row each")
    p.add_argument("--convention", default="autoaugment",
                   help="the magnitude convention (default autoaugment): " + ", ".join(CONVENTIONS.names()))
    p.add_argument("--steps", type=int, default=11, help="magnitudes from 0 to the maximum (default 11)")
    p.add_argument("--image", type=Path, metavar="PATH", help="the image to sweep (default: a sample photo)")
    p.add_argument("--out", type=Path, default=Path("sweep.png"), help="PNG to write (default sweep.png)")


@command("sweep", _sweep_args)
def cmd_sweep(args: argparse.Namespace) -> int:
    """Op sweep: an image across an op's whole magnitude range, with the physical values."""
    from augsearch.conventions import get_convention
    from augsearch.viz.draw import save_png
    from augsearch.viz.grid import read_image
    from augsearch.viz.sweep import SWEEP_TILE, sweep_sheet

    if bool(args.op) == args.all:
        raise ConfigError("give one op name or --all")
    convention = get_convention(args.convention)
    names = list(convention.entries) if args.all else [args.op]
    image = read_image(args.image, size=SWEEP_TILE) if args.image else None
    picture = sweep_sheet(names, convention=convention, steps=args.steps, image=image)
    print(save_png(picture, args.out))
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a search's run directory")


@command("report", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    """Search report: RUN_DIR/report.html, self-contained, with its PNGs in RUN_DIR/report/."""
    from augsearch.viz.report import write_report

    print(write_report(args.run_dir))
    return 0
