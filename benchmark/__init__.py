"""langgan-bench: a leaderboard harness for language GANs."""

__version__ = "0.1.0"
