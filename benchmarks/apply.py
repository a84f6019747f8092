"""How many images per second augsearch's policies augment, beside torchvision, timm and albumentations.

One run measures, for each device, thread count, image size and method, augsearch's batched path
(a uint8 batch, a plan drawn per image), augsearch per image (PIL and uint8 tensor) and the peers
configured to do the same policy: torchvision v2 per image and on a whole batch (its batch path
draws once per batch), albumentations per image (augsearch's own export of the policy), timm per
image (against augsearch loading the same timm string). Missing peers are skipped with a note;
nothing here imports optuna, ray or albumentations unless they are installed.

    PYTHONPATH=. python benchmarks/apply.py --quick
    PYTHONPATH=. python benchmarks/apply.py --device cuda --quick --json gpu.json
    PYTHONPATH=. python benchmarks/apply.py --sizes 224 --methods autoaugment,randaugment --threads 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

import augsearch
from augsearch.errors import AugsearchError

METHODS = ("autoaugment", "randaugment", "trivialaugment", "augmix", "cutout", "mixup")
SPECS = {  # augsearch's policy for each method, and the peers' configuration of the same policy
    "autoaugment": "autoaugment/cifar10",
    "randaugment": "randaugment/torchvision",
    "trivialaugment": "trivialaugment/wide",
    "augmix": "augmix:severity=3",
    "cutout": "cutout/cifar10",
}
TIMM_SPECS = {"autoaugment": "original", "randaugment": "rand-m9-n2-mstd0", "augmix": "augmix-m3-w3"}


@dataclass
class Row:
    device: str
    threads: int
    size: int
    method: str
    impl: str
    images_per_s: float
    reference: str  # the augsearch row this one is compared with
    note: str = ""


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def rate(fn: Callable[[], int], *, seconds: float, device: str, windows: int = 5) -> float:
    """Images per second of ``fn`` (which returns how many images it did): the best of ``windows`` windows
    that share ``seconds``, after warming up for a fifth of ``seconds`` (at least one call), so that every
    row meets warm allocator pools and caches alike. The best window, as timeit takes the best repeat: on a
    shared 2-core machine a single window of a row dipped by up to half while the next was whole."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    start = time.perf_counter()
    while True:
        fn()
        sync()
        if time.perf_counter() - start >= seconds / 5:
            break
    best = 0.0
    for _ in range(windows):
        done, start = 0, time.perf_counter()
        while True:
            done += fn()
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / windows:
                break
        best = max(best, done / elapsed)
    return best


def torchvision_peer(method: str, size: int) -> v2.Transform:
    if method == "autoaugment":
        return v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
    if method == "randaugment":
        return v2.RandAugment(num_ops=2, magnitude=9)
    if method == "trivialaugment":
        return v2.TrivialAugmentWide()
    if method == "augmix":
        return v2.AugMix(severity=3, mixture_width=3, chain_depth=-1, alpha=1.0)
    # Cutout: a 16 px square of the fill colour; RandomErasing keeps it inside the image (no clipping)
    return v2.RandomErasing(p=1.0, scale=(256 / size**2,) * 2, ratio=(1.0, 1.0), value=[125, 123, 114])


def measure(device: str, threads: int, size: int, method: str, *, batch: int, per_image: int,
            seconds: float, notes: list[str]) -> list[Row]:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen).to(device)
    few = images[:per_image]
    rows: list[Row] = []

    def add(impl: str, fn: Callable[[], int], reference: str = "augsearch batched", note: str = "") -> None:
        try:
            rows.append(Row(device, threads, size, method, impl, rate(fn, seconds=seconds, device=device),
                            reference, note))
        except (AugsearchError, RuntimeError, TypeError, ValueError) as err:
            notes.append(f"{device}/{threads}t/{size}px/{method}/{impl}: skipped ({type(err).__name__}: {err})")

    if method == "mixup":
        labels = torch.randint(0, 10, (batch,), generator=gen).to(device)
        mix = augsearch.Mixup(1.0, num_classes=10)
        add("augsearch batched", lambda: len(mix(images, labels)[0]))
        tv_mix = v2.MixUp(alpha=1.0, num_classes=10)
        add("torchvision v2 batch", lambda: len(tv_mix(images.float(), labels)[0]), note="float32 images")
        if has("timm"):
            from timm.data import Mixup as TimmMixup
            timm_mix = TimmMixup(mixup_alpha=1.0, num_classes=10, mode="elem", label_smoothing=0.0)
            batch_even = images[: len(images) // 2 * 2]
            add("timm per image (elem)", lambda: len(timm_mix(batch_even.float(), labels[: len(batch_even)])[0]),
                note="float32 images")
        return rows

    policy = augsearch.load_policy(SPECS[method])
    add("augsearch batched", lambda: len(policy(images)))
    add("augsearch per image (tensor)", lambda: len([policy(x) for x in few]))
    tv = torchvision_peer(method, size)
    add("torchvision v2 per image", lambda: len([tv(x) for x in few]))
    add("torchvision v2 batch", lambda: len(tv(images)), note="one draw per batch")
    if device == "cpu":
        pil = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in few.cpu()]
        add("augsearch per image (PIL)", lambda: len([policy(x) for x in pil]))
        arrays = [np.ascontiguousarray(x.permute(1, 2, 0).numpy()) for x in few.cpu()]
        if not has("albumentations"):
            notes.append("albumentations is not installed: its rows are skipped")
        elif method == "augmix":
            notes.append("albumentations has no AugMix: skipped")
        else:
            from augsearch.export.albumentations import to_albumentations
            try:
                alb = to_albumentations(policy)
            except AugsearchError as err:
                notes.append(f"albumentations: {method} not exported ({err})")
            else:
                add("albumentations per image", lambda: len([alb(image=a)["image"] for a in arrays]),
                    note="augsearch's export of the same policy")
        if not has("timm"):
            notes.append("timm is not installed: its rows are skipped")
        elif method in TIMM_SPECS:
            from timm.data.auto_augment import (
                augment_and_mix_transform,
                auto_augment_transform,
                rand_augment_transform,
            )
            spec = TIMM_SPECS[method]
            hparams = {"translate_const": int(size * 0.45), "img_mean": (128, 128, 128)}
            make = {"autoaugment": auto_augment_transform, "randaugment": rand_augment_transform,
                    "augmix": augment_and_mix_transform}[method]
            timm_aug = make(spec, hparams)
            same = augsearch.load_policy(spec)
            add(f"augsearch batched ({spec})", lambda: len(same(images)), reference="")
            add(f"timm per image ({spec})", lambda: len([timm_aug(x) for x in pil]),
                reference=f"augsearch batched ({spec})")
    return rows


def table(rows: list[Row]) -> str:
    by_key = {(r.device, r.threads, r.size, r.method, r.impl): r.images_per_s for r in rows}
    lines = ["| device | threads | size | method | implementation | images/s | augsearch batched / this |",
             "|---|---|---|---|---|---:|---:|"]
    for r in rows:
        ref = by_key.get((r.device, r.threads, r.size, r.method, r.reference))
        ratio = "" if not r.reference or r.reference == r.impl or not ref else f"{ref / r.images_per_s:.2f}x"
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.device} | {r.threads} | {r.size} | {r.method} | {r.impl}{note} | "
                     f"{r.images_per_s:,.0f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="cpu")
    parser.add_argument("--sizes", default="32,224", help="image sides, comma-separated")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"some of {', '.join(METHODS)}")
    parser.add_argument("--threads", default="1,all", help="torch thread counts for the CPU: 1, all or both")
    parser.add_argument("--quick", action="store_true", help="shorter timings and batches (about a minute a device)")
    parser.add_argument("--seconds", type=float, default=None, help="time per measurement (default 1.0, quick 0.3)")
    parser.add_argument("--batch", type=int, help="images per batch (default: 16384 at 32 px and 1024 at 224 px "
                        "on a GPU; on a CPU 1024 and 128, quick 256 and 32)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    seconds = args.seconds or (0.3 if args.quick else 1.0)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    notes: list[str] = []
    if "cuda" in devices and not torch.cuda.is_available():
        notes.append("CUDA is not available: the cuda rows are skipped")
        devices = [d for d in devices if d != "cuda"]
    all_threads = os.cpu_count() or 1
    rows: list[Row] = []
    for device in devices:
        counts = [1 if t == "1" else all_threads for t in args.threads.split(",")] if device == "cpu" else [
            torch.get_num_threads()]
        for threads in dict.fromkeys(counts):
            torch.set_num_threads(threads)
            if has("cv2"):
                import cv2
                cv2.setNumThreads(threads)
            for size in sizes:
                small = size <= 64
                if args.batch:
                    batch = args.batch
                elif device == "cuda":
                    batch = 16384 if small else 1024
                else:
                    batch = (256 if small else 32) if args.quick else (1024 if small else 128)
                per_image = min(batch, 128 if small else 16) if args.quick else min(batch, 512 if small else 64)
                for method in methods:
                    rows += measure(device, threads, size, method, batch=batch, per_image=per_image,
                                    seconds=seconds, notes=notes)
                    print(f"measured {device} {threads}t {size}px {method}", flush=True)
    print()
    print(table(rows))
    notes = list(dict.fromkeys(notes))
    for note in notes:
        print(f"note: {note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "rows": [asdict(r) for r in rows], "notes": notes}, f, indent=1)


if __name__ == "__main__":
    main()
