"""Files the tool writes: atomically (readers see the old file or the whole new one, never half), with the
mode an ordinary ``open()`` gives, into folders proved writable first, under names that cannot leave them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgan_bench.core.errors import MachineFault, UserError, is_fault


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


#: Result files get the mode an ordinary ``open()`` would give them (0644 under the usual umask), like
#: ``torch.save``'s checkpoints; ``mkstemp`` alone would leave them private (0600).
FILE_MODE = 0o666 & ~_umask()

#: A name that may become part of a file name (dataset, profile, run id): no separators, no "..".
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=,\-]{0,199}")


def is_safe_name(name: str) -> bool:
    return SAFE_NAME.fullmatch(name) is not None and ".." not in name


def ensure_writable(folder: Path, role: str = "results folder") -> Path:
    """Create ``folder`` if needed and prove it can be written, or fail with one line naming its ``role``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise UserError(f"{role} {folder} is not writable: {getattr(e, 'strerror', None) or e}") from None
    return folder


def atomic_write_bytes(path: Path, data: bytes, *, create_parent: bool = True, previous: Path | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one.

    ``previous``: the file ``path`` held is kept there (only once the new one is written whole, so a failed
    write leaves the old file in place). ``create_parent=False``: a missing folder is a fault, not recreated
    (a run's folder removed under it). The operating system's refusals (see ``errors.FAULT_ERRNOS``) raise
    ``MachineFault`` naming ``path``, with no temporary file left behind.
    """
    tmp = None
    try:
        if create_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if is_fault(e):
            raise MachineFault.of(path, e) from None  # type: ignore[arg-type]
        raise


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn the operating system's refusals inside the block (see ``errors.FAULT_ERRNOS``) into a
    ``MachineFault`` naming ``path``: for writes other than the atomic ones (folders, markers, figures)."""
    try:
        yield
    except OSError as e:
        if is_fault(e):
            raise MachineFault.of(path, e) from None
        raise


def remove_file(path: Path) -> None:
    """Remove ``path`` if it exists; a refusal of the operating system is a ``MachineFault``."""
    with writing(path):
        path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, **write: Any) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), **write)


def atomic_write_json(path: Path, obj: Any, **write: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", **write)
