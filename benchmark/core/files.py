"""Files the tool writes: atomically (readers see the old file or the whole new one, never half), with the
mode an ordinary ``open()`` gives, into folders proved writable first, under names that cannot leave them."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from langgan_bench.core.errors import UserError


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
