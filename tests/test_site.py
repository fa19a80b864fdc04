"""`langgan-bench site`: several results folders merged into one static site (analysis/site.py). Runs merge by run
id; different results under one run id and metrics with several signatures are listed as conflicts and never
mixed; the site is written whole or not at all. No training: the folders are analytic curves
(tests/fake_results.py). The pages in a real browser: tests/test_browser.py."""

from __future__ import annotations

import errno
import re
import shutil

import pytest

from langgan_bench.analysis import site as site_module
from langgan_bench.analysis.report import md_escape
from langgan_bench.analysis.rows import RUNS_DIR
from langgan_bench.analysis.site import MARKER, build_site, merge_results, model_page, slug
from langgan_bench.core.errors import MachineFault
from tests.conftest import cli_here
from tests.fake_results import GRID, gan_history, mle_history, nll_curve, write_record, write_run


def folder_a(root):
    """Collaborator A: MLE and SeqGAN, seeds 0 and 1, with their histories."""
    out = root / "a"
    for s in (0, 1):
        write_run(out, "mle", s, nll_curve(), temperatures=GRID)
        write_run(out, "seqgan", s, nll_curve(worse=0.3, noise=0.01))
        write_record(out, "mle", s, *mle_history(s))
        write_record(out, "seqgan", s, *gan_history(s))
    return out


def folder_b(root, a):
    """Collaborator B: an identical copy of A's SeqGAN seed 0, RankGAN seeds 0 and 1, and a copy of A's MLE
    seed 1 whose numbers differ (another machine's result under the same run id)."""
    out = root / "b"
    shutil.copytree(a / RUNS_DIR / "oracle-seqgan-tiny-s0-fake", out / RUNS_DIR / "oracle-seqgan-tiny-s0-fake")
    for s in (0, 1):
        write_run(out, "rankgan", s, nll_curve(worse=0.1, noise=0.02))
        write_record(out, "rankgan", s, *gan_history(s))
    write_run(out, "mle", 1, nll_curve(shift=1.01), temperatures=GRID)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Folders A and B, and the site the command line builds from them (once for the tests below)."""
    root = tmp_path_factory.mktemp("site")
    a = folder_a(root)
    b = folder_b(root, a)
    return a, b, root / "site", cli_here("site", str(a), str(b), "--out", str(root / "site"))


def test_runs_merge_by_id_and_different_results_under_one_id_are_conflicts(tmp_path):
    a = folder_a(tmp_path)
    b = folder_b(tmp_path, a)
    merged = merge_results([a, b])
    assert sorted(merged.rows.run_id.unique()) == [
        "oracle-mle-tiny-s0-fake", "oracle-rankgan-tiny-s0-fake", "oracle-rankgan-tiny-s1-fake",
        "oracle-seqgan-tiny-s0-fake", "oracle-seqgan-tiny-s1-fake",
    ]  # fmt: skip
    assert len(merged.rows[merged.rows.run_id == "oracle-seqgan-tiny-s0-fake"]) == 2 * len(GRID)  # counted once
    assert merged.shared == [("oracle-seqgan-tiny-s0-fake", [a, b])]
    assert merged.folder["oracle-rankgan-tiny-s0-fake"] == b and merged.folder["oracle-seqgan-tiny-s0-fake"] == a
    ((kind, what, detail),) = [c for c in merged.conflicts if c[0] == "run id"]
    assert (kind, what) == ("run id", "oracle-mle-tiny-s1-fake")
    assert f"different results in {a}, {b}" in detail
    # NLL_oracle = 6 + 3 (1.01 T)², the largest gap at T = 2: 18 against 18.2412
    assert detail.endswith(": 18 of 18 values differ (largest: nll_oracle at T=2, 18 vs 18.2412)")
    assert [c for c in merged.conflicts if c[0] == "signatures"] == []


def test_a_copy_written_at_another_time_is_the_same_result(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    write_run(a, "mle", 0, nll_curve(), temperatures=GRID)
    write_run(b, "mle", 0, nll_curve(), temperatures=GRID, timestamp="2026-02-02T00:00:00+00:00")
    merged = merge_results([a, b])
    assert merged.conflicts == [] and [r for r, _ in merged.shared] == ["oracle-mle-tiny-s0-fake"]


def test_metrics_with_several_signatures_are_listed_and_kept_apart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for s in (0, 1):
        write_run(a, "mle", s, nll_curve(), temperatures=GRID)
        write_run(b, "seqgan", s, nll_curve(worse=0.3), signatures={"nll_test": "nll_test|n:7|v:1"})
    _, merged = build_site([a, b], tmp_path / "site")
    ((kind, what, detail),) = merged.conflicts
    assert (kind, what) == ("signatures", "oracle (tiny) nll_test")
    assert f"[1] nll_test|fake|v:0: 2 runs in {a}" in detail and f"[2] nll_test|n:7|v:1: 2 runs in {b}" in detail
    board = (tmp_path / "site" / "oracle-tiny.html").read_text()
    assert "<th scope='col'>nll_test [1]</th>" in board and "<th scope='col'>nll_test [2]</th>" in board
    assert "nll_test|n:7|v:1" in board  # the group's signature legend
    conflicts = (tmp_path / "site" / "conflicts.html").read_text()
    assert "shown as separate columns, never averaged" in conflicts


def test_the_site_has_an_index_a_page_per_board_and_per_model(built):
    _, b, out, proc = built
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == [
        "conflicts.html", "index.html", "legend.html", "oracle-tiny-mle.html", "oracle-tiny-rankgan.html",
        "oracle-tiny-seqgan.html", "oracle-tiny.html",
    ]  # fmt: skip
    assert (out / MARKER).is_file() and not list(out.parent.glob(".site.*"))
    home = (out / "index.html").read_text()
    assert "<a href='oracle-tiny.html'>oracle — profile tiny</a>" in home
    assert "Conflicts: 1 run id." in home and "<a href='conflicts.html'>" in home
    board = (out / "oracle-tiny.html").read_text()
    for name in ("oracle-tiny-nll.png", "oracle-tiny-training.png"):
        assert f"src='figures/{name}'" in board and (out / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    assert "class=sortable" in board and "<script>" in board and "http" not in board.lower()
    # MLE seed 1 is in conflict: left out of every table, so MLE has one seed
    at_one = board.split("Leaderboard at T = 1.0")[1].split("</table>")[0]  # the leaderboard at T = 1
    rows = [re.findall(r"<td(?: class=t)?>(.*?)</td>", row)[:2] for row in at_one.split("<tr>")[2:]]
    assert rows == [["mle", "1"], ["rankgan", "2"], ["seqgan", "2"]]
    model = (out / model_page("oracle", "tiny", "rankgan")).read_text()
    assert "rankgan on oracle — profile tiny" in model
    for name in ("oracle-tiny-rankgan-nll.png", "oracle-tiny-rankgan-training.png"):
        assert f"src='figures/{name}'" in model
    assert str(b) in model  # each run's results folder
    conflicts = (out / "conflicts.html").read_text()
    assert "oracle-mle-tiny-s1-fake" in conflicts and "oracle-seqgan-tiny-s0-fake" in conflicts  # conflict, shared


def test_site_from_the_command_line_reports_conflicts_on_stderr(built):
    *_, out, proc = built
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["site of 5 runs from 2 results folders, 1 conflicts", str(out / "index.html")]
    assert "conflict: run id: oracle-mle-tiny-s1-fake: different results in" in proc.stderr


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "no result rows under"),
        ("foreign", "refusing to replace"),
        ("file", "is a file; give --out a folder"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(case, message, tmp_path):
    a = tmp_path / "a"
    write_run(a, "mle", 0, nll_curve(), temperatures=GRID)
    out = tmp_path / "site"
    sources = [str(a)]
    if case == "missing":
        sources.append(str(tmp_path / "nope"))
    if case == "empty":
        (tmp_path / "empty").mkdir()
        sources.append(str(tmp_path / "empty"))
    if case == "foreign":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    if case == "file":
        out.write_text("mine")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = cli_here("site", *sources, "--out", str(out))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("langgan-bench: error: ") and message in proc.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_site_is_replaced_whole_and_a_failed_write_keeps_the_old_one(tmp_path, monkeypatch, capsys):
    a = tmp_path / "a"
    write_run(a, "mle", 0, nll_curve(), temperatures=GRID)  # one run: a site of few figures
    out = tmp_path / "site"
    build_site([a], out)
    (out / "stale.html").write_text("from an older site")
    build_site([a], out)
    assert not (out / "stale.html").exists()  # replaced whole, not written over
    first = (out / "index.html").read_text()

    real = site_module.atomic_write_text

    def full_disk(path, text, **kw):
        if path.name == "legend.html":  # the last page
            raise MachineFault(path, errno.ENOSPC)
        real(path, text, **kw)

    monkeypatch.setattr(site_module, "atomic_write_text", full_disk)
    from langgan_bench.cli import main

    assert main(["site", str(a), str(tmp_path / "b-missing-too"), "--out", str(out)]) == 2  # bad input first
    assert main(["site", str(a), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "legend.html: no space left on the device (ENOSPC)" in err[-1]
    assert (out / "index.html").read_text() == first  # the old site, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "site"]  # no partial or old folder left


def test_labels_become_safe_distinct_file_names():
    assert slug("seqgan") == "seqgan"
    odd = slug("seqgan[training.lr=0.001]")
    assert odd.startswith("seqgan_training.lr_0.001-") and odd != slug("seqgan[training.lr=0.002]")
    assert "/" not in slug("../../etc") and slug("../../etc") != "etc"
    assert md_escape("a|b") == r"a\|b"  # tables stay tables
