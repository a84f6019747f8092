"""What early stopping would have done to a trained search that ran every candidate to the end.

Reads a run directory whose candidates all trained the full ``epochs`` (``--grace-epochs`` equal to
``--epochs``: no early stopping) and replays, for a first rung at each share of the training, the
rule of augsearch's successive halving (:class:`augsearch.search.trained.Halving`, Ray Tune's ASHA)
in trial order: whether it would have stopped the candidate that won at the end, how many
candidates it would have stopped and the epochs it would have saved, and how the order at the rung
agrees with the final order (Spearman's rho).

    python experiments/asha_rungs.py RUN_DIR [--reduction 3]
"""

from __future__ import annotations

import argparse
import math

from scipy import stats

from augsearch.search.config import load_run_config
from augsearch.search.rundir import RunDir
from augsearch.search.trained import Halving, epoch_key

SHARES = (1 / 16, 1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--reduction", type=float, default=3.0)
    args = parser.parse_args()
    epochs = load_run_config(args.run_dir).epochs
    trials = sorted((t for t in RunDir(args.run_dir).trials() if t.ok), key=lambda t: (t.split, t.repeat, t.trial))
    complete = [t for t in trials if epoch_key(epochs) in t.metrics]
    if len(complete) < len(trials) or not complete:
        raise SystemExit(f"{args.run_dir}: {len(trials) - len(complete)} of {len(trials)} candidates did not train "
                         f"all {epochs} epochs; replay needs a search without early stopping")
    final = [t.metrics[epoch_key(epochs)] for t in complete]
    winner = max(range(len(complete)), key=lambda i: (final[i], -i))
    print(f"{len(complete)} candidates, {epochs} epochs; the winner is trial {complete[winner].trial} "
          f"({final[winner]:.4f}); reduction {args.reduction:g}")
    print("| first rung (epoch) | rungs | winner kept | stopped | epochs saved | Spearman rho, rung vs final |")
    print("|---|---|---|---|---|---|")
    for share in SHARES:
        grace = max(1, math.floor(share * epochs))
        halving = Halving(epochs, grace, args.reduction)
        stopped_at = {}
        for i, t in enumerate(complete):
            for epoch in sorted(halving.rungs):
                if halving.report(epoch, {"score": t.metrics[epoch_key(epoch)]}):
                    stopped_at[i] = epoch
                    break
        saved = sum(epochs - e for e in stopped_at.values())
        rho = stats.spearmanr([t.metrics[epoch_key(grace)] for t in complete], final).statistic
        print(f"| {share:.3g} ({grace}) | {', '.join(map(str, sorted(halving.rungs)))} | "
              f"{'yes' if winner not in stopped_at else 'NO, at epoch ' + str(stopped_at[winner])} | "
              f"{len(stopped_at)} of {len(complete)} | {saved} of {epochs * len(complete)} | {rho:+.2f} |")


if __name__ == "__main__":
    main()
