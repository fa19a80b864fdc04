"""Trust under damage and hostility: damaged or crafted state, bad settings, signals, concurrent runs, and a
fuzz of the command line. Every bad input or state ends with one line and exit code 2 (or a documented
rebuild), never a traceback, never code execution, never a stale "running" record.

Cheap by design: one trained run (two processes racing for it) is shared by the whole module; everything
else runs in-process, and the fuzz stays on the validation path (training is stubbed out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import io
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from langgan_bench import cli
from langgan_bench.core.cache import load_or_build
from langgan_bench.core.errors import Damaged, UserError
from langgan_bench.core.storage import load_npz, load_torch
from langgan_bench.datasets import files
from langgan_bench.harness import runner
from langgan_bench.models.training.base import TrainContext

from .conftest import REPO, rows_of
from .crash_site.sitecustomize import crash_after

RUN = ("run", "--model", "mle", "--dataset", "oracle", "--profile", "tiny", "--temperatures", "1")
# one epoch of 8 steps: the cheapest training that can still be interrupted (and resumed) in the middle
SHORT = ("--set", "training.max_epochs=1", "--set", "training.batch_size=250")


def values(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return sorted((r["model"], r["seed"], r["temperature"], r["metric"], r["value"]) for r in rows)


def main(*argv: str) -> int:
    """``langgan-bench ARGV`` in this process; argparse's exits become return codes."""
    try:
        return cli.main(list(argv))
    except SystemExit as e:
        return int(e.code or 0)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


class Payload:
    """A pickle whose loading would create ``marker``: what a hostile results folder would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Two identical runs started at once into one folder: one trains, the other is refused with one line
    (or, if it came after the first finished, redoes it); the winner is every other test's reference."""
    out = tmp_path_factory.mktemp("reference")
    threads = str(torch.get_num_threads())  # the run id holds the thread count: the same as the in-process runs'
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, "-m", "langgan_bench", *RUN, *SHORT, "--out", str(out)]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 2], [0, 0]), results
    for code, err in results:
        if code == 2:
            assert "already in progress in another process" in one_line(err)
    (run_dir,) = (out / "runs").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["status"] == "complete"
    return run_dir


def copy_run(reference: Path, tmp_path: Path, finished: bool = False) -> tuple[Path, Path]:
    """A copy of the reference run under a new results folder; unless ``finished``, made to look
    interrupted (no rows, status "interrupted") so that ``--resume`` reads its state back."""
    out = tmp_path / "results"
    run_dir = out / "runs" / reference.name
    shutil.copytree(reference, run_dir)
    if not finished:
        (run_dir / "rows.csv").unlink()
        record = json.loads((run_dir / "config.json").read_text())
        (run_dir / "config.json").write_text(json.dumps(dict(record, status="interrupted")))
    return out, run_dir


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def craft(path: Path, marker: Path) -> None:
    torch.save(Payload(marker), path)


# --- damaged and hostile run state ----------------------------------------------------------------------------
DAMAGE = {
    "truncated checkpoint": ("checkpoint.pt", truncate, "checkpoint.pt is damaged"),
    "garbage checkpoint": ("checkpoint.pt", lambda p: p.write_bytes(b"\x00garbage" * 99), "checkpoint.pt is damaged"),
    "foreign checkpoint": ("checkpoint.pt", lambda p: torch.save({"x": 1}, p), "checkpoint.pt is damaged"),
    "garbage sweep.json": ("sweep.json", lambda p: p.write_text("{not json"), "sweep.json is damaged"),
    "wrong sweep.json": ("sweep.json", lambda p: p.write_text('{"T1": [{"metric": 1}]}'), "sweep.json is damaged"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_run_state_is_refused_with_one_line(case, reference, tmp_path, capsys):
    name, damage, message = DAMAGE[case]
    out, run_dir = copy_run(reference, tmp_path)
    (run_dir / "checkpoint.prev.pt").unlink(missing_ok=True)
    damage(run_dir / name)
    before = (run_dir / "config.json").read_bytes()
    assert main(*RUN, *SHORT, "--out", str(out), "--resume") == 2
    line = one_line(capsys.readouterr().err)
    assert message in line and "rerun without --resume to restart this run" in line
    assert (run_dir / "config.json").read_bytes() == before  # refused before anything was written


def test_crafted_checkpoint_runs_nothing(reference, tmp_path, capsys):
    out, run_dir = copy_run(reference, tmp_path)
    marker = tmp_path / "pwned"
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        craft(run_dir / name, marker)
    torch.load(run_dir / "checkpoint.pt", weights_only=False)  # the file is live: unsafe loading runs it
    assert marker.exists()
    marker.unlink()
    assert main(*RUN, *SHORT, "--out", str(out), "--resume") == 2
    assert "checkpoint.pt is damaged" in one_line(capsys.readouterr().err)
    assert not marker.exists()


def test_a_damaged_last_checkpoint_resumes_from_the_previous_one(tmp_path, caplog):
    ctx = TrainContext(device=torch.device("cpu"), seed=0, checkpoint_path=tmp_path / "checkpoint.pt")
    ctx.steps = 1
    ctx.save({"w": torch.zeros(3)})
    ctx.steps = 2
    ctx.save({"w": torch.ones(3)})  # the first one is kept as checkpoint.prev.pt
    truncate(tmp_path / "checkpoint.pt")
    resumed = dataclasses.replace(ctx, resume=True, steps=0)
    with caplog.at_level(logging.WARNING, logger="langgan_bench"):  # (a warning: shown even with --quiet)
        state = resumed.restore()
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert state is not None and torch.equal(state["w"], torch.zeros(3)) and resumed.steps == 1
    assert len(logged) == 1 and "checkpoint.pt is damaged" in logged[0] and "checkpoint.prev.pt" in logged[0]


def test_a_finished_run_is_never_rewritten_by_resume(reference, tmp_path, capsys):
    out, run_dir = copy_run(reference, tmp_path, finished=True)
    truncate(run_dir / "checkpoint.pt")
    (run_dir / "sweep.json").write_text("garbage")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert main(*RUN, *SHORT, "--out", str(out), "--resume") == 0
    assert "already finished" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_crafted_and_damaged_generator_files(reference, tmp_path):
    good = runner.read_generator_file(reference / "generator.pt")
    assert good["model"] == "mle" and all(isinstance(v, torch.Tensor) for v in good["state_dict"].values())
    marker = tmp_path / "pwned"
    craft(tmp_path / "generator.pt", marker)
    with pytest.raises(UserError, match=r"generator\.pt is damaged"):
        runner.read_generator_file(tmp_path / "generator.pt")
    assert not marker.exists()


def test_result_files_have_the_checkpoints_permissions(reference):
    mode = (reference / "checkpoint.pt").stat().st_mode & 0o777
    for name in ("config.json", "rows.csv", "sweep.json", "generator.pt", "samples/T1.txt"):
        assert (reference / name).stat().st_mode & 0o777 == mode, name


# --- damaged caches are rebuilt --------------------------------------------------------------------------------
def _flip_a_byte(path: Path) -> None:
    """Flip one byte in the middle of the largest member's data (what a bad disk or copy does)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.compress_size)
    name_len, extra_len = (
        int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little"),
        int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little"),
    )
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


CACHE_DAMAGE = {
    "truncated": truncate,
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(os.urandom(512)),
    "one flipped byte": _flip_a_byte,
}


@pytest.mark.parametrize("damage", CACHE_DAMAGE)
@pytest.mark.parametrize("kind", ["synthetic splits", "judge LM", "reference embeddings"])
def test_damaged_caches_are_detected(kind, damage, tmp_path, caplog):
    from langgan_bench.datasets.oracle import load_splits
    from langgan_bench.metrics.embeddings import load_embeddings

    if kind == "judge LM":
        path, load = tmp_path / "judge.pt", load_torch
        torch.save({"out.weight": torch.randn(64, 64)}, path)
    else:
        path = tmp_path / "cache.npz"
        if kind == "synthetic splits":
            np.savez(path, train=np.zeros((10_000, 20), np.int64), valid=np.zeros((5_000, 20), np.int64),
                     test=np.ones((10_000, 20), np.int64))  # fmt: skip
            load = load_splits
        else:
            np.savez(path, embeddings=np.zeros((50, 384)))
            load = load_embeddings
    load(path)  # the intact file loads
    CACHE_DAMAGE[damage](path)
    with pytest.raises(Damaged):
        load(path)
    with caplog.at_level(logging.WARNING, logger="langgan_bench"):
        assert load_or_build(path, load, lambda: "rebuilt", lambda value, p: None) == "rebuilt"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rebuilding" in warnings[0] and not path.exists()


def test_crafted_cache_files_run_nothing(tmp_path):
    from langgan_bench.metrics.embeddings import load_embeddings

    marker = tmp_path / "pwned"
    craft(tmp_path / "judge.pt", marker)
    with pytest.raises(Damaged, match=r"judge\.pt is damaged"):
        load_torch(tmp_path / "judge.pt")
    np.savez(tmp_path / "fed.npz", embeddings=np.array([Payload(marker)], dtype=object))
    with pytest.raises(Damaged):
        load_embeddings(tmp_path / "fed.npz")
    with pytest.raises(Damaged):
        load_npz(tmp_path / "fed.npz", ["embeddings"])
    assert not marker.exists()


# --- signals ---------------------------------------------------------------------------------------------------
def test_sigint_then_sigterm_stop_cleanly_and_resume_gives_the_same_rows(reference, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    args = (*RUN, *SHORT, "--out", str(out), "--checkpoint-every", "0")
    original = TrainContext.step_done
    for sig, code, after, resume in (("INT", 130, 3, ()), ("TERM", 143, 6, ("--resume",))):
        monkeypatch.setattr(TrainContext, "step_done", original)  # (and back after the test)
        crash_after(after, sig)  # in the middle of the epoch
        assert main(*args, *resume) == code
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            f"langgan-bench: interrupted by SIG{sig}; continue with the same command and --resume"
        )
        (run_dir,) = (out / "runs").iterdir()
        assert json.loads((run_dir / "config.json").read_text())["status"] == "interrupted"
        assert not rows_of(out)
    monkeypatch.setattr(TrainContext, "step_done", original)
    assert main(*args, "--resume") == 0
    assert values(rows_of(out)) == values(rows_of(reference.parents[1]))


# --- bad input: refused before any side effect -----------------------------------------------------------------
BAD = {
    "negative lr": (("--set", "training.lr=-0.01"), "training.lr must be > 0"),
    "zero batch": (("--set", "training.batch_size=0"), "training.batch_size must be >= 1"),
    "dropout 1.5": (("--set", "generator.dropout=1.5"), "generator.dropout must be in [0, 1)"),
    "hidden 0": (("--set", "generator.hidden_dim=0"), "generator.hidden_dim must be >= 1"),
    "nan lr": (("--set", "training.lr=nan"), "training.lr must be > 0"),
    "huge seed": (("--seed", "99999999999999999999"), "a seed must be an integer in 0.."),
    "negative seed": (("--seed", "-1"), "a seed must be an integer in 0.."),
    "tiny temperature": (("--temperatures", "1e-300"), "must be 0 (greedy decoding) or a finite number in"),
    "huge temperature": (("--temperatures", "1e308"), "must be 0 (greedy decoding) or a finite number in"),
    "nan temperature": (("--temperatures", "nan"), "must be 0 (greedy decoding) or a finite number in"),
    "no temperature": (("--temperatures", ","), "--temperatures needs at least one value"),
    "nan interval": (("--checkpoint-every", "nan"), "--checkpoint-every nan: must be a finite number"),
    "negative interval": (("--checkpoint-every", "-1"), "--checkpoint-every -1.0: must be a finite number"),
    "bad device": (("--device", "meta"), "unknown device 'meta'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_settings_are_refused_before_anything_is_written(case, tmp_path, capsys):
    args, message = BAD[case]
    out = tmp_path / "new" / "results"
    assert main(*RUN, *args, "--out", str(out)) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("langgan-bench: error: ") and message in line
    assert not (tmp_path / "new").exists()  # no folder, not even an empty one


def test_unwritable_runs_folder_is_one_line_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "runs").write_text("a file where the runs folder should be")
    assert main(*RUN, *SHORT, "--out", str(out)) == 2
    assert "is not writable" in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir()) == ["runs"]


def test_a_refused_second_process_leaves_the_first_ones_folder_alone(reference, tmp_path, capsys):
    # the first process has created the run's folder and holds its lock, but has written nothing yet
    run_dir = tmp_path / "results" / "runs" / reference.name
    run_dir.mkdir(parents=True)
    with open(run_dir / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(*RUN, *SHORT, "--out", str(tmp_path / "results")) == 2
        assert "already in progress" in one_line(capsys.readouterr().err)
        assert (run_dir / ".lock").is_file()


# --- score ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "metrics", "message"),
    [
        ("a man riding a bike .\n", "self_bleu", "too few for self_bleu: they need at least 2 sentences"),
        ("a man riding a bike .\n", "reverse_lm_score", "too few for reverse_lm_score"),
        ("a man riding a bike .\n", None, "(score it with --metrics bleu,distinct,entropy,lm_score,ms_jaccard,unique)"),
        ("word " * 100_000 + "\n" + "a man .\n", "bleu", "line 1 has 100000 tokens; the limit is"),
        ("a man .\n", ",", "--metrics ',': name at least one metric"),
    ],
)
def test_score_limits(text, metrics, message, tmp_path, data_dir, capsys):
    samples = tmp_path / "samples.txt"
    samples.write_text(text)
    extra = ("--metrics", metrics) if metrics else ()
    args = ("score", "--dataset", "coco", "--profile", "tiny", "--samples", str(samples), *extra)
    assert main(*args, "--data-dir", str(data_dir)) == 2
    assert message in one_line(capsys.readouterr().err)


# --- fuzz: any command line ends in exit 0 or 2, never a traceback ----------------------------------------------
class _Accepted(Exception):
    """Raised where a run would start writing: the arguments passed every check."""


NUMBERS = st.sampled_from(["0", "1", "-1", "0.5", "1e-300", "1e308", "nan", "inf", "-inf", "", "x", "1,", ",", "2**8",
                           "99999999999999999999", "0x10", " 3 ", "1e-3", "1000", "1000.1"])  # fmt: skip
NAMES = st.sampled_from(["mle", "seqgan", "oracle", "coco", "tiny", "small", "../x", "a/b", "", ".", "..", "MLE",
                         "mle\\x", "ørácle", "oracle-seqgan", "emnlp2017"])  # fmt: skip
SETTINGS = st.sampled_from(["training.lr", "training.batch_size", "generator.dropout", "generator.hidden_dim",
                            "generator", "training", "lr", "training.lr.x", "", "pretrain.lr",
                            "discriminator.filter_sizes", "training.patience"])  # fmt: skip
OPTIONS = st.one_of(
    st.tuples(st.sampled_from(["--model", "--dataset", "--profile"]), NAMES),
    st.tuples(st.sampled_from(["--seed", "--temperatures", "--checkpoint-every"]), NUMBERS),
    st.tuples(st.just("--set"), st.builds(lambda k, v: f"{k}={v}", SETTINGS, NUMBERS)),
    st.tuples(st.just("--set"), st.text(max_size=12)),
    st.tuples(st.just("--device"), st.sampled_from(["auto", "cpu", "cuda", "cuda:7", "meta", "mps", "", "cpu:0"])),
    st.tuples(st.sampled_from(["--resume", "--bogus"])),
)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(options=st.lists(OPTIONS, max_size=6))
@example(options=[("--dataset", "emnlp2017")])  # its training file would be downloaded: stubbed, never fetched
@example(options=[("--set", "generator.hidden_dim=99999999999999999999")])  # past int64: torch's TypeError
def test_fuzz_run_arguments(options, tmp_path_factory, monkeypatch_session, data_dir):
    out = tmp_path_factory.mktemp("fuzz")
    argv = ["run", "--model", "mle", "--dataset", "oracle", "--profile", "tiny"]
    argv += [x for option in options for x in option] + ["--out", str(out), "--data-dir", str(data_dir)]
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        try:
            code = main(*argv)
        except _Accepted:
            code = 0
    err = buf.getvalue()
    assert code in (0, 2), (argv, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)
        assert not any(out.iterdir()), argv  # refused: nothing was created


@pytest.fixture(scope="module")
def monkeypatch_session():
    """Stub out everything after validation (the fuzz must never train, nor download: emnlp2017's training
    file is not in the shared data, and a run on it would fetch it)."""
    mp = pytest.MonkeyPatch()

    def accepted(*args, **kwargs):
        raise _Accepted

    mp.setattr(runner, "make_folders", accepted)
    mp.setattr(files, "fetch", accepted)
    yield mp
    mp.undo()
