"""Errors a user can act on: each names the file, the place and the value that is wrong.

The CLI prints any :class:`AugsearchError` as one line and exits with status 2.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any

SHOWN = 100  # characters of a value an error message shows at most
SHOWN_FILE = 4096  # characters of a file name (the usual PATH_MAX: no longer name is a file)


class AugsearchError(Exception):
    """Base class of every error augsearch raises on purpose."""

    @classmethod
    def unknown(cls, what: str, name: Any, known: Sequence[str]) -> AugsearchError:
        """The error for a name no registry holds, listing the names it does."""
        return cls(f"unknown {what} {shown(name)}; known: {', '.join(known)}")


class PolicyError(AugsearchError, ValueError):
    """A policy, spec or policy file is invalid."""

    def __init__(self, message: str, *, file: str | None = None, place: str | None = None,
                 value: Any = ..., line: int | None = None) -> None:
        self.message, self.file, self.place, self.value, self.line = message, file, place, value, line
        super().__init__(self._render())

    @classmethod
    def unknown(cls, what: str, name: Any, known: Sequence[str]) -> PolicyError:
        return cls(f"unknown {what}; known: {', '.join(known)}", value=name)

    def _render(self) -> str:
        where = []
        if self.file:
            file = _cut(self.file, SHOWN_FILE)
            where.append(f"{file}:{self.line}" if self.line else file)
        elif self.line:
            where.append(f"line {self.line}")
        if self.place:
            where.append(_cut(self.place))
        text = ": ".join([*where, self.message])
        if self.value is not ...:
            text += f" (got {shown(self.value)})"
        return text

    def located(self, *, file: str | None = None, place_prefix: str | None = None) -> PolicyError:
        """The same error with a file name and/or an outer place added."""
        place = self.place
        if place_prefix:
            place = f"{place_prefix}.{place}" if place and not place.startswith("[") else f"{place_prefix}{place or ''}"
        return PolicyError(self.message, file=file or self.file, place=place, value=self.value, line=self.line)


class DataError(AugsearchError):
    """A dataset is missing, empty or unreadable."""


class ConfigError(AugsearchError, ValueError):
    """A run configuration or option is invalid."""


class _Short(reprlib.Repr):
    """``reprlib``'s bounded repr; an integer too long to print in decimal shows its size instead."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, SHOWN, SHOWN, SHOWN

    def repr_int(self, x: int, level: int) -> str:
        return super().repr_int(x, level) if x.bit_length() <= 4096 else f"<a {x.bit_length()}-bit integer>"


_SHORT = _Short()


def shown(value: Any) -> str:
    """``repr(value)`` in at most :data:`SHOWN` characters, in time that does not grow with the value:
    a value from a file can be huge, or an alias bomb that expands to billions of items."""
    return _cut(_SHORT.repr(value))


def _cut(text: str, limit: int = SHOWN) -> str:
    """``text`` on one line (a newline in a key or a file name escaped) in at most ``limit`` characters."""
    text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def first_line(err: BaseException) -> str:
    """An exception's message cut to its first line (its type name when it has none), for one-line reports."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
