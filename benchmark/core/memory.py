"""glibc's allocator tuned to keep large freed blocks, by the entry points: the CLI (``python -m
langgan_bench`` too), a bench worker, the test session. Importing the package changes nothing.

Why: every training batch allocates and frees tensors of tens of MB (the (B, L, V) logits and their
gradients). By default glibc serves blocks that large with ``mmap`` and gives them back with ``munmap`` on
``free``, so the kernel maps and zeroes fresh pages at every step. Raising the mmap threshold (large blocks
come from the heap and are reused) and the trim threshold (freed heap memory is kept for the next batch)
removes most of that system time and those page faults (``make perf`` reports both; docs/performance.md),
with the same numbers: the values computed do not depend on where the memory lies. The price is that the
process keeps its peak heap until it exits, which a training process reaches again at the next batch anyway.

Nothing is changed where the allocator is not glibc's (macOS, Windows, musl), where the user already tunes it
with glibc's own variables (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), or with
``LANGGAN_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # <malloc.h>
THRESHOLD = 1 << 30  # 1 GiB: every per-batch tensor of the profiles comes from the reused heap
USER_VARIABLES = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_ARENA_MAX",
    "GLIBC_TUNABLES",
)

#: what ``tune_malloc`` did, for logs and ``make perf``: "mallopt", "user", "off" or "not glibc"
status = "not run"


#: The environment a Dask nanny gives its worker (it sets MALLOC_TRIM_THRESHOLD_=65536 by default, which
#: also turns glibc's adaptive mmap threshold off: every batch's tensors would be mmap'ed and zeroed again).
#: A worker runs its tasks on a thread, and a thread's allocations go to one of glibc's secondary arenas,
#: whose heaps are at most 64 MiB: a larger block (the sweep's NLL chunks are ~200 MB) is mmap'ed and unmapped
#: on free whatever the thresholds say. One arena (the main one, which grows without that limit) for every
#: thread fixes it. The environment variable, not ``mallopt``, because the worker's threads exist before a
#: task runs.
WORKER_ENVIRON = {
    "MALLOC_TRIM_THRESHOLD_": str(THRESHOLD),
    "MALLOC_MMAP_THRESHOLD_": str(THRESHOLD),
    "MALLOC_ARENA_MAX": "1",
}


_OPTIONS = ((M_MMAP_THRESHOLD, THRESHOLD), (M_TRIM_THRESHOLD, THRESHOLD), (M_ARENA_MAX, 1))


def tune_malloc(respect_user: bool = True) -> str:
    """Keep large freed blocks in the process (see the module docstring); returns what was done.

    ``respect_user=False`` tunes even where glibc's variables are set: on a Dask worker they are the nanny's
    default, not the user's choice.
    """
    global status
    if os.environ.get("LANGGAN_MALLOC", "").lower() == "default":
        status = "off"
    elif respect_user and any(v in os.environ for v in USER_VARIABLES):
        status = "user"
    elif not sys.platform.startswith("linux"):
        status = "not glibc"
    else:
        try:
            libc = ctypes.CDLL(None)
            libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it (musl does not)
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            status = "not glibc"
        else:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            # one arena: threads started from now on (a user's thread pool) share the main arena (see above)
            ok = all(mallopt(k, v) == 1 for k, v in _OPTIONS)
            status = "mallopt" if ok else "mallopt refused"
    return status
