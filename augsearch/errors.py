"""Errors a user can act on: each names the file, the place and the value that is wrong.

The CLI prints any :class:`AugsearchError` as one line and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AugsearchError(Exception):
    """Base class of every error augsearch raises on purpose."""

    @classmethod
    def unknown(cls, what: str, name: Any, known: Sequence[str]) -> AugsearchError:
        """The error for a name no registry holds, listing the names it does."""
        return cls(f"unknown {what} {name!r}; known: {', '.join(known)}")


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
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        elif self.line:
            where.append(f"line {self.line}")
        if self.place:
            where.append(self.place)
        text = ": ".join([*where, self.message])
        if self.value is not ...:
            text += f" (got {self.value!r})"
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


def first_line(err: BaseException) -> str:
    """An exception's message cut to its first line (its type name when it has none), for one-line reports."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
