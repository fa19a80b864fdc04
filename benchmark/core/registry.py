"""One small registry used for models, datasets, metrics and profiles.

Names are unique (registering a name twice is an error) and a lookup of an unknown name says which names
exist and which one was probably meant. Two kinds of laziness keep ``langgan-bench list`` and ``--help`` from
importing torch:

- ``add_lazy(name, "package.module:Attribute", summary)``: the object is imported at its first lookup, while
  its name and one-line summary are known at once (the built-in models);
- ``lazy(loader)``: a loader that finds more names (installed packages' entry points) runs at the first
  lookup of a name not registered yet, or at the first listing.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from langgan_bench.core.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping, filled by ``add``, the ``register`` decorator or ``add_lazy``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        #: name -> ("module:attribute", one-line summary) of the objects not imported yet
        self._lazy: dict[str, tuple[str, str]] = {}
        self._loader: Callable[[], dict[str, str]] | None = None
        self._loaded = True
        #: names a lazy loader knows but could not load -> the one-line reason (shown by a lookup, and listed)
        self._broken: dict[str, str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@PROFILES.register("tiny")`` stores the decorated object under ``name``."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def add_lazy(self, name: str, target: str, summary: str) -> None:
        """Register ``name`` as ``target`` ("package.module:Attribute"), imported at its first lookup."""
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._lazy[name] = (target, summary)

    def lazy(self, loader: Callable[[], dict[str, str]]) -> None:
        """Call ``loader`` once, before the first lookup of a name not registered yet or the first listing. It
        registers what it finds and returns, for each name it could not load, the one-line reason why."""
        self._loader, self._loaded = loader, False

    def _load(self) -> None:
        if not self._loaded and self._loader is not None:
            self._loaded = True  # first: the loader itself may look names up
            self._broken.update(self._loader())

    def _import(self, name: str) -> T:
        target, _ = self._lazy[name]
        module, _, attr = target.partition(":")
        obj: T = getattr(importlib.import_module(module), attr)
        del self._lazy[name]
        self._items[name] = obj
        return obj

    def broken(self) -> dict[str, str]:
        """Names the lazy loader found but could not load -> why (for listings; a plugin that clashes with a
        registered name is listed too, while the name keeps meaning what it meant)."""
        self._load()
        return dict(sorted(self._broken.items()))

    def get(self, name: str) -> T:
        if name in self._lazy:
            return self._import(name)
        if name not in self._items:
            self._load()
        try:
            return self._items[name]
        except KeyError:
            if name in self._broken:
                raise UserError(self._broken[name]) from None
            raise UserError(self.unknown_message(name)) from None

    def deferred(self, name: str) -> bool:
        """Whether ``name`` was registered by ``add_lazy`` and is not imported yet."""
        return name in self._lazy

    def summary(self, name: str) -> str:
        """The one-line summary of ``name``: given to ``add_lazy`` (nothing is imported), else the first line of
        the object's docstring."""
        if name in self._lazy:
            return self._lazy[name][1]
        return next(iter((self.get(name).__doc__ or "").strip().splitlines()), "")

    def unknown_message(self, name: str) -> str:
        names = self._all()
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; known: {', '.join(names) or 'none'}"

    def _all(self) -> list[str]:
        return sorted({*self._items, *self._lazy})

    def names(self) -> list[str]:
        self._load()
        return self._all()

    def __contains__(self, name: object) -> bool:
        if name not in self._items and name not in self._lazy:
            self._load()
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
