"""Reading back what the tool wrote, safely: nothing in a file can run code, and damage is detected.

Every ``.pt`` file is loaded with ``torch.load(weights_only=True)`` (tensors and plain containers only, so a
crafted pickle in a shared results folder runs nothing) after zipfile has checked the CRC-32 of each member
(torch itself does not, so a flipped byte would otherwise load as a wrong weight). ``.npz`` files are read
with ``allow_pickle=False``; numpy's zip reader checks the CRCs. Anything wrong raises ``Damaged``, which
callers turn into a rebuild (caches) or a one-line refusal (run state).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langgan_bench.core.errors import Damaged
from langgan_bench.core.files import atomic_write_bytes


def _short(e: BaseException) -> str:
    """The first line of an exception, for a one-line message."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def save_torch(obj: Any, path: Path, **write: Any) -> None:
    """``torch.save`` into ``path`` atomically (readers never see half a file; ``write``: see atomic_write_bytes)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), **write)


def load_torch(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """A ``.pt`` file's content: CRC-checked, then unpickled with ``weights_only=True``; or ``Damaged``."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Damaged(path, e.strerror or str(e)) from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise Damaged(path, f"not a complete torch file: {_short(e)}") from None
    if bad is not None:
        raise Damaged(path, f"checksum mismatch in {bad}")
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as e:  # weights_only refuses anything but tensors and plain containers
        raise Damaged(path, _short(e)) from None


def load_npz(path: Path, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file (no pickles; CRC-checked by numpy's zip reader), or ``Damaged``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in keys}
    except Exception as e:  # BadZipFile, EOFError, zlib.error, KeyError, ValueError (pickled objects), OSError
        raise Damaged(path, _short(e)) from None
