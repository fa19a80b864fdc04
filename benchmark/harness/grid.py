"""The bench grid: one cell per (dataset, model, seed), run one after another here or as tasks on Dask.

Each cell is the ordinary ``run`` (same run id, same lock, same resume), so a cell that finished is reused and
an interrupted one continues from its checkpoint. A cell that fails is recorded with its reason and the other
cells go on. On Dask, a cell whose worker dies is retried once (from its checkpoint), then recorded as failed.
Shared one-time work (the synthetic splits, what the metrics cache for a dataset: ``MetricSpec.prepare``) is
one ``prepare`` task per (dataset, profile) that the dataset's cells depend on, so workers never build it at
the same time. A Dask worker is an entry point: it sets up its own logging and allocator (``_worker_setup``).
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from langgan_bench.analysis.rows import FAILED_FILE, GRID_DIR
from langgan_bench.core import log as logs
from langgan_bench.core.config import RunConfig
from langgan_bench.core.errors import MachineFault, UserError
from langgan_bench.core.files import atomic_write_text, writing

Log = Callable[[str], None]
Status = Literal["complete", "diverged", "failed"]
LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellOutcome:
    """What one cell ended with: the run's status, or "failed" with the reason."""

    dataset: str
    model: str
    seed: int
    status: Status
    seconds: float
    run_id: str = ""
    error: str = ""

    @property
    def name(self) -> str:
        return f"{self.model} on {self.dataset} (seed {self.seed})"


def grid(
    base: RunConfig, models: tuple[str, ...], datasets: tuple[str, ...], seeds: tuple[int, ...]
) -> list[RunConfig]:
    """Every cell of the grid, in the order the local executor runs them. A model is a registered name or a
    ``package.module:ClassName`` spec, kept as given: a Dask worker resolves it itself (``run_cell``)."""
    return [replace(base, model=m, dataset=d, seed=s) for d in datasets for m in models for s in seeds]


def prepare(dataset: str, profile: str, data_dir: str | None, device: str, verbosity: int = logs.NORMAL) -> str:
    """Build what every cell of a dataset shares: its cached splits and what its metrics cache ahead
    (``MetricSpec.prepare``: a text dataset's judge LM).

    Returns "" when ready, else the one-line reason, which the dataset's cells then report as theirs.
    """
    from langgan_bench.core.config import resolve_device
    from langgan_bench.core.profiles import PROFILES
    from langgan_bench.datasets import load_dataset
    from langgan_bench.metrics import METRICS

    _worker_setup(verbosity)
    try:
        p = PROFILES.get(profile)
        data = load_dataset(dataset, data_dir).limited(p.train_limit, p.valid_limit, p.test_limit)
        for name in METRICS.names():
            spec = METRICS.get(name)
            if spec.applies(data, None, has_generator=True):
                spec.prepare_for(data, profile, resolve_device(device).type)
    except UserError as e:
        return str(e)
    return ""


def run_cell(
    cfg: RunConfig,
    threads: int | None = None,
    attempts: str | None = None,
    blocked: str = "",
    verbosity: int = logs.NORMAL,
) -> CellOutcome:
    """Run one cell and report how it ended; never raises for a failed run (KeyboardInterrupt aside).

    ``attempts``: a folder of attempt markers. A cell that finds its own marker is a retry after its worker
    died, so it resumes from its checkpoint even in a ``--fresh`` grid. ``blocked``: the reason its dataset's
    preparation failed, if it did. ``verbosity``: the bench's, for a Dask worker's log lines.
    """
    from langgan_bench.harness.runner import run
    from langgan_bench.models import resolve_model

    _worker_setup(verbosity)

    try:  # in this process (a Dask worker imports a module:Class spec here), then the class's name throughout
        cfg = replace(cfg, model=resolve_model(cfg.model).name)
    except UserError as e:
        return CellOutcome(cfg.dataset, cfg.model, cfg.seed, "failed", 0.0, error=str(e))
    if blocked:
        return CellOutcome(cfg.dataset, cfg.model, cfg.seed, "failed", 0.0, error=blocked)
    if threads:
        import torch

        torch.set_num_threads(threads)
    _pin_gpu(cfg.device)
    if attempts is not None:
        marker = Path(attempts) / f"{cfg.dataset}-{cfg.model}-s{cfg.seed}"
        if marker.exists():
            cfg = replace(cfg, resume=True)
        try:
            with writing(marker):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
        except MachineFault as e:
            return CellOutcome(cfg.dataset, cfg.model, cfg.seed, "failed", 0.0, error=str(e))
    start = time.monotonic()
    try:
        try:
            outcome = run(cfg, _log_for(cfg))
        except MachineFault as e:
            if not e.transient:
                raise
            _log_for(cfg)(f"{e}; retrying once from its checkpoint")
            outcome = run(replace(cfg, resume=True), _log_for(cfg))
    except UserError as e:  # a MachineFault too: the cell is recorded as failed with its reason
        return CellOutcome(cfg.dataset, cfg.model, cfg.seed, "failed", time.monotonic() - start, error=str(e))
    except Exception as e:  # a bug in one cell must not stop the grid; the reason goes into the report
        where = traceback.extract_tb(e.__traceback__)[-1]
        reason = f"{type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"
        return CellOutcome(cfg.dataset, cfg.model, cfg.seed, "failed", time.monotonic() - start, error=reason)
    status: Status = "diverged" if outcome.status == "diverged" else "complete"
    return CellOutcome(cfg.dataset, cfg.model, cfg.seed, status, time.monotonic() - start, outcome.run_id)


def _worker_setup(verbosity: int) -> None:
    """On a Dask worker (an entry point of its own): log lines in the CLI's format at the bench's verbosity,
    and glibc's allocator tuned even though the nanny set its variables (``core/memory.py``: with the nanny's
    ``MALLOC_TRIM_THRESHOLD_`` every batch's tensors would be mapped and zeroed again)."""
    if _on_dask_worker():
        from langgan_bench.core.memory import tune_malloc

        logs.configure(verbosity)
        tune_malloc(respect_user=False)
        _no_process_locks()


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _no_process_locks() -> None:
    """tqdm's default lock is a multiprocessing semaphore; a worker killed on Ctrl-C / SIGTERM never releases
    it, and the resource tracker warns of it at exit. A worker draws no bars to share a terminal with, so a
    thread lock does."""
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _pin_gpu(device: str) -> None:
    """On a Dask worker of a LocalCluster with several GPUs, use the GPU of this worker's number (workers are
    named 0..N-1), so that N workers use N GPUs; a worker started per GPU sees one and keeps it."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return  # not on a Dask worker
    if isinstance(name, int) or str(name).isdigit():
        torch.cuda.set_device(int(name) % torch.cuda.device_count())


def _log_for(cfg: RunConfig) -> Log:
    prefix = f"[{cfg.dataset}/{cfg.model}/s{cfg.seed}] "
    return lambda msg: LOG.info("%s%s", prefix, msg)


def run_local(cells: list[RunConfig], log: Log) -> Iterator[CellOutcome]:
    """Today's behaviour: the cells one after another in this process."""
    for cfg in cells:
        log(f"=== {_model_name(cfg.model)} on {cfg.dataset} ({cfg.profile}, seed {cfg.seed})")
        yield run_cell(cfg)


@contextmanager
def _dask_client(workers: int, threads: int, scheduler: str | None, gpu: bool) -> Iterator[Any]:
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--executor dask needs Dask: pip install 'langgan-bench[dask]'") from None
    from langgan_bench.core.memory import WORKER_ENVIRON

    settings = {
        "distributed.scheduler.allowed-failures": 1,  # a task whose worker dies is retried once, then KilledWorker
        "distributed.worker.daemon": False,
        # the nanny's default MALLOC_TRIM_THRESHOLD_ would undo the allocator tuning (see memory.py)
        "distributed.nanny.pre-spawn-environ": {
            **WORKER_ENVIRON,
            **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        },
    }
    with dask.config.set(settings):
        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
            with client:
                yield client
            return
        n = workers
        resources = None
        if gpu:
            import torch

            n = min(workers, torch.cuda.device_count())
            resources = {"GPU": 1}
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,  # one cell at a time per worker; torch's own threads are set per task
            processes=True,
            host="127.0.0.1",  # loopback only
            dashboard_address=None,
            # the scheduler's HTTP server (health, metrics) on a free loopback port: 8787 may be another bench's
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            resources=resources,
            silence_logs=40,
        )
        with cluster, Client(cluster) as client:
            yield client


def run_dask(
    cells: list[RunConfig],
    log: Log,
    workers: int = 2,
    threads: int = 1,
    scheduler: str | None = None,
) -> Iterator[CellOutcome]:
    """The cells as Dask tasks: a LocalCluster of ``workers`` processes on 127.0.0.1, or ``scheduler``'s."""
    from langgan_bench.core.config import resolve_device

    verbosity = logs.level()  # this process's, handed to the workers

    if not cells:
        return
    gpu = resolve_device(cells[0].device).type == "cuda"
    resources = {"GPU": 1} if gpu else None
    out = Path(cells[0].out)
    with writing(out / GRID_DIR):
        attempts = tempfile.mkdtemp(prefix="attempts-", dir=_grid_dir(out))
    with _quiet_when_stopped() as quiet, _dask_client(workers, threads, scheduler, gpu) as client:
        from distributed import as_completed

        preps = {}
        for cfg in cells:
            key = (cfg.dataset, cfg.profile)
            if key not in preps:
                preps[key] = client.submit(
                    prepare,
                    cfg.dataset,
                    cfg.profile,
                    cfg.data_dir,
                    cfg.device,
                    verbosity,
                    resources=resources,
                    pure=False,
                    priority=len(cells) + 1,
                )
        # the grid's order is kept as priorities (a dataset's MLE baseline, then its GANs, seed by seed), so a
        # grid stopped early has whole datasets and the baseline rather than scattered cells
        futures = {
            client.submit(
                run_cell,
                cfg,
                threads,
                attempts,
                preps[(cfg.dataset, cfg.profile)],
                verbosity,
                resources=resources,
                pure=False,
                priority=len(cells) - i,
            ): cfg
            for i, cfg in enumerate(cells)
        }
        try:
            for fut in as_completed(futures):
                cfg = futures[fut]
                try:
                    yield fut.result()
                except Exception as e:  # KilledWorker (died twice) or a failed prepare task
                    reason = f"{type(e).__name__}: {e}"
                    if type(e).__name__ == "KilledWorker":
                        reason = "its worker died twice (killed, out of memory?); resume it with `bench` again"
                    yield CellOutcome(cfg.dataset, _model_name(cfg.model), cfg.seed, "failed", 0.0, error=reason)
        except BaseException:  # Ctrl-C, SIGTERM: stop every cell now; each stays resumable from its checkpoint
            quiet()
            client.cancel(list(futures) + list(preps.values()), force=True)
            if scheduler is None:
                _stop_workers(client)
            raise
        finally:
            shutil.rmtree(attempts, ignore_errors=True)


def _model_name(spec: str) -> str:
    """The name a cell's model is shown under: its class's name (``bench`` resolved every spec here first)."""
    from langgan_bench.models import resolve_model

    try:
        return resolve_model(spec).name
    except UserError:
        return spec


@contextmanager
def _quiet_when_stopped() -> Iterator[Callable[[], None]]:
    """A switch that silences Dask's logs until the cluster is closed: once we kill the workers on purpose,
    the scheduler's broken connections to them are logged as errors with tracebacks, which are not news to a
    user who pressed Ctrl-C (the bench prints its own line). The level is restored afterwards."""
    import logging

    loggers = [logging.getLogger(name) for name in ("distributed", "asyncio")]  # asyncio: unretrieved exceptions
    levels = [logger.level for logger in loggers]

    def quiet() -> None:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)

    try:
        yield quiet
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _stop_workers(client: Any) -> None:
    """Kill our LocalCluster's worker processes at once: a running task cannot be cancelled, and closing the
    cluster would wait for it to finish."""
    import os
    import signal

    try:
        pids = set(client.run(os.getpid).values()) - {os.getpid()}  # a LocalCluster's nannies live in this process
    except Exception:  # already going down
        return
    for pid in pids:  # a nanny may start a fresh worker: it is idle (every task is cancelled) and closes with us
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _grid_dir(out: Path) -> Path:
    path = out / GRID_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_failures(out: Path, failed: list[CellOutcome]) -> None:
    """Keep the last bench's failed cells for the report (a header only when none failed)."""

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[f.name for f in fields(CellOutcome)], lineterminator="\n")
    w.writeheader()
    for o in failed:
        w.writerow(asdict(o))
    atomic_write_text(out / GRID_DIR / FAILED_FILE, buf.getvalue())
