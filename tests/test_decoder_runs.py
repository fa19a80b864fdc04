"""Decoders in a run: the rows they add (decoder and knob columns, NLL_test where the decoder has a density,
decoding time and acceptance), resume after an interruption at every decoder, old rows files, bad grids."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from langgan_bench import cli
from langgan_bench.analysis.rows import FIELDS, OLD_FIELDS, read_rows_file
from langgan_bench.core.profiles import PROFILES
from langgan_bench.harness import runner

from .conftest import rows_of

GRID = "top_k=5;top_p=0.9;beam=2;gen_reject=-12,-1;disc_reject=0.3"
RUN = ("run", "--model", "mle", "--dataset", "oracle", "--profile", "tiny", "--temperatures", "1", "--decoders", GRID)
SHORT = ("--set", "training.max_epochs=1", "--set", "training.batch_size=250")


def main(*argv: str) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as e:
        return int(e.code or 0)


def values(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return sorted((r["model"], r["decoder"], r["knob"], r["temperature"], r["metric"], r["value"]) for r in rows)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("decoders")
    assert main(*RUN, *SHORT, "--out", str(out)) == 0
    return out


def test_every_point_names_its_decoder_and_knob(reference):
    rows = [r for r in rows_of(reference, measured=True) if r["model"] != "oracle"]
    assert list(rows[0]) == list(FIELDS)
    points = {(r["decoder"], float(r["knob"])) for r in rows}
    assert points == {
        ("temperature", 1.0), ("top_k", 5.0), ("top_p", 0.9), ("beam", 2.0), ("gen_reject", -12.0),
        ("gen_reject", -1.0), ("disc_reject", 0.3),
    }  # fmt: skip
    for r in rows:  # a temperature row keeps its temperature; the other decoders' rows have none
        assert (r["temperature"] == r["knob"]) if r["decoder"] == "temperature" else (r["temperature"] == "nan")
    # gen_reject -1 keeps nothing within its budget: its decoding time and acceptance, and no sample metric
    assert {r["metric"] for r in rows if r["knob"] == "-1.0"} == {"decode_time", "acceptance_rate"}
    assert [r["value"] for r in rows if r["knob"] == "-1.0" and r["metric"] == "acceptance_rate"] == ["0.0"]
    rows = [r for r in rows if r["knob"] != "-1.0"]
    by = {(r["decoder"], r["metric"]): r for r in rows}
    # NLL_test where the decoder has a density (renormalised truncation: infinite once a test token is outside,
    # and the share outside says so), none for beam search and rejection
    assert math.isfinite(float(by[("temperature", "nll_test")]["value"]))
    for d in ("top_k", "top_p"):
        nll, outside = float(by[(d, "nll_test")]["value"]), float(by[(d, "nll_test_outside")]["value"])
        assert (math.isinf(nll) and 0 < outside < 1) or (math.isfinite(nll) and outside == 0)
        assert by[(d, "nll_test")]["signature"] == by[("temperature", "nll_test")]["signature"]
    for d in ("beam", "gen_reject", "disc_reject"):
        assert (d, "nll_test") not in by and (d, "nll_oracle") in by
    # decoding time at every point, on the device and thread count it was measured with; acceptance of rejection
    times = {d: r for (d, m), r in by.items() if m == "decode_time"}
    assert set(times) == {d for d, _ in points} and all(0 < float(r["value"]) < math.inf for r in times.values())
    assert all("|device:cpu:" in r["signature"] and "|threads:" in r["signature"] for r in times.values())
    assert {d for d, m in by if m == "acceptance_rate"} == {"gen_reject", "disc_reject"}
    assert 0 < float(by[("gen_reject", "acceptance_rate")]["value"]) <= 1
    (run_dir,) = (reference / "runs").iterdir()
    names = {p.name for p in (run_dir / "samples").iterdir()}
    assert names == {"T1.txt", "top_k=5.txt", "top_p=0.9.txt", "beam=2.txt", "gen_reject=-12.txt", "gen_reject=-1.txt",
                     "disc_reject=0.3.txt"}  # fmt: skip
    record = json.loads((run_dir / "config.json").read_text())
    assert record["decoders"] == {"top_k": [5.0], "top_p": [0.9], "beam": [2.0], "gen_reject": [-12.0, -1.0],
                                  "disc_reject": [0.3]}  # fmt: skip
    assert set(record["seeds"]["samples"]) == {n.removesuffix(".txt") for n in names}
    assert (run_dir / "disc_reject.pt").is_file()


def test_a_sweep_interrupted_at_every_decoder_resumes_to_the_same_rows(reference, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real, seen = runner.evaluate, set()

    def interrupting(*args, **kwargs):
        decoder = args[3][0]
        if decoder not in seen:  # the first point of each decoder: stop there once
            seen.add(decoder)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "evaluate", interrupting)
    codes = [main(*RUN, *SHORT, "--out", str(out))]
    while codes[-1] != 0 and len(codes) < 10:
        codes.append(main(*RUN, *SHORT, "--out", str(out), "--resume"))
    assert codes == [130] * 6 + [0] and seen == {"temperature", "top_k", "top_p", "beam", "gen_reject", "disc_reject"}
    assert values(rows_of(out)) == values(rows_of(reference))


def test_rows_files_from_before_decoders_still_load(tmp_path):
    path = tmp_path / "rows.csv"
    old = ",".join(OLD_FIELDS) + "\n" + "r1,oracle,mle,0,tiny,0.7,nll_test,7.5,nll_test|v:0.5.0,500,abc,0.5.0,t\n"
    old += "r1,oracle,gan,0,tiny,nan,diverged_at_step,3.0,diverged|reason:nan,0,abc,0.5.0,t\n"
    path.write_text(old)
    a, b = read_rows_file(path)
    assert (a.decoder, a.knob, a.temperature) == ("temperature", 0.7, 0.7)
    assert b.decoder == "temperature" and math.isnan(b.knob) and math.isnan(b.temperature)


def test_the_small_profile_adds_top_k_and_top_p_for_mle_only():
    small = PROFILES.get("small")
    assert [d for d, _ in small.decoders_for("mle")] == ["top_k", "top_p"]
    assert all(len(knobs) == 3 for _, knobs in small.decoders_for("mle"))
    assert small.decoders_for("seqgan") == () and PROFILES.get("tiny").decoders_for("mle") == ()
    assert small.resolve_decoders((("beam", ()),), "seqgan") == (("beam", small.grid_of("beam")),)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--decoders", "top_p=1.5"), "top_p p 1.5 must lie in (0, 1]"),
        (("--decoders", "nucleus=0.9"), "unknown decoder 'nucleus'"),
        (("--decoders", "temperature=0.5"), "--temperatures"),
    ],
)
def test_bad_decoders_are_one_line_errors_before_anything_is_written(args, why, tmp_path, capsys):
    assert (
        main("run", "--model", "mle", "--dataset", "oracle", "--profile", "tiny", *args, "--out", str(tmp_path / "o"))
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("langgan-bench: error: ") and why in err[0]
    assert not (tmp_path / "o").exists()
