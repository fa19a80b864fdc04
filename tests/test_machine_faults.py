"""Faults of the machine, not of the input: a full disk or quota, a read-only file system, permission lost, the
folder removed, an I/O error, at every kind of write the harness makes. Each ends with one line naming the file
and the cause, exit code 2, the run recorded as failed (or nothing left when there was nothing to resume),
the last checkpoint intact, no temporary file, and ``--resume`` reaching the same rows once the cause is gone.

The faults are injected at the exact system call (``os.open`` creating the temporary file, ``os.write``
filling it, ``os.replace`` moving it into place) for the file named, in this process; one optional test
fills a real 3 MiB tmpfs. Training is one MLE epoch of 4 steps with a checkpoint after every step.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from langgan_bench import cli
from langgan_bench.core.config import RunConfig
from langgan_bench.core.errors import MachineFault
from langgan_bench.core.files import atomic_write_bytes
from langgan_bench.core.storage import load_torch
from langgan_bench.harness import grid, space, sweep
from langgan_bench.models.training.base import TrainContext
from langgan_bench.models.training.pretrained import PretrainedStore

from .conftest import rows_of
from .fake_results import nll_curve, write_run

RUN = (
    "run", "--model", "mle", "--dataset", "oracle", "--profile", "tiny", "--temperatures", "1",
    "--set", "training.max_epochs=1", "--set", "training.batch_size=1000", "--checkpoint-every", "0",
)  # fmt: skip
#: the refusals the issue names, each with the words the user reads
FAULTS = {
    errno.ENOSPC: "no space left on the device (ENOSPC)",
    errno.EDQUOT: "disk quota exceeded (EDQUOT)",
    errno.EROFS: "read-only file system (EROFS)",
    errno.EACCES: "permission denied (EACCES)",
    errno.ENOENT: "the folder was removed (ENOENT)",
    errno.EIO: "input/output error (EIO)",
}


def main(*argv: str) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as e:
        return int(e.code or 0)


def values(out: Path) -> list[tuple[str, ...]]:
    return sorted((r["model"], r["seed"], r["temperature"], r["metric"], r["value"]) for r in rows_of(out))


def error_line(err: str) -> str:
    """The one error line of a command's stderr (its log lines aside), and no traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("langgan-bench: error:")]
    assert len(errors) == 1, err
    return errors[0]


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@dataclass
class Fault:
    """Make the ``nth`` (and the next ``times - 1``) write of the file ``name`` fail with ``code`` at ``at``."""

    name: str
    code: int
    at: str = "write"  # "create" (mkstemp's os.open), "write" (os.write), "replace" (os.replace)
    nth: int = 1
    times: int = 1
    seen: int = 0
    raised: int = field(default=0)

    def hit(self, basename: str) -> bool:
        """Whether this call on ``basename`` fails (``name`` may be a glob; a temporary file is matched by
        the name it will be moved to)."""
        temp = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", basename)
        target = temp.group(1) if temp else basename
        if not fnmatch.fnmatchcase(target, self.name):
            return False
        self.seen += 1
        if self.seen >= self.nth and self.raised < self.times:
            self.raised += 1
            return True
        return False


@pytest.fixture
def inject(monkeypatch) -> Iterator:
    """``inject(Fault(...), ...)``: patch the system calls the faults name, for this test only."""
    real_open, real_write, real_replace = os.open, os.write, os.replace
    faults: list[Fault] = []

    def failing(at: str, basename: str) -> Fault | None:
        return next((f for f in faults if f.at == at and f.hit(basename)), None)

    def fake_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and (f := failing("create", os.path.basename(path))):
            raise OSError(f.code, os.strerror(f.code), str(path))
        return real_open(path, flags, *args, **kwargs)

    def fake_write(fd, data):
        try:
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            name = ""
        if name and (f := failing("write", name)):
            raise OSError(f.code, os.strerror(f.code))
        return real_write(fd, data)

    def fake_replace(src, dst, *args, **kwargs):
        if os.path.basename(src).startswith(".") and (f := failing("replace", os.path.basename(dst))):
            raise OSError(f.code, os.strerror(f.code), str(src), None, str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "write", fake_write)
    monkeypatch.setattr(os, "replace", fake_replace)

    def install(*new: Fault) -> Fault:
        faults.extend(new)
        return new[0]

    yield install


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every resumed one must equal (in this process: the same threads)."""
    out = tmp_path_factory.mktemp("reference")
    assert main(*RUN, "--out", str(out)) == 0
    return out


# --- the atomic write itself, every refusal at every system call ---------------------------------------------


@pytest.mark.parametrize("code", sorted(FAULTS))
@pytest.mark.parametrize("at", ["create", "write", "replace"])
def test_an_atomic_write_refused_keeps_the_old_file_and_leaves_no_temporary(tmp_path, inject, code, at):
    path = tmp_path / "state.json"
    path.write_text("old")
    inject(Fault("state.json", code, at))
    with pytest.raises(MachineFault) as caught:
        atomic_write_bytes(path, b"new" * 1000)
    assert str(caught.value) == f"cannot write {path}: {FAULTS[code]}"
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["state.json"]


def test_a_removed_folder_is_not_recreated_by_a_run_write(tmp_path):
    gone = tmp_path / "run"
    with pytest.raises(MachineFault, match=r"the folder was removed \(ENOENT\)"):
        atomic_write_bytes(gone / "rows.csv", b"x", create_parent=False)
    assert not gone.exists()


# --- every kind of write of a run -------------------------------------------------------------------------------

#: Every kind of write of a run, each refused in its own way: (file, which of its writes in the command that meets
#: the refusal, refusal, system call), in the order a run writes them. config.json is written when a command
#: starts the run ("running") and when the run ends ("complete"); checkpoint.pt after each of the two training
#: steps (and the epoch's end).
KINDS = {
    "config.json (start)": ("config.json", 1, errno.ENOSPC, "write"),
    "checkpoint.pt": ("checkpoint.pt", 2, errno.EDQUOT, "create"),
    "generator.pt": ("generator.pt", 1, errno.EROFS, "create"),
    "samples": ("T1.txt", 1, errno.EACCES, "create"),
    "sweep.json": ("sweep.json", 1, errno.EIO, "write"),
    "rows.csv": ("rows.csv", 1, errno.ENOSPC, "replace"),
    "config.json (end)": ("config.json", 2, errno.ENOSPC, "write"),
}


def test_every_run_write_refused_is_one_line_and_resumes_to_the_same_rows(reference, tmp_path, inject, capsys):
    """One run meets every kind of write refused, in turn: each command stops at its refusal with one line and
    leaves no temporary file behind; once a checkpoint exists, the run is recorded as failed with the reason and
    its checkpoints are whole. The next command (the same one, with --resume once there is a run) goes on from
    there, and the last ends the run with the uninterrupted run's rows. (One chain: a run's training and sweep
    are done about once, however many kinds there are.)"""
    out = tmp_path / "results"
    for kind, (name, nth, code, at) in KINDS.items():
        resume = ("--resume",) if list(out.glob("runs/*")) else ()
        fault = inject(Fault(name, code, at, nth=nth))
        assert main(*RUN, *resume, "--out", str(out)) == 2, kind
        line = error_line(capsys.readouterr().err)
        assert fault.raised == 1 and f"{name}: {FAULTS[code]}" in line, kind
        assert not leftovers(tmp_path), kind
        runs = list(out.glob("runs/*"))
        if runs:  # a checkpoint was written: the run waits for --resume, recorded as failed with the reason
            record = json.loads((runs[0] / "config.json").read_text())
            assert record["status"] == "failed" and FAULTS[code] in record["error"], kind
            assert f"run {runs[0].name} is recorded as failed; once the cause is gone, continue" in line, kind
            checkpoints = {p.name: load_torch(p) for p in runs[0].glob("checkpoint*.pt")}  # whole, loadable
            assert checkpoints and not (runs[0] / ".reserve").exists(), kind
            if name == "checkpoint.pt":  # the second step's save failed: the first step's checkpoint is intact
                assert checkpoints == {"checkpoint.pt": checkpoints["checkpoint.pt"]}
                assert checkpoints["checkpoint.pt"]["_steps"] == 1
        else:  # nothing worth resuming yet: nothing is left behind
            assert kind == "config.json (start)" and "nothing of run" in line and "run the same command again" in line
        fault.times = 0  # the cause is gone
    assert main(*RUN, "--resume", "--out", str(out)) == 0
    assert values(out) == values(reference)


def test_a_record_that_cannot_be_written_either_still_gives_one_line(tmp_path, inject, capsys):
    # a file system that turned read-only refuses the failure record too: the line still says what to do
    out = tmp_path / "results"
    inject(
        Fault("checkpoint.pt", errno.EROFS, "create", nth=2, times=99),
        Fault("config.json", errno.EROFS, "create", nth=2, times=99),
    )
    assert main(*RUN, "--out", str(out)) == 2
    line = error_line(capsys.readouterr().err)
    assert "checkpoint.pt: read-only file system (EROFS)" in line and "stopped" in line and "--resume" in line
    assert not leftovers(tmp_path)


def test_the_run_folder_removed_between_two_checkpoints(reference, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    real_step = TrainContext.step_done

    def step_done(self, make_state):
        real_step(self, make_state)
        if self.steps == 1:
            shutil.rmtree(self.checkpoint_path.parent)

    monkeypatch.setattr(TrainContext, "step_done", step_done)
    assert main(*RUN, "--out", str(out)) == 2
    line = error_line(capsys.readouterr().err)
    assert "checkpoint.pt: the folder was removed (ENOENT)" in line and "run the same command again" in line
    assert not list(out.glob("runs/*"))  # never recreated behind the user's back
    monkeypatch.setattr(TrainContext, "step_done", real_step)
    assert main(*RUN, "--out", str(out)) == 0
    assert values(out) == values(reference)


# --- caches: a refused write is one warning, never a failed run ------------------------------------------------


def test_a_cache_that_refuses_its_entry_costs_a_warning_not_the_run(reference, tmp_path, inject, monkeypatch, capsys):
    # the oracle's reference rows, cached per dataset and profile: made anew here, and the cache is full
    entry = tmp_path / "cache" / "oracle_reference" / "entry.json"
    monkeypatch.setattr(sweep, "oracle_reference_path", lambda *a: entry)
    fault = inject(Fault("entry.json", errno.ENOSPC, "write", times=99), Fault("entry.lock", errno.EROFS, "create"))
    out = tmp_path / "results"
    assert main(*RUN, "--out", str(out)) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("langgan-bench: warning:")]
    assert len(warnings) == 2 and "error" not in err
    assert "entry.lock: read-only file system (EROFS); going on without the cache's lock" in warnings[0]
    assert "entry.json: no space left on the device (ENOSPC); going on without caching it" in warnings[1]
    assert fault.raised == 1 and not entry.exists() and not leftovers(tmp_path)
    assert values(out) == values(reference)


def test_the_pretrained_store_degrades_to_not_cached(tmp_path, inject, caplog):
    store = PretrainedStore(tmp_path / "pretrained", lambda msg: None)
    inject(Fault("*.lock", errno.EACCES, "create"), Fault("*.pt", errno.EDQUOT, "write"))
    trained = {"weights": {}, "progress": {}}
    with caplog.at_level(logging.WARNING):
        entry, reused = store.load_or_train("k", lambda: trained)
    assert entry is trained and not reused and not (tmp_path / "pretrained" / "k.pt").exists()
    assert not leftovers(tmp_path)
    folder = tmp_path / "pretrained"
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot write {folder / 'k.lock'}: permission denied (EACCES); going on without the cache's lock",
        f"cannot write {folder / 'k.pt'}: disk quota exceeded (EDQUOT); going on without caching it",
    ]


# --- before the run: the free-space check ----------------------------------------------------------------------


def test_a_run_that_cannot_fit_is_refused_before_anything_is_written(reference, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    monkeypatch.setattr(space, "free_bytes", lambda path: 2**20)
    assert main(*RUN, "--out", str(out)) == 2
    line = error_line(capsys.readouterr().err)
    assert "not enough free space" in line and "--no-space-check" in line and "only 1.0 MiB is free" in line
    assert not out.exists()
    # the estimate is an upper bound of what the run wrote (under the results folder)
    need = float(re.search(r"writes about ([\d.]+) MiB", line).group(1)) * 2**20
    wrote = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file())
    assert wrote <= need <= 20 * wrote
    # the override starts it anyway
    assert main(*RUN, "--no-space-check", "--out", str(out)) == 0
    assert values(out) == values(reference)


# --- the grid: a transient fault is retried once; others are recorded ------------------------------------------


def _cell(out: Path) -> RunConfig:
    return RunConfig(
        model="mle", dataset="oracle", profile="tiny", temperatures=(1.0,), out=str(out), resume=True,
        checkpoint_every_s=0.0, overrides=("training.max_epochs=1", "training.batch_size=1000"),
    )  # fmt: skip


def test_a_cell_with_a_transient_fault_is_retried_once(reference, tmp_path, inject):
    fault = inject(Fault("checkpoint.pt", errno.EIO, "write", nth=2))
    outcome = grid.run_cell(_cell(tmp_path))
    assert outcome.status == "complete" and fault.raised == 1
    assert values(tmp_path) == values(reference)
    # a fault that comes back on the retry fails the cell, with its reason
    again = inject(Fault("checkpoint.pt", errno.EIO, "write", nth=1, times=2))
    outcome = grid.run_cell(_cell(tmp_path / "b"))
    assert outcome.status == "failed" and again.raised == 2 and "input/output error (EIO)" in outcome.error


def test_a_cell_with_a_full_disk_is_failed_with_its_reason_not_retried(tmp_path, inject):
    fault = inject(Fault("checkpoint.pt", errno.ENOSPC, "write", nth=2, times=99))
    outcome = grid.run_cell(_cell(tmp_path))
    assert outcome.status == "failed" and fault.raised == 1
    assert "checkpoint.pt: no space left on the device (ENOSPC)" in outcome.error


# --- the report ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["verdicts.csv", "oracle-tiny-nll.png", "report.html"])
def test_a_report_write_refused_is_one_line(name, tmp_path, inject, capsys):
    for s in (0, 1):
        write_run(tmp_path, "mle", s, nll_curve())
        write_run(tmp_path, "gan", s, nll_curve(worse=0.3))
    # matplotlib writes a figure itself: the refusal comes when it is moved into place
    inject(Fault(name, errno.ENOSPC, "write" if name.endswith((".csv", ".html")) else "replace"))
    assert main("report", "--results", str(tmp_path)) == 2
    line = error_line(capsys.readouterr().err)
    assert name in line and "no space left on the device (ENOSPC)" in line
    assert not leftovers(tmp_path) and not list(tmp_path.rglob(".*.png"))


# --- a real full disk ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a 3 MiB tmpfs here (needs root): {proc.stderr.decode().strip()[:120]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk(small_tmpfs, capsys):
    out = small_tmpfs / "results"
    assert main(*RUN, "--out", str(out)) == 2  # refused up front: the estimate does not fit in 3 MiB
    assert "not enough free space" in error_line(capsys.readouterr().err)
    assert main(*RUN, "--no-space-check", "--out", str(out)) == 2  # forced: the disk fills up
    line = error_line(capsys.readouterr().err)
    assert "no space left on the device (ENOSPC)" in line
    assert not leftovers(small_tmpfs)
