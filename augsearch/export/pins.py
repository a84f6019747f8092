"""What the exporters share, free of any library: which physical values an op of a convention is
pinned to, and the refusals that do not depend on the library's transforms.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from augsearch.conventions import Convention
from augsearch.errors import PolicyError
from augsearch.policy import PolicyData

Pin = tuple[float | None, bool]  # the physical parameter, and whether it is a fraction of the image side


def op_pins(convention: Convention, name: str, magnitude: float | None, *, target: str,
            mapped: Collection[str], refused: Mapping[str, str]) -> tuple[str, list[Pin]]:
    """Op ``name`` of ``convention`` at ``magnitude``: augsearch's op and its distinct pins, the
    un-negated one first and, for a signed op, the negated one unless it is the same.

    Relative ranges stay fractions of the image side (:meth:`Convention.fraction`), for the library
    to scale to each image; ``mapped`` are the ops ``target`` has a transform for, ``refused`` maps
    those it has no equivalent for to the reason (an op registered later may be in neither).
    """
    entry = convention.entry(name)
    if entry.op in refused:
        raise PolicyError(f"{name} cannot be exported to {target}: {refused[entry.op]}", value=name)
    if entry.op not in mapped:
        raise PolicyError(f"{name} cannot be exported to {target}: its exporter maps no transform to "
                          f"augsearch's {entry.op}", value=name)
    r = entry.range
    signs = (False, True) if r is not None and r.signed else (False,)
    if r is not None and r.relative:
        found = ((convention.fraction(name, magnitude, negate=s), True) for s in signs)
    else:  # size: unused by ranges that are not relative
        found = ((convention.value(name, magnitude, size=(1, 1), negate=s), False) for s in signs)
    return entry.op, list(dict.fromkeys(found))


def refuse_noise(std: float, kind: str, target: str) -> None:
    """Magnitude noise draws a magnitude per image, which a pinned transform cannot express."""
    if std:
        raise PolicyError(f"magnitude noise cannot be pinned: a {kind} with magnitude_std cannot be exported to "
                          f"{target}", place="magnitude_std", value=std)


def schedule_refused(schedule: PolicyData, target: str) -> PolicyError:
    """A schedule's policy follows the training epoch (``set_epoch``); an exported pipeline has no epoch."""
    return PolicyError(f"a {schedule.kind} changes its policy with the training epoch, which an exported {target} "
                       "pipeline cannot follow: use the Schedule itself as the per-image transform and call "
                       "set_epoch(epoch) at each epoch start", value=schedule.kind)


def unsupported(policy: object, target: str) -> PolicyError:
    """The refusal the exporters' dispatch falls back to: a policy kind ``target`` has no exporter
    registered for, or something that is no policy at all."""
    if isinstance(policy, PolicyData):
        return PolicyError(f"{type(policy).__name__} cannot be exported to {target}")
    return PolicyError("expected an augsearch policy", value=type(policy).__name__)
