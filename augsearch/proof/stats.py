"""The arithmetic of a verdict: means with Student-t confidence intervals, and paired differences
over the same seeds. A verdict comes from the interval, never from the mean alone."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scipy import stats as scipy_stats

LEVEL = 0.95
BETTER, WORSE, UNCLEAR = "better", "worse", "not distinguishable at this budget"


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` values with its sample standard deviation and its two-sided interval
    (``None`` bounds with fewer than two values: one run says nothing about the spread)."""

    mean: float
    std: float | None
    n: int
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def estimate(values: Sequence[float], *, level: float = LEVEL) -> Estimate:
    """Mean, standard deviation and the Student-t interval of ``values``."""
    if not values:
        raise ValueError("no values to estimate from")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, None, len(values), None, None)
    std = statistics.stdev(values)
    half = scipy_stats.t.ppf(0.5 + level / 2, len(values) - 1) * std / math.sqrt(len(values))
    return Estimate(mean, std, len(values), mean - half, mean + half)


def paired(treated: dict[int, float], control: dict[int, float], *, level: float = LEVEL) -> Estimate:
    """The difference ``treated - control`` over the seeds both have, as an :class:`Estimate`."""
    seeds = sorted(set(treated) & set(control))
    return estimate([treated[s] - control[s] for s in seeds], level=level)


def verdict(difference: Estimate) -> str:
    """``better`` when the whole interval of the difference is above 0, ``worse`` when below,
    else not distinguishable at this budget (including when there is no interval)."""
    if difference.low is not None and difference.low > 0:
        return BETTER
    if difference.high is not None and difference.high < 0:
        return WORSE
    return UNCLEAR


def seeds_needed(std: float, difference: float, *, level: float = LEVEL, most: int = 1000) -> int | None:
    """The fewest seeds whose interval, at a spread ``std`` of the paired differences, is narrower
    than ``difference``: what a true difference of that size needs to be told from none (``None``
    past ``most``, or for no difference at all)."""
    if difference == 0:
        return None
    for n in range(2, most + 1):
        if scipy_stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n) < abs(difference):
            return n
    return None
