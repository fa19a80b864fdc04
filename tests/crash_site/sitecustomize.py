"""A crash at a known point, for the tests' own processes (never part of the package).

``crash_env(steps, ...)`` is the environment of a process that signals itself (SIGKILL by default) right after
its ``steps``-th training step: Python imports this file at start-up because the environment puts its folder
on ``PYTHONPATH``, and Dask workers inherit it. ``crash_after`` does the same in the test's own process.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

AFTER, SIGNAL, ONCE = "LANGGAN_TEST_KILL_AFTER_STEPS", "LANGGAN_TEST_KILL_SIGNAL", "LANGGAN_TEST_KILL_ONCE_MARKER"


def crash_env(steps: int, sig: str = "KILL", once: Path | None = None) -> dict[str, str]:
    """The environment variables for a child process that dies after ``steps`` steps (only the first time
    ``once``, a marker file, does not exist yet: a retry then survives)."""
    here = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, AFTER: str(steps), SIGNAL: sig}
    return {**env, ONCE: str(once)} if once is not None else env


def crash_after(steps: int, sig: str = "KILL", once: str | None = None) -> object:
    """Make ``TrainContext.step_done`` signal this process after ``steps`` steps; returns the method replaced."""
    from langgan_bench.models.training.base import TrainContext

    original = TrainContext.step_done

    def step_done(self: TrainContext, make_state) -> None:  # type: ignore[no-untyped-def]
        original(self, make_state)
        if self.steps >= steps:
            if once:
                try:
                    Path(once).touch(exist_ok=False)
                except FileExistsError:
                    return  # signalled once already
            os.kill(os.getpid(), getattr(signal, f"SIG{sig}"))

    TrainContext.step_done = step_done  # type: ignore[method-assign]
    return original


if os.environ.get(AFTER):
    crash_after(int(os.environ[AFTER]), os.environ.get(SIGNAL, "KILL"), os.environ.get(ONCE))
