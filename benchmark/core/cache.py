"""The per-user cache, and the one way anything is cached in it: under a file lock, load the entry, or build it.

Everything costly that does not depend on a run is cached by a key of what determines it (the synthetic
splits, the oracle's reference rows, judge LMs, FED's reference statistics, shared pre-trainings). A damaged
entry (truncated, corrupted, crafted: ``Damaged``) is rebuilt with a one-line warning, never used; two
processes that need one entry at once (the bench's Dask workers) build it once, the second waiting on the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from langgan_bench.core.errors import Damaged

T = TypeVar("T")
LOG = logging.getLogger(__name__)

ENV_CACHE = "LANGGAN_CACHE"  # where downloads, generated synthetic data and the entries below are kept


def cache_dir() -> Path:
    """The per-user cache (``LANGGAN_CACHE`` overrides the platform default)."""
    raw = os.environ.get(ENV_CACHE)
    if raw:
        return Path(raw).expanduser()
    import pooch  # (the platform's cache folder; imported here: it costs a tenth of a second)

    return Path(pooch.os_cache("langgan-bench"))


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True, waiting: Callable[[], None] | None = None) -> Iterator[IO[str]]:
    """An exclusive lock on the file ``path`` (created with its folder if needed) for the block, yielding the
    open file. When another process holds it: ``waiting()`` is called and the lock awaited, or with
    ``wait=False`` BlockingIOError is raised at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            if waiting is not None:
                waiting()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_or_build(
    path: Path,
    load: Callable[[Path], T],
    build: Callable[[], T],
    *,
    then: str = "rebuilding it",
    waiting: Callable[[], None] | None = None,
) -> T:
    """Under an exclusive lock on ``<path>.lock``: ``load(path)``, or when the file is missing or ``Damaged``
    (a one-line warning "cached ... is damaged (...); <then>", the file removed) ``build()``, which writes the
    new entry itself, atomically. ``waiting()`` is called when another process holds the lock."""
    with file_lock(path.with_suffix(".lock"), waiting=waiting):
        if path.is_file():
            try:
                return load(path)
            except Damaged as e:
                LOG.warning("cached %s; %s", e, then)
                path.unlink(missing_ok=True)
        return build()
