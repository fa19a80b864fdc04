"""The bench grid: the report and finished runs reused; on Dask distributed the same rows as the local
executor, a killed worker's cell retried from its checkpoint, a failing cell recorded while the others
complete; Ctrl-C and SIGTERM leave a grid that resumes."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from langgan_bench.models import MODELS

from .conftest import REPO, cli, cli_here, rows_of
from .crash_site.sitecustomize import crash_env
from .plugin_model import QUICK_MLE, QuickMLE

# skipped without Dask distributed, found without importing it (every xdist worker collects this module)
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None, reason="no Dask distributed: pip install -e '.[dask]'"
)

# the model is a plugin (imported by the workers too): MLE for one epoch, the executor being what is tested
GRID = (
    "bench", "--models", QUICK_MLE, "--datasets", "oracle", "--profile", "tiny", "--temperatures", "0.8,1",
    "--seeds", "0,1",
)  # fmt: skip
DASK = ("--executor", "dask", "--workers", "2", "--threads-per-worker", "1")
ONE_WORKER = ("--executor", "dask", "--workers", "1", "--threads-per-worker", "1")  # where one is enough


def values(out):
    return sorted((r["model"], r["seed"], r["temperature"], r["metric"], r["value"]) for r in rows_of(out))


def local_here(out):
    """The grid by the local executor, in this process, on one thread like the 1-thread Dask workers its rows
    are compared with (also when run outside xdist)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return cli_here(*GRID, "--out", str(out))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    proc = local_here(out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_bench_runs_the_grid_then_reports_and_reuses_finished_runs(local_grid):
    out, first = local_grid
    assert {r["seed"] for r in rows_of(out)} == {"0", "1"}
    assert (out / "report" / "report.md").is_file() and "oracle" in first.stdout
    before = values(out)
    again = local_here(out)
    assert again.returncode == 0 and "epoch" not in again.stderr  # resumed: nothing retrained
    assert QuickMLE.name not in set(MODELS)  # the in-process command's plugin went with it (conftest.registry_kept)
    assert values(out) == before


def test_dask_gives_the_local_rows_bitwise_with_a_killed_worker_retried_and_a_failing_cell_recorded(
    local_grid, tmp_path
):
    """Two workers; one of them is killed (SIGKILL) once, mid-cell: its cell is retried from its checkpoint on
    a new worker, the other runs through, and the rows are the local executor's. The COCO cells fail (corrupt
    data): each is recorded with its reason, in the output and the report, while the others complete."""
    broken = tmp_path / "data"
    (broken / "image_coco").mkdir(parents=True)
    for name in ("image_coco.txt", "test_coco.txt"):
        (broken / "image_coco" / name).write_text("not the real file\n")
    marker, out = tmp_path / "killed-once", tmp_path / "out"
    proc = cli(
        *GRID, *DASK, "--datasets", "oracle,coco", "--data-dir", str(broken), "--out", str(out),
        env=crash_env(20, once=marker),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert marker.exists()  # a worker really died mid-cell
    assert values(out) == values(local_grid[0]) and len(values(out)) > 0
    assert proc.stderr.count(": complete in ") == 2  # one line per finished cell
    assert "2 of 4 cells failed" in proc.stderr and "Traceback" not in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("oracle", "coco"))]
    assert sum(" complete " in line for line in lines if line.startswith("oracle")) == 2
    failed = [line for line in lines if line.startswith("coco")]
    assert len(failed) == 2 and all(" failed " in line and "corrupt data file" in line for line in failed)
    md = (out / "report" / "report.md").read_text()
    assert "Failed cells" in md and "corrupt data file" in md


def test_dask_options_need_the_dask_executor(tmp_path):
    proc = cli_here(*GRID, "--workers", "3", "--out", str(tmp_path))
    assert proc.returncode == 2 and "go with --executor dask" in proc.stderr
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(("signum", "executor"), [(signal.SIGINT, ()), (signal.SIGTERM, ONE_WORKER)])
def test_ctrl_c_or_sigterm_stops_the_grid_and_leaves_it_resumable(signum, executor, local_grid, tmp_path):
    """Both signals take one path: Ctrl-C is sent to the local executor's grid, SIGTERM to a Dask grid, whose
    workers the bench must stop itself."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "langgan_bench", *GRID, *executor, "--out", str(out)]
    proc = subprocess.Popen(args, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("runs/*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signum)  # to the bench process alone: it must stop its workers itself
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum and "Traceback" not in err
    # the bench resumes by itself: the line gives the same command, and no worker's semaphore is left behind
    assert err.strip().splitlines()[-1] == (
        f"langgan-bench: interrupted by {signal.Signals(signum).name}; continue with the same command"
    )
    assert "leaked" not in err and "Port 8787" not in err
    if signum == signal.SIGINT:
        return  # the resume is checked once, after SIGTERM
    # resumed here by the local executor: a Dask worker's checkpoint is every executor's (a Dask worker resuming
    # a checkpoint: the killed worker's test above)
    again = local_here(out)
    assert again.returncode == 0, again.stderr
    assert values(out) == values(local_grid[0])
