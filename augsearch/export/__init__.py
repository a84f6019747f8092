"""Exporters: augsearch policies as other libraries' transforms.

What every exporter that pins magnitudes shares, free of any library: which physical values an op
of a convention is pinned to, and the refusals that do not depend on the library's transforms.
"""

from __future__ import annotations

from collections.abc import Mapping

from augsearch.conventions import Convention
from augsearch.errors import PolicyError

Pin = tuple[float | None, bool]  # the physical parameter, and whether it is a fraction of the image side


def op_pins(convention: Convention, name: str, magnitude: float | None, *, target: str,
         refused: Mapping[str, str]) -> tuple[str, list[Pin]]:
    """Op ``name`` of ``convention`` at ``magnitude``: augsearch's op and its distinct pins, the
    un-negated one first and, for a signed op, the negated one unless it is the same.

    Relative ranges stay fractions of the image side (:meth:`Convention.fraction`), for the library
    to scale to each image; ``refused`` maps the ops ``target`` has no equivalent for to the reason.
    """
    entry = convention.entry(name)
    if entry.op in refused:
        raise PolicyError(f"{name} cannot be exported to {target}: {refused[entry.op]}", value=name)
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
