"""``make perf``'s own bookkeeping (its timings are printed figures, never asserted)."""

from __future__ import annotations

import json
import re

import pytest

from langgan_bench.core.errors import UserError
from langgan_bench.harness.perf import REFERENCE_PEER, bench_section, peer_cells, peer_note, read_peer


def test_make_perf_lists_the_stored_runs_wall_times(tmp_path):
    """``make perf``'s last section: per dataset, profile and model, the runs' wall times from their records;
    an unfinished or damaged record is not a figure."""

    def record(name: str, seed: int, started: str, finished: str | None) -> None:
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        rec = {"run": {"dataset": "coco", "profile": "small", "model": "mle", "seed": seed}, "started": started,
               "training": {"train_seconds": 80.5}, "threads": 1}  # fmt: skip
        if finished:
            rec["finished"] = finished
        (folder / "config.json").write_text(json.dumps(rec))

    record("a", 0, "2026-12-02T13:31:34+00:00", "2026-12-02T13:35:15+00:00")  # 221 s
    record("b", 1, "2026-12-02T13:35:15+00:00", "2026-12-02T13:39:11+00:00")  # 236 s
    record("c", 2, "2026-12-02T13:39:11+00:00", None)  # still running
    (tmp_path / "runs" / "d").mkdir()
    (tmp_path / "runs" / "d" / "config.json").write_text("{not json")
    lines = bench_section(tmp_path)
    assert lines[1].split() == ["coco", "small", "mle", "2", "runs", "221-236s", "training", "<=", "80s"]
    assert lines[-1].strip() == "2 runs, 457 cell-seconds"
    assert "no finished runs" in bench_section(tmp_path / "nothing")[0]


def test_the_peer_timed_here_gives_ratios_and_the_reference_is_marked_as_another_machine(tmp_path):
    """``--peer FILE``: the peer's phases timed on this machine per instruction set; without it (or for an ISA
    the file does not name) the speed issue's figures from another machine, their ratios bracketed."""
    peer = tmp_path / "peer.json"
    peer.write_text(json.dumps({"source": "TextGAN-PyTorch 7ff8909", "native": {"mle_epoch": 7.5, "g_step": 50}}))
    here = read_peer(str(peer), "native")
    assert here.here and here.seconds == {"mle_epoch": 7.5, "g_step": 50}
    assert peer_cells(here, "g_step", 5.0) == ("50.0", "10.0x") and peer_cells(here, "d_round", 30.0) == ("", "")
    assert "timed on this machine" in peer_note(here)
    for other in (read_peer(None), read_peer(str(peer), "avx2")):
        assert other is REFERENCE_PEER and not other.here
        assert peer_cells(other, "g_step", 2.73) == ("27.3", "(10.0x)")
        assert "not this machine" in peer_note(other) and "--peer FILE" in peer_note(other)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not a JSON file"),
        ('{"native": {"g_step": 5}}', '"source"'),
        ('{"source": "x"}', "name the instruction sets"),
        ('{"source": "x", "avx512": {"g_step": 5}}', "unknown: avx512"),
        ('{"source": "x", "native": {"g_step": -1}}', "not g_step"),
        ('{"source": "x", "native": {"g_stp": 5}}', "not g_stp"),
        ('{"source": "x", "native": [5]}', "(not an object)"),
    ],
)
def test_a_bad_peer_file_is_one_line(tmp_path, content, says):
    path = tmp_path / "peer.json"
    path.write_text(content)
    with pytest.raises(UserError, match=re.escape(says)):
        read_peer(str(path))
    with pytest.raises(UserError, match="cannot read it"):
        read_peer(str(tmp_path / "missing.json"))
