"""``langgan-bench bench`` (``make bench``): the default leaderboard, every model on every dataset and seed,
then the report. Each cell is a resumable run, so an interrupted bench continues where it stopped when started
again; the cells run one after another here, or as tasks on Dask (see grid.py)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from langgan_bench.core.config import RunConfig
from langgan_bench.core.errors import UserError
from langgan_bench.harness.grid import CellOutcome, grid, record_failures, run_dask, run_local

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Executor:
    """Where the cells run: ``local`` (one after another in this process) or ``dask``."""

    kind: Literal["local", "dask"] = "local"
    workers: int = 2
    threads_per_worker: int = 1
    scheduler: str | None = None


def bench(
    base: RunConfig,
    models: tuple[str, ...],
    datasets: tuple[str, ...],
    seeds: tuple[int, ...],
    executor: Executor = Executor(),
    log: Callable[[str], None] | None = None,
) -> tuple[list[CellOutcome], list[Path]]:
    """Run every (dataset, model, seed) cell with ``base``'s other settings, then build the report."""
    from tqdm.auto import tqdm

    log = log or LOG.info

    cells = grid(base, models, datasets, seeds)
    if executor.kind == "dask":
        stream = run_dask(cells, log, executor.workers, executor.threads_per_worker, executor.scheduler)
    else:
        stream = run_local(cells, log)
    done: list[CellOutcome] = []
    start = time.monotonic()
    with tqdm(total=len(cells), desc="bench", unit="cell", disable=None, file=sys.stderr) as bar:
        for outcome in stream:
            done.append(outcome)
            why = f": {outcome.error}" if outcome.error else ""
            log(f"=== {outcome.name}: {outcome.status} in {outcome.seconds:.0f}s{why}")
            bar.update()
    log(f"=== {len(done)} cells in {time.monotonic() - start:.0f}s")
    out = Path(base.out)
    record_failures(out, [o for o in done if o.status == "failed"])
    try:
        from langgan_bench.analysis.report import build_report  # pandas, scipy, matplotlib: only when reporting

        report = build_report(out)
    except UserError as e:  # every cell failed: nothing to report, which the summary already says
        log(f"no report: {e}")
        report = []
    return done, report
