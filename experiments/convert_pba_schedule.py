"""Convert a published PBA schedule (arcelien/pba ``schedules/*.txt``) into an augsearch policy file.

This made the bundled ``augsearch/policies/pba/*.yaml``:

    python experiments/convert_pba_schedule.py ../shared/reference/published-policies/pba-reduced-cifar10-schedule.txt \
        augsearch/policies/pba/reduced-cifar10.yaml --epochs 200 --fill 125 123 114 \
        --source "arcelien/pba schedules/rcifar10_16_wrn.txt (Ho et al. 2019), searched over 200 epochs; \
published (PBA README): Reduced CIFAR-10, WRN-28-10, 12.82% test error"
    python experiments/convert_pba_schedule.py ../shared/reference/published-policies/pba-reduced-svhn-schedule.txt \
        augsearch/policies/pba/reduced-svhn.yaml --epochs 160 --fill 115 116 123 \
        --source "arcelien/pba schedules/rsvhn_16_wrn.txt (Ho et al. 2019), searched over 160 epochs; \
published (PBA README): Reduced SVHN, WRN-28-10, 7.83% test error"

The published result goes into ``source``, so that a re-saved file is the same text. The fills are
PBA's dataset means (``MEANS['cifar10_4000']``, ``MEANS['svhn_1000']``) x 255, the colour that PBA's
uncovered and Cutout pixels end up with.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from augsearch.schedule import read_pba_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", type=Path, help="PBA schedule text, one Python literal list per line")
    p.add_argument("out", type=Path, help="policy file to write (.yaml or .json)")
    p.add_argument("--epochs", type=int, required=True, help="epochs the search ran (the schedule's length)")
    p.add_argument("--fill", type=int, nargs=3, default=[125, 123, 114], help="fill colour (R G B)")
    p.add_argument("--source", required=True, help="where the schedule comes from")
    args = p.parse_args()
    schedule = read_pba_log(args.log, epochs=args.epochs, source=args.source, fill=tuple(args.fill))
    schedule.save(args.out)
    print(f"{args.out}: {schedule!r}")


if __name__ == "__main__":
    main()
