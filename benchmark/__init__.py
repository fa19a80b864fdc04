"""langgan-bench: a leaderboard harness for language GANs."""

from __future__ import annotations

from typing import Any

from langgan_bench.memory import tune_malloc

__version__ = "0.5.1"
__all__ = ["__version__", "load_results"]

tune_malloc()  # before any tensor is allocated, whatever the entry point (see memory.py)


def __getattr__(name: str) -> Any:
    # lazily, so that `langgan-bench --help` does not pay for importing pandas
    if name == "load_results":
        from langgan_bench.results import load_results

        return load_results
    raise AttributeError(f"module 'langgan_bench' has no attribute {name!r}")
