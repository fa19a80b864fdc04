"""The glibc allocator tuning of memory.py happens at import of the package, whatever the entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import langgan_bench.memory as memory

PROBE = "import langgan_bench.memory as m; print(m.status)"


def _status(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in (*memory.USER_VARIABLES, "LANGGAN_MALLOC")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**env, **env_extra}, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_import_tunes_glibc_malloc_unless_told_not_to() -> None:
    assert _status({}) in ("mallopt", "not glibc")  # musl-based Linux has no mallopt to call
    assert _status({"LANGGAN_MALLOC": "default"}) == "off"
    assert _status({"MALLOC_TRIM_THRESHOLD_": "1000000"}) == "user"  # the user's own setting wins


def test_this_process_was_tuned_at_import() -> None:
    assert memory.status in ("mallopt", "user", "off", "not glibc")
