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

from langgan_bench.core.errors import Damaged, MachineFault
from langgan_bench.core.files import FILE_MODE, writing

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
    ``wait=False`` BlockingIOError is raised at once. A lock file the system refuses is a ``MachineFault``."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        f = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "a")
    with f:
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


@contextlib.contextmanager
def _entry_lock(path: Path, waiting: Callable[[], None] | None) -> Iterator[None]:
    """``file_lock`` for a cache entry; where the cache refuses the lock file (read-only, full), one warning
    and the block runs unlocked (at worst two processes build the same entry)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(file_lock(path, waiting=waiting))
        except MachineFault as e:
            LOG.warning("%s; going on without the cache's lock", e)
        yield


def load_or_build(
    path: Path,
    load: Callable[[Path], T],
    build: Callable[[], T],
    save: Callable[[T, Path], None],
    *,
    then: str = "rebuilding it",
    waiting: Callable[[], None] | None = None,
) -> T:
    """Under an exclusive lock on ``<path>.lock``: ``load(path)``, or when the file is missing or ``Damaged``
    (a one-line warning "cached ... is damaged (...); <then>", the file removed) ``build()``, kept with
    ``save(value, path)`` (atomically). ``waiting()`` is called when another process holds the lock. A cache
    that refuses the entry (no room, read-only) costs one warning, never the caller: the value is used as
    built and built again next time."""
    with _entry_lock(path.with_suffix(".lock"), waiting):
        if path.is_file():
            try:
                return load(path)
            except Damaged as e:
                LOG.warning("cached %s; %s", e, then)
                path.unlink(missing_ok=True)
        value = build()
        keep(value, path, save)
        return value


def keep(value: T, path: Path, save: Callable[[T, Path], None]) -> bool:
    """``save(value, path)`` a cache entry; a cache that refuses it (no room, read-only) costs one warning,
    not the caller. True when the entry was written."""
    try:
        save(value, path)
    except MachineFault as e:
        LOG.warning("%s; going on without caching it", e)
        return False
    return True
