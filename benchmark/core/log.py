"""Log lines: every module logs to ``logging.getLogger(__name__)`` under the ``langgan_bench`` logger, and an
entry point (the CLI, a bench worker) decides where they go with ``configure``. Importing the package
configures nothing, so an application that uses it as a library keeps its own logging.

The CLI's format is one line per message on stderr: information as it is, warnings as ``langgan-bench:
warning: ...``, errors as ``langgan-bench: error: ...`` (a record may name its own ``prefix`` instead).
"""

from __future__ import annotations

import logging
import sys

ROOT = "langgan_bench"
QUIET, NORMAL, VERBOSE = -1, 0, 1
_LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = getattr(record, "prefix", None)
        if prefix is None:
            prefix = (
                "langgan-bench: error: "
                if record.levelno >= logging.ERROR
                else "langgan-bench: warning: "
                if record.levelno >= logging.WARNING
                else ""
            )
        return prefix + " ".join(record.getMessage().splitlines())


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged (tests and notebooks redirect it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_OneLine())

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(verbosity: int = NORMAL) -> None:
    """Send the harness's log lines to stderr in the CLI's format: ``QUIET`` (warnings and errors only),
    ``NORMAL`` (progress too) or ``VERBOSE`` (debugging detail too). Calling it again only changes the level."""
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
    logger.setLevel(_LEVELS[max(QUIET, min(VERBOSE, verbosity))])


def level() -> int:
    """The verbosity ``configure`` was last given (NORMAL when it was never called), for worker processes."""
    current = logging.getLogger(ROOT).level
    return next((v for v, lvl in _LEVELS.items() if lvl == current), NORMAL)
