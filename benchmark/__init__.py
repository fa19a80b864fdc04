"""langgan-bench: a leaderboard harness for language GANs."""

from langgan_bench.memory import tune_malloc

__version__ = "0.1.0"

tune_malloc()  # before any tensor is allocated, whatever the entry point (see memory.py)
