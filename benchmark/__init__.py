"""langgan-bench: a leaderboard harness for language GANs.

Importing the package changes nothing in the process (no allocator tuning, no logging set-up, no
environment): the entry points do that (``langgan_bench.cli``, a bench worker). ``load_results`` reads a
results folder into a pandas DataFrame.
"""

from __future__ import annotations

from typing import Any

from langgan_bench.core.version import __version__

__all__ = ["__version__", "load_results"]


def __getattr__(name: str) -> Any:
    # lazily, so that `langgan-bench --help` does not pay for importing pandas
    if name == "load_results":
        from langgan_bench.analysis.rows import load_results

        return load_results
    raise AttributeError(f"module 'langgan_bench' has no attribute {name!r}")
