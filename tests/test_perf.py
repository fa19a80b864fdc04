"""``make perf``'s own bookkeeping (its timings are printed figures, never asserted)."""

from __future__ import annotations

import json

from langgan_bench.harness.perf import bench_section


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
