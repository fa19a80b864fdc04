"""The command line end to end: a tiny run, resume after a kill, determinism, bad input, the report."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from langgan_bench.analysis.rows import FIELDS

from .conftest import REPO, cli, cli_here, rows_of
from .crash_site.sitecustomize import crash_env
from .plugin_model import QUICK_MLE, QuickMLE

TINY = ("run", "--model", "mle", "--dataset", "oracle", "--profile", "tiny")
FEW_T = ("--temperatures", "0,0.8,1,1.5")
# where the command, not the model, is under test: MLE for one epoch, as a plugin (tests/plugin_model.py)
QUICK = ("run", "--model", QUICK_MLE, "--dataset", "oracle", "--profile", "tiny")


def values(rows: list[dict[str, str]], temperatures: str | None = None) -> list[tuple[str, str, str, str, str]]:
    """The rows' numbers, sorted; only those at ``temperatures`` ("0,0.8") when given. A point's numbers do not
    depend on which other points the run sweeps (each draws with its own seed), so a run of a few temperatures
    must give the full grid's rows at those."""
    keep = None if temperatures is None else {float(t) for t in temperatures.split(",")}
    return sorted(
        (r["model"], r["seed"], r["temperature"], r["metric"], r["value"])
        for r in rows
        if keep is None or float(r["temperature"]) in keep
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    proc = cli(*TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_list_commands():
    for what, expected in (
        ("models", "mle"),
        ("datasets", "oracle-seqgan"),
        ("metrics", "nll_test"),
        ("profiles", "tiny"),
    ):
        proc = cli_here("list", what)
        assert proc.returncode == 0 and expected in proc.stdout


def test_data_info_prints_the_oracle_floor(data_dir):
    proc = cli_here("data", "info", "oracle", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    info = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.strip())
    assert info["train"] == "10000" and info["valid"] == "5000" and info["test"] == "10000"
    assert info["vocab_size"] == "5000" and info["max_len"] == "20"
    assert len(info["content_hash"]) == 64
    # the seeded oracle's own NLL of its generated test split (SeqGAN's oracle: 5.75, tests/test_oracle.py)
    floor = float(proc.stdout.split("oracle NLL")[1].split()[0])
    assert floor == pytest.approx(6.1101, abs=1e-3)


def test_tiny_run_end_to_end(tiny_run):
    out, proc = tiny_run
    (run_dir,) = (out / "runs").iterdir()
    rows = rows_of(out)
    assert list(rows[0]) == list(FIELDS)
    temps = {float(r["temperature"]) for r in rows if r["model"] == "mle"}
    # the profile's grid, plus the MLE baseline's extra temperatures (its curve must cover the GANs')
    assert temps == {0.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0} | {0.3, 0.4, 3.0}
    by = {(r["model"], float(r["temperature"]), r["metric"]): r for r in rows}
    assert ("mle", 0.0, "nll_oracle") in by and ("mle", 0.0, "nll_test") not in by  # greedy has no NLL_test
    assert ("oracle", 1.0, "nll_test") in by  # the floor, as a reference row
    floor = float(by[("oracle", 1.0, "nll_test")]["value"])
    assert floor < float(by[("mle", 1.0, "nll_test")]["value"])
    r = by[("mle", 1.0, "nll_oracle")]
    assert r["signature"].startswith("nll_oracle|oracle:oracle@") and r["n_samples"] == "500"
    assert r["profile"] == "tiny" and r["seed"] == "0" and r["git_commit"] and r["run_id"] == run_dir.name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"] == "complete" and config["device"] == "cpu"
    assert config["profile"]["name"] == "tiny" and config["seeds"]["run"] == 0
    assert config["model_config"]["generator"]["hidden_dim"] == 32
    assert config["training"]["epochs"] >= 1 and config["git_commit"]
    assert config["cpu"]["torch_isa"] and "L2" in config["cpu"]["caches"]  # what the CPU decided (float sums)
    samples = (run_dir / "samples" / "T1.txt").read_text().splitlines()
    assert len(samples) == 500 and all(len(s.split()) == 20 for s in samples)
    # stdout: a table and the paths written
    assert "nll_oracle" in proc.stdout and str(run_dir / "rows.csv") in proc.stdout
    assert "epoch 1/3" in proc.stderr


def test_same_seed_same_rows_from_a_fresh_start_and_after_kills_in_training_and_in_the_sweep(tiny_run, tmp_path):
    """The fixture's rows come from another process; here a fresh process with the same seed is killed mid-training,
    resumed, killed again once the sweep has begun and resumed again: the rows must be the same. (A fresh start
    that drew other numbers fails this as a broken resume does; that another seed gives other numbers:
    test_two_runs_into_one_results_folder_lose_no_rows.)"""
    out, _ = tiny_run
    args = (*TINY, *FEW_T, "--out", str(tmp_path))
    # killed (SIGKILL) in the middle of epoch 2, with a checkpoint after every step
    killed = cli(*args, "--checkpoint-every", "0", env=crash_env(45))
    assert killed.returncode == -signal.SIGKILL
    assert not rows_of(tmp_path)  # nothing counts as a result yet
    # resumed by a new process, which is killed in turn once the sweep has begun
    cmd = [sys.executable, "-m", "langgan_bench", *args, "--resume"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("runs/*/sweep.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    _, err = proc.communicate()
    assert "epoch 1/3" not in err and "epoch 2/3" in err  # training went on from the checkpoint
    assert not rows_of(tmp_path)
    resumed = cli_here(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch" not in resumed.stderr  # training was finished: only the missing temperatures ran
    assert values(rows_of(tmp_path)) == values(rows_of(out), FEW_T[1])


def test_two_runs_into_one_results_folder_lose_no_rows(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # two processes on a 2-core machine
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "langgan_bench",
                *QUICK,
                "--temperatures",
                "1",
                "--seed",
                str(s),
                "--out",
                str(tmp_path),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in (3, 4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    rows = rows_of(tmp_path)
    assert {r["seed"] for r in rows} == {"3", "4"}
    assert len(rows) == 2 * len([r for r in rows if r["seed"] == "3"])
    nll = {r["seed"]: r["value"] for r in rows if r["model"] == QuickMLE.name and r["metric"] == "nll_test"}
    assert len(nll) == 2 and nll["3"] != nll["4"]  # another seed, other numbers
    report = cli_here("report", "--results", str(tmp_path))
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "report" / "report.md").read_text()
    assert "±" in md  # two seeds: mean ± std


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "mlee", "--dataset", "oracle"), "unknown model 'mlee' (did you mean 'mle'?)"),
        (("--model", "mle", "--dataset", "orcale"), "unknown dataset 'orcale' (did you mean 'oracle'?)"),
        (("--model", "mle", "--dataset", "oracle", "--temperatures", "1,-0.5"), "must be a finite number >= 0"),
        (("--model", "mle", "--dataset", "oracle", "--temperatures", "1,hot"), "'hot' is not a number"),
        (("--model", "mle", "--dataset", "oracle-seqgan", "--data-dir", "/nonexistent/data"), "does not exist"),
        (("--model", "mle", "--dataset", "oracle", "--profile", "huge"), "unknown profile 'huge'"),
        (("--model", "mle", "--dataset", "oracle", "--set", "training.lrr=1"), "did you mean 'lr'?"),
        (("--model", "mle", "--dataset", "oracle", "--seed", "x"), "invalid int value"),
        (("--dataset", "oracle"), "the following arguments are required: --model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    out = tmp_path / "results"
    proc = (
        cli_here("run", "--profile", "tiny", *args, "--out", str(out))
        if "--profile" not in args
        else cli_here("run", *args, "--out", str(out))
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not list(out.glob("runs/*")) if out.exists() else True


def test_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    proc = cli_here(*TINY, "--out", str(blocker / "results"))
    assert proc.returncode == 2 and "is not writable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        proc = cli_here(*TINY, "--out", str(ro))
        assert proc.returncode == 2 and "is not writable" in proc.stderr


def test_report_files(tiny_run):
    out, _ = tiny_run
    proc = cli_here("report", "--results", str(out))
    assert proc.returncode == 0, proc.stderr
    report = out / "report"
    with open(report / "leaderboard.csv", newline="") as f:
        board = list(csv.DictReader(f))
    mle_1 = [r for r in board if r["model"] == "mle" and r["temperature"] == "1.0" and r["metric"] == "nll_test"]
    assert len(mle_1) == 1 and mle_1[0]["n_seeds"] == "1"
    own = [r for r in rows_of(out) if r["model"] == "mle" and r["temperature"] == "1.0" and r["metric"] == "nll_test"]
    assert float(mle_1[0]["mean"]) == float(own[0]["value"])
    png = report / "oracle-tiny-nll.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (report / "report.md").read_text()
    assert r"![nll\_oracle against nll\_test](oracle-tiny-nll.png)" in md
    assert "| mle | 1 |" in md and "| oracle | 1 |" in md and r"nll\_oracle\|oracle:oracle@" in md
    assert "one seed there is no confidence interval" in md  # and no ± 0
    assert "<table>" in (report / "report.html").read_text()
    assert len((report / "verdicts.csv").read_text().splitlines()) == 1  # MLE alone: a header, no verdict
    cpu = json.loads(next((out / "runs").glob("*/config.json")).read_text())["cpu"]
    assert f"CPU: {cpu['model']}, torch {cpu['torch_isa']}, {cpu['caches']}" in md  # the run's, unrestricted


def test_report_without_results_is_a_clear_error(tmp_path):
    proc = cli_here("report", "--results", str(tmp_path))
    assert proc.returncode == 2 and "no result rows" in proc.stderr
    proc = cli_here("report", "--results", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_tiny_run_on_coco_records_every_metric(tmp_path, data_dir):
    proc = cli_here(
        "run",
        "--model",
        QUICK_MLE,  # the metrics, not the model, under test
        "--dataset",
        "coco",
        "--profile",
        "tiny",
        "--temperatures",
        "0,1",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    rows = rows_of(tmp_path)
    got = {(float(r["temperature"]), r["metric"]) for r in rows}
    text_metrics = {
        "fed",
        "lm_score",
        "reverse_lm_score",
        *(f"{m}-{n}" for m in ("bleu", "self_bleu") for n in (2, 3, 4, 5)),
    }
    assert {(1.0, m) for m in text_metrics | {"nll_test"}} <= got
    assert {(0.0, m) for m in text_metrics} <= got and (0.0, "nll_test") not in got
    assert not any(r["metric"] == "nll_oracle" for r in rows)  # no oracle for real text
    by = {(float(r["temperature"]), r["metric"]): r for r in rows}
    assert float(by[(0.0, "self_bleu-2")]["value"]) == 1.0  # greedy: every sample is the same sentence
    assert "tok:13a" in by[(1.0, "bleu-5")]["signature"] and by[(1.0, "fed")]["n_samples"] == "200"
    samples = (next((tmp_path / "runs").iterdir()) / "samples" / "T1.txt").read_text().splitlines()
    assert len(samples) == 500 and not any("<pad>" in s or "<eos>" in s for s in samples)
    report = cli_here("report", "--results", str(tmp_path))
    assert report.returncode == 0, report.stderr
    for name in ("bleu", "lm", "fed"):
        assert (tmp_path / "report" / f"coco-tiny-{name}.png").is_file()
