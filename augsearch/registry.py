"""Named things, one registry type for all of them: ops, conventions, policy kinds, search spaces,
objectives, engines, models, datasets, commands and exporters.

Adding one is one decorated definition; ``names()`` feeds ``--help`` choices, error messages and
the README, so no list of names is written down twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar, overload

from augsearch.errors import AugsearchError, ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in registration order; ``get`` of an unknown name raises ``error`` with
    the known names, so every lookup gives the same one-line message."""

    def __init__(self, what: str, *, error: type[AugsearchError] = ConfigError) -> None:
        self.what = what
        self.error = error
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name, entry=None):
        """Add ``entry`` as ``name``; without ``entry``, a decorator that adds what it decorates."""
        if entry is None:
            return lambda obj: self.register(name, obj)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.what} name must be non-empty text, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered twice")  # a bug in the code, not user input
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that replace an entry)."""
        del self._entries[name]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.error.unknown(self.what, name, self.names()) from None

    def resolve(self, name: str) -> tuple[T, str | None]:
        """The entry for ``name`` and its argument: ``timm:resnet50`` finds the entry registered as
        ``timm:NAME`` with argument ``resnet50``; a plain name is looked up as it is."""
        if isinstance(name, str) and name not in self._entries and ":" in name:
            family, _, argument = name.partition(":")
            for key, entry in self._entries.items():
                if key.partition(":")[0] == family and ":" in key:
                    if not argument:
                        raise self.error(f"{name} needs a {key.partition(':')[2].lower()}, as in {key}")
                    return entry, argument
        return self.get(name), None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> list[T]:
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"


def build(factory: Callable[..., T], options: Mapping[str, object]) -> T:
    """Call ``factory`` with the ``options`` its signature names (its keyword-only arguments), so
    each part of a run takes the few options it uses, not the whole configuration."""
    wanted = inspect.signature(factory).parameters
    return factory(**{name: options[name] for name in wanted if name in options})
