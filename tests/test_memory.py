"""The glibc allocator tuning of core/memory.py: done by the entry points (the CLI, a bench worker, the test
session), never by importing the package."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import langgan_bench.core.memory as memory

PROBE = (
    "import langgan_bench, langgan_bench.core.memory as m; print(m.status)\n"
    "from langgan_bench.cli import main; main(['list', 'profiles']); print(m.status)"
)


def _status(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in (*memory.USER_VARIABLES, "LANGGAN_MALLOC")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**env, **env_extra}, capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "not run", "importing the package tuned the allocator"
    return lines[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_cli_tunes_glibc_malloc_unless_told_not_to() -> None:
    assert _status({}) in ("mallopt", "not glibc")  # musl-based Linux has no mallopt to call
    assert _status({"LANGGAN_MALLOC": "default"}) == "off"
    assert _status({"MALLOC_TRIM_THRESHOLD_": "1000000"}) == "user"  # the user's own setting wins


def test_this_process_was_tuned_by_the_test_session() -> None:
    assert memory.status in ("mallopt", "user", "off", "not glibc")


# 20 blocks of 100 MB allocated, written and freed on a thread (as a Dask worker runs a cell): without the tuning
# each one is mmap'ed and its pages faulted in again (~500,000 faults); tuned, the first block's pages are
# reused. The blocks are bytearrays: glibc's malloc serves them as it serves torch's tensors of that size, and
# the probe needs no torch.
THREAD_PROBE = """
import resource, threading
import langgan_bench.core.memory
langgan_bench.core.memory.tune_malloc()  # as an entry point does
def work():
    for _ in range(20):
        block = bytearray(100_000_000)  # zeroed: above glibc's mmap threshold and a thread arena's 64 MiB heap
        del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t = threading.Thread(target=work); t.start(); t.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
@pytest.mark.parametrize("worker_environ", [False, True])
def test_large_blocks_on_a_thread_are_reused(worker_environ: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (*memory.USER_VARIABLES, "LANGGAN_MALLOC")}
    if worker_environ:  # a Dask worker: the nanny's environment, with the package's tuning told to step aside
        env.update({**memory.WORKER_ENVIRON, "LANGGAN_MALLOC": "default"})

    def faults(extra: dict[str, str]) -> int:
        out = subprocess.run([sys.executable, "-c", THREAD_PROBE], env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.split()[-1])

    pages = 100_000_000 // 4096
    tuned = faults({})
    untuned = faults({"MALLOC_ARENA_MAX": "8"} if worker_environ else {"LANGGAN_MALLOC": "default"})
    # (the first few blocks fault in while the heap grows to its peak; the machine's memory reclaim may take
    # an idle page back now and then, more often while other processes run: 8.0 blocks' worth seen beside a
    # second test worker)
    assert tuned < 12 * pages < 16 * pages < untuned
