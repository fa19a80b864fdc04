"""The exceptions the harness itself raises. The CLI turns a UserError into one stderr line and exit code 2."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class UserError(Exception):
    """Bad input from the user (unknown name, missing data, bad value): reported, never a traceback."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM turned into the same clean stop as Ctrl-C (SIGINT), remembering which signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Damaged(Exception):
    """A file the tool wrote cannot be trusted (truncated, corrupted, or not what it should be): callers
    rebuild it (caches) or refuse with one line (run state)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is damaged ({reason})")
        self.path, self.reason = path, reason


#: The operating system's refusals of a write that are faults of the machine, not bugs: a full disk or quota,
#: a read-only file system, permission lost, the folder removed, an I/O error (with their short names).
FAULT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "the folder was removed",
    errno.ENOTDIR: "a folder on the path is no longer a folder",
    errno.EIO: "input/output error",
    errno.EAGAIN: "resource temporarily unavailable",
    errno.EBUSY: "device or resource busy",
    errno.ESTALE: "stale file handle",
}
#: Faults that may be gone a moment later (a flaky device or network file system): a grid cell that fails with
#: one is retried once. A full disk or a read-only or removed folder does not mend itself within seconds.
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ESTALE})


class MachineFault(UserError):
    """The operating system refused a write of the harness: one line naming the path and the cause."""

    def __init__(self, path: object, code: int | None, hint: str = "") -> None:
        self.path, self.errno, self.hint = str(path), code, hint
        name = errno.errorcode.get(code or 0, "")
        cause = FAULT_ERRNOS.get(code or 0) or (os.strerror(code) if code else "unknown error")
        self.cause = f"{cause} ({name})" if name else cause
        super().__init__(f"cannot write {self.path}: {self.cause}" + (f"; {hint}" if hint else ""))

    @classmethod
    def of(cls, path: object, err: OSError) -> MachineFault:
        return cls(path, err.errno)

    @property
    def transient(self) -> bool:
        return self.errno in TRANSIENT_ERRNOS

    def with_hint(self, hint: str) -> MachineFault:
        """The same fault, its message followed by what the user can do about it."""
        return MachineFault(self.path, self.errno, hint)


def is_fault(err: BaseException) -> bool:
    """An OSError that is a fault of the machine (see FAULT_ERRNOS), not a bug."""
    return isinstance(err, OSError) and err.errno in FAULT_ERRNOS
