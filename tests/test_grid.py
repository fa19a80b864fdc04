"""The bench grid on Dask distributed: the same rows as the local executor, a killed worker's cell retried
from its checkpoint, a failing cell recorded while the others complete."""

from __future__ import annotations

import os
import signal

import pytest

from .conftest import ONE_THREAD, cli, cli_here, rows_of
from .crash_site.sitecustomize import crash_env
from .plugin_model import QUICK_MLE

pytest.importorskip("distributed")

# the model is a plugin (imported by the workers too): MLE for one epoch, the executor being what is tested
GRID = ("bench", "--models", QUICK_MLE, "--datasets", "oracle", "--profile", "tiny", "--temperatures", "0.8,1")
DASK = ("--executor", "dask", "--workers", "2", "--threads-per-worker", "1")
ONE_WORKER = ("--executor", "dask", "--workers", "1", "--threads-per-worker", "1")  # where one is enough


def values(out):
    return sorted((r["model"], r["seed"], r["temperature"], r["metric"], r["value"]) for r in rows_of(out))


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    # one thread, like the 1-thread Dask workers it is compared with (also when this module runs outside xdist)
    proc = cli(*GRID, "--seeds", "0,1", "--out", str(out), env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    return out


def test_dask_gives_the_local_rows_bitwise_with_a_killed_worker_retried_from_its_checkpoint(local_grid, tmp_path):
    """Two workers, one cell each; one of them is killed (SIGKILL) once, mid-cell: its cell is retried from
    its checkpoint on a new worker, the other runs through, and the rows are the local executor's."""
    marker = tmp_path / "killed-once"
    proc = cli(*GRID, *DASK, "--seeds", "0,1", "--out", str(tmp_path / "out"), env=crash_env(20, once=marker))
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()  # a worker really died mid-cell
    assert values(tmp_path / "out") == values(local_grid) and len(values(local_grid)) > 0
    assert proc.stderr.count(": complete in ") == 2  # one line per finished cell
    assert (tmp_path / "out" / "report" / "report.md").is_file()


def test_a_failing_cell_is_recorded_and_the_others_complete(tmp_path, data_dir):
    broken = tmp_path / "data"
    (broken / "image_coco").mkdir(parents=True)
    for name in ("image_coco.txt", "test_coco.txt"):
        (broken / "image_coco" / name).write_text("not the real file\n")
    out = tmp_path / "out"
    proc = cli(
        *GRID, *ONE_WORKER, "--datasets", "oracle,coco", "--seeds", "0", "--data-dir", str(broken), "--out", str(out)
    )
    assert proc.returncode == 1
    assert "1 of 2 cells failed" in proc.stderr and "Traceback" not in proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith(("oracle", "coco"))}
    assert " complete " in lines["oracle"] and " failed " in lines["coco"] and "corrupt data file" in lines["coco"]
    md = (out / "report" / "report.md").read_text()
    assert "Failed cells" in md and "corrupt data file" in md


def test_dask_options_need_the_dask_executor(tmp_path):
    proc = cli_here(*GRID, "--workers", "3", "--out", str(tmp_path))
    assert proc.returncode == 2 and "go with --executor dask" in proc.stderr
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_the_grid_and_leaves_it_resumable(signum, local_grid, tmp_path):
    import subprocess
    import sys
    import time

    from .conftest import REPO

    out = tmp_path / "out"
    args = [sys.executable, "-m", "langgan_bench", *GRID, *ONE_WORKER, "--seeds", "0,1", "--out", str(out)]
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
        return  # both signals take one path; the resume is checked once, after SIGTERM
    again = cli(*GRID, *ONE_WORKER, "--seeds", "0,1", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert values(out) == values(local_grid)
