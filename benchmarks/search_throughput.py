"""How fast the search scores candidate policies, and what augsearch adds beyond the proxy's
own inference.

For each dataset: train one proxy on D_M (a few epochs; its accuracy does not matter here),
then score random candidates of the fast-aa space on D_A exactly as ``augsearch run`` does,
and report policies scored per second per split, the seconds per policy spent augmenting
versus in inference, and the augmentation throughput next to torchvision's per-image
AutoAugment on the same images (the peer, measured in the same run).

    python benchmarks/search_throughput.py                      # the embedded digits
    python benchmarks/search_throughput.py --dataset folder:../shared/data/reduced-cifar10/train
"""

from __future__ import annotations

import argparse
import time

import optuna
import torch
from torchvision.transforms import v2

from augsearch import load_policy
from augsearch.data import load_dataset, stratified_splits
from augsearch.models import build_model
from augsearch.registry import build
from augsearch.search.objectives import score_policy
from augsearch.search.spaces import SPACES
from augsearch.trainer import train_proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", help="dataset(s) to measure (default: digits)")
    parser.add_argument("--policies", type=int, default=20, help="candidates to score per dataset")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one split task's share)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"torch threads: {args.threads}; draws per candidate: {args.draws}")
    for name in args.dataset or ["digits"]:
        measure(name, policies=args.policies, draws=args.draws)


def measure(name: str, *, policies: int, draws: int) -> None:
    data = load_dataset(name)
    dm, da = stratified_splits(data.labels, n_splits=1, seed=0)[0]
    model_data, holdout = data.subset(dm), data.subset(da)
    model = build_model("small-cnn", num_classes=len(data.classes), image_size=data.images.shape[-1], seed=0)
    start = time.perf_counter()
    train_proxy(model, model_data, epochs=2, batch_size=128, lr=0.05)
    train_seconds = time.perf_counter() - start

    space = build(SPACES.get("fast-aa"), {"num_sub_policies": 5, "num_ops": 2})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    results = []
    start = time.perf_counter()
    for i in range(policies):
        candidate = space.candidate(study.ask(space.distributions()).params)
        results.append(score_policy(candidate, model, holdout, draws=draws, rule="best-of-k", seed=i, device="cpu"))
    wall = time.perf_counter() - start
    augment = sum(r["augment_seconds"] for r in results) / policies
    inference = sum(r["inference_seconds"] for r in results) / policies
    per_policy = wall / policies
    images = len(holdout) * draws
    print(f"\n{name}: {len(data)} images {tuple(data.images.shape[1:])}, D_A {len(holdout)}, "
          f"proxy trained 2 epochs in {train_seconds:.1f} s")
    print(f"  policies scored per second per split: {1 / per_policy:.2f} ({per_policy:.3f} s each, "
          f"{images} augmented images)")
    print(f"  per policy: inference {inference:.3f} s, augmentation {augment:.3f} s, other "
          f"{per_policy - inference - augment:.3f} s -> overhead beyond inference {per_policy - inference:.3f} s "
          f"({(per_policy - inference) / per_policy:.0%})")
    peer(holdout.images)


def peer(images: torch.Tensor, repeats: int = 3) -> None:
    """The AutoAugment CIFAR-10 policy on a uint8 batch: augsearch (one plan per image, applied
    op by op on the batch) against torchvision v2 AutoAugment called per image."""
    ours = load_policy("autoaugment/cifar10")
    theirs = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
    ours(images)
    timings = {}
    for label, fn in (("augsearch batch", lambda: ours(images)),
                      ("torchvision per image", lambda: torch.stack([theirs(x) for x in images]))):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        timings[label] = (time.perf_counter() - start) / repeats
    rate = {k: len(images) / v for k, v in timings.items()}
    print(f"  AutoAugment CIFAR-10 policy on {len(images)} images: augsearch {rate['augsearch batch']:.0f} img/s, "
          f"torchvision v2 {rate['torchvision per image']:.0f} img/s, ratio "
          f"{rate['augsearch batch'] / rate['torchvision per image']:.2f}x")


if __name__ == "__main__":
    main()
