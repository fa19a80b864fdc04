"""The exceptions the harness itself raises. The CLI turns a UserError into one stderr line and exit code 2."""

from __future__ import annotations

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
