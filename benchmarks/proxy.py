"""What scoring one candidate policy costs, beside a bare PyTorch inference loop on the same model and images.

Density matching scores a candidate by augmenting D_A ``draws`` times and running the proxy on each
copy. This times, on one model and one set of images: a plain loop (``model.eval()``, inference
mode, ``model(x.float() / 255)``, argmax; channels_last and not; at the batch size ``evaluate`` picks
for the device and at 512) over the already augmented copies; augsearch's ``trainer.evaluate`` on the
same copies; and the whole candidate as the search scores it (``search.objectives.score_policy``:
drawing, augmenting and inference). The target is a cost per candidate within 1.2x of the bare
loop's inference at the same batch size.

    PYTHONPATH=. python benchmarks/proxy.py                           # digits, small-cnn, CPU
    PYTHONPATH=. python benchmarks/proxy.py --synthetic 32 --images 8192 --device cuda --model resnet20

``score_policy`` lives in augsearch.search, which needs optuna; where optuna is missing (a bare GPU
machine) its row is skipped with a note and the other rows still run.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import time
from collections.abc import Callable

import torch

from augsearch import load_policy
from augsearch.data import ImageSet, load_dataset
from augsearch.models import build_model
from augsearch.policy import augmented_draws
from augsearch.trainer import eval_batch_size, evaluate


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Seconds per call of ``fn``, the best of ``repeats`` after a warm-up call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="a dataset spec (default: the embedded digits)")
    parser.add_argument("--synthetic", type=int, metavar="SIZE", help="random uint8 images of this side instead")
    parser.add_argument("--images", type=int, default=4096, help="how many synthetic images")
    parser.add_argument("--model", default="small-cnn")
    parser.add_argument("--policy", default="fast-aa/reduced-cifar10", help="the candidate scored")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (one split task's share)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.synthetic:
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (args.images, 3, args.synthetic, args.synthetic), dtype=torch.uint8,
                               generator=gen)
        labels = torch.randint(0, 10, (args.images,), generator=gen)
        classes, name = 10, f"synthetic {args.synthetic}x{args.synthetic}"
    else:
        data = load_dataset(args.dataset)
        images, labels, classes, name = data.images, data.labels, len(data.classes), args.dataset
    images, labels = images.to(device), labels.to(device)
    model = build_model(args.model, num_classes=classes, image_size=images.shape[-1], seed=0).to(device).eval()
    policy = load_policy(args.policy)
    gen = torch.Generator(device=device).manual_seed(0)
    augmented = [policy(images, generator=gen) for _ in range(args.draws)]  # the views the inference rows score
    n = len(images) * args.draws
    print(f"{name}: {len(images)} images x {args.draws} draws, {args.model} on {device}, "
          f"{torch.get_num_threads()} CPU threads, policy {args.policy}")

    batch_size = eval_batch_size(device, images.shape[-2:])

    def bare(model: torch.nn.Module, memory_format: torch.memory_format, size: int = batch_size
             ) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                for views in augmented:
                    for batch in views.split(size):
                        model((batch.float() / 255).contiguous(memory_format=memory_format)).argmax(1)
        return run

    def augsearch_inference() -> None:
        for views in augmented:
            evaluate(model, views, labels, device=device)

    def augment_only() -> None:
        g = torch.Generator(device=device).manual_seed(0)
        for _ in augmented_draws(policy, images, draws=args.draws, generator=g):  # as score_policy augments
            pass

    plain = copy.deepcopy(model)
    model.to(memory_format=torch.channels_last)  # as evaluate does; the stronger bare loop
    rows = [(f"bare PyTorch inference loop, channels_last, batches of {batch_size}",
             timed(bare(model, torch.channels_last), device, args.repeats)),
            ("bare PyTorch inference loop, default memory format",
             timed(bare(plain, torch.contiguous_format), device, args.repeats))]
    if batch_size != 512:
        rows.append(("bare PyTorch inference loop, channels_last, batches of 512",
                     timed(bare(model, torch.channels_last, 512), device, args.repeats)))
    rows += [("augsearch trainer.evaluate (inference only)", timed(augsearch_inference, device, args.repeats)),
             ("augsearch augmenting only (draws x policy(batch))", timed(augment_only, device, args.repeats))]
    if importlib.util.find_spec("optuna") is None:
        print("note: optuna is not installed, so augsearch.search (score_policy) is not importable: its row is skipped")
    else:
        from augsearch.search.objectives import score_policy
        holdout = ImageSet(images, labels, [str(i) for i in range(classes)], name)
        rows.append(("augsearch score_policy (one candidate: augment + inference)", timed(
            lambda: score_policy(policy, model, holdout, draws=args.draws, rule="best-of-k", seed=0, device=device),
            device, args.repeats)))
    base = rows[0][1]
    print("\n| what | seconds per candidate | images/s | / bare inference |\n|---|---:|---:|---:|")
    for what, seconds in rows:
        print(f"| {what} | {seconds:.4f} | {n / seconds:,.0f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
