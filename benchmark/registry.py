"""One small registry used for models, datasets, metrics and profiles.

Names are unique (registering a name twice is an error) and a lookup of an unknown name says which
names exist and which one was probably meant. A registry can also be filled lazily (``lazy``): models that
installed packages advertise as entry points are loaded at the first lookup of a name not registered yet,
or at the first listing, not at import.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from langgan_bench.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loader: Callable[[], dict[str, str]] | None = None
        self._loaded = True
        #: names a lazy loader knows but could not load -> the one-line reason (shown by a lookup, and listed)
        self._broken: dict[str, str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register("mle")`` stores the decorated object under ``name``."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def lazy(self, loader: Callable[[], dict[str, str]]) -> None:
        """Call ``loader`` once, before the first lookup of a name not registered yet or the first listing. It
        registers what it finds and returns, for each name it could not load, the one-line reason why."""
        self._loader, self._loaded = loader, False

    def _load(self) -> None:
        if not self._loaded and self._loader is not None:
            self._loaded = True  # first: the loader itself may look names up
            self._broken.update(self._loader())

    def broken(self) -> dict[str, str]:
        """Names the lazy loader found but could not load -> why (for listings; a plugin that clashes with a
        registered name is listed too, while the name keeps meaning what it meant)."""
        self._load()
        return dict(sorted(self._broken.items()))

    def get(self, name: str) -> T:
        if name not in self._items:
            self._load()
        try:
            return self._items[name]
        except KeyError:
            if name in self._broken:
                raise UserError(self._broken[name]) from None
            raise UserError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = ", ".join(sorted(self._items)) or "none"
        close = difflib.get_close_matches(name, list(self._items), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; known: {known}"

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)
