"""``langgan-bench bench`` (``make bench``): the default leaderboard, every model on every dataset, then the
report. Each run is resumable, so an interrupted bench continues where it stopped when started again."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from langgan_bench.config import RunConfig
from langgan_bench.report import build_report
from langgan_bench.runner import RunOutcome, run

DEFAULT_MODELS = ("mle", "seqgan", "rankgan", "leakgan", "scratchgan")
DEFAULT_DATASETS = ("oracle", "coco")


def bench(
    base: RunConfig,
    models: tuple[str, ...],
    datasets: tuple[str, ...],
    seeds: tuple[int, ...],
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> tuple[list[tuple[RunConfig, RunOutcome, float]], list[Path]]:
    """Run every (dataset, model, seed) with ``base``'s other settings, then build the report."""
    done = []
    for dataset in datasets:
        for model in models:
            for seed in seeds:
                cfg = replace(base, model=model, dataset=dataset, seed=seed)
                log(f"=== {model} on {dataset} ({cfg.profile}, seed {seed})")
                start = time.monotonic()
                outcome = run(cfg, log)
                done.append((cfg, outcome, time.monotonic() - start))
                log(f"=== {model} on {dataset}: {outcome.status} in {time.monotonic() - start:.0f}s")
    return done, build_report(Path(base.out))
