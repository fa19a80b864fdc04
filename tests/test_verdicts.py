"""The matched-diversity verdicts, the intervals over seeds, load_results and the report, on analytic curves."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import langgan_bench
from langgan_bench.analysis.report import build_report, md_escape
from langgan_bench.analysis.rows import load_results
from langgan_bench.analysis.stats import per_seed, summarize, t_interval
from langgan_bench.analysis.verdicts import (
    DIVERGED,
    GAN_BETTER,
    MLE_DOMINATES,
    ONE_SEED,
    OUTSIDE,
    WITHIN_NOISE,
    Match,
    match_at,
    verdicts,
)
from langgan_bench.core.errors import UserError

from .fake_results import GRID, nll_curve, write_run

MLE_GRID = (0.3, 0.4, *GRID, 3.0)


# --- interpolation ------------------------------------------------------------------------------------


def test_match_is_linear_in_the_diversity_axis():
    # segment (d=8, q=6) at T=0.5 -> (d=7, q=7) at T=1: d=7.25 is 3/4 of the way
    m = match_at([0.5, 1.0], [8.0, 7.0], [6.0, 7.0], 7.25, lower_is_better=True)
    assert m == Match(quality=6.75, temperature=0.875)
    # exactly on a sweep point
    assert match_at([0.5, 1.0, 1.5], [8.0, 7.0, 6.0], [6.0, 7.0, 9.0], 7.0, True) == Match(7.0, 1.0)
    # the order of the points given does not matter (they are sorted by temperature)
    assert match_at([1.0, 0.5], [7.0, 8.0], [7.0, 6.0], 7.25, True) == m


def test_a_point_outside_the_baseline_range_is_never_extrapolated():
    assert match_at([0.5, 1.0], [8.0, 7.0], [6.0, 7.0], 8.01, True) is None
    assert match_at([0.5, 1.0], [8.0, 7.0], [6.0, 7.0], 6.99, True) is None
    assert match_at([], [], [], 7.0, True) is None
    # NaN points (e.g. NLL_test at greedy T = 0) are left out, not interpolated through
    assert match_at([0.0, 0.5, 1.0], [math.nan, 8.0, 7.0], [5.0, 6.0, 7.0], 8.5, True) is None


def test_non_monotone_curve_takes_the_best_crossing_on_the_same_side():
    # a U-shaped diversity axis: d falls from 9 (T=.5) to 7 (T=1), rises to 9 (T=2); quality rises with T
    temps, divs, qual = [0.5, 1.0, 2.0], [9.0, 7.0, 9.0], [6.0, 8.0, 14.0]
    # d = 8 is crossed twice: at T=.75 (q=7) and at T=1.5 (q=11); the best quality wins without a side
    assert match_at(temps, divs, qual, 8.0, lower_is_better=True) == Match(7.0, 0.75)
    assert match_at(temps, divs, qual, 8.0, lower_is_better=False) == Match(11.0, 1.5)
    # with a side, only that side of the curve's minimum counts
    assert match_at(temps, divs, qual, 8.0, True, side="low") == Match(7.0, 0.75)
    assert match_at(temps, divs, qual, 8.0, True, side="high") == Match(11.0, 1.5)
    # beyond the low side's range there is no match even though the high side reaches it
    assert match_at([0.5, 1.0, 2.0, 3.0], [9.0, 7.0, 9.0, 12.0], [6, 8, 14, 20], 10.0, True, side="low") is None


# --- intervals ------------------------------------------------------------------------------------------


def test_t_interval_matches_scipy():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    iv = t_interval(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert iv.mean == 3.0 and iv.n == 5
    assert iv.low == pytest.approx(lo, abs=1e-12) and iv.high == pytest.approx(hi, abs=1e-12)
    assert iv.half_width == pytest.approx(2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5), abs=1e-12)
    three = t_interval([0.2630, 0.2710, 0.2590])
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean([0.2630, 0.2710, 0.2590]), scale=stats.sem([0.2630, 0.2710, 0.2590]))
    assert (three.low, three.high) == pytest.approx((lo, hi), abs=1e-12)


def test_one_value_has_no_interval():
    iv = t_interval([0.5])
    assert iv.mean == 0.5 and iv.n == 1 and math.isnan(iv.half_width)


def test_summarize_is_a_groupby_over_seeds(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(noise=0.1))
    cells = summarize(load_results(tmp_path))
    c = cells[(cells.metric == "nll_oracle") & (cells.temperature == 1.0)].iloc[0]
    vals = [9.0 - 0.1, 9.0, 9.0 + 0.1]
    assert c["n"] == 3 and c["seeds"] == "0 1 2"
    assert c["mean"] == pytest.approx(9.0) and c["half_width"] == pytest.approx(t_interval(vals).half_width)


def test_a_rerun_of_a_seed_replaces_its_value(tmp_path):
    write_run(tmp_path, "mle", 0, nll_curve(worse=1.0), timestamp="2026-01-01T00:00:00+00:00")
    df = load_results(tmp_path)
    later = df.assign(value=df.value + 5, timestamp="2026-02-01T00:00:00+00:00", run_id="other")
    seeds = per_seed(pd.concat([df, later]))
    assert len(seeds) == len(df) and (seeds.value == df.value.to_numpy() + 5).all()


# --- verdicts -------------------------------------------------------------------------------------------


def _verdict(out, gan: str, pair: str = "nll_oracle @ nll_test") -> pd.Series:
    table, _ = verdicts(per_seed(load_results(out)))
    return table[(table.gan == gan) & (table.pair == pair)].iloc[0]


def test_mle_at_a_shifted_temperature_is_within_noise(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(noise=0.02), temperatures=MLE_GRID)
        write_run(tmp_path, "shifted", s, nll_curve(shift=0.8, noise=0.05))
    v = _verdict(tmp_path, "shifted")
    assert v.verdict == WITHIN_NOISE and v.n_seeds == 3 and v.points_outside == 0


def test_a_strictly_worse_generator_is_dominated(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(noise=0.02), temperatures=MLE_GRID)
        write_run(tmp_path, "worse", s, nll_curve(shift=0.9, worse=0.5, noise=0.02))
    v = _verdict(tmp_path, "worse")
    assert v.verdict == MLE_DOMINATES and v.points_compared == len(GRID)
    assert v.delta - v.delta_hw > 0 and v.delta == pytest.approx(0.5, abs=0.1)


def test_a_better_generator_is_named_with_its_temperatures(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(noise=0.02), temperatures=MLE_GRID)
        write_run(tmp_path, "better", s, nll_curve(worse=-0.5, noise=0.02), temperatures=(0.8, 1.0))
    v = _verdict(tmp_path, "better")
    assert v.verdict == GAN_BETTER and v.better_at == "T=0.8, T=1" and v.delta < 0


def test_points_outside_mles_range_are_reported_not_extrapolated(tmp_path):
    for s in (0, 1):
        # MLE swept only around T = 1: the GAN's cold points (high NLL_test on the low side) are outside
        write_run(tmp_path, "mle", s, nll_curve(noise=0.02), temperatures=(0.8, 0.9, 1.0, 1.1, 1.25))
        write_run(tmp_path, "cold", s, nll_curve(worse=0.3, noise=0.02), temperatures=(0.5, 0.9, 1.0))
    table, points = verdicts(per_seed(load_results(tmp_path)))
    status = dict(zip(points.temperature, points.status, strict=True))
    assert status == {0.5: OUTSIDE, 0.9: "compared", 1.0: "compared"}
    v = table.iloc[0]
    assert v.points_compared == 2 and v.points_outside == 1 and v.verdict == MLE_DOMINATES
    # nothing covered at all: the verdict says so
    out2 = tmp_path / "b"
    write_run(out2, "mle", 0, nll_curve(), temperatures=(1.0, 1.1))
    write_run(out2, "cold", 0, nll_curve(), temperatures=(0.5,))
    assert _verdict(out2, "cold").verdict == OUTSIDE


def test_one_seed_gives_no_verdict_and_a_diverged_gan_is_named(tmp_path):
    write_run(tmp_path, "mle", 0, nll_curve(), temperatures=MLE_GRID)
    write_run(tmp_path, "worse", 0, nll_curve(worse=0.5))
    write_run(tmp_path, "broken", 0, None, diverged_at=12)
    assert _verdict(tmp_path, "worse").verdict == ONE_SEED
    assert _verdict(tmp_path, "broken").verdict == DIVERGED


def test_fed_is_judged_at_each_models_best_temperature(tmp_path):
    def fed(offset: float):
        return lambda t, s: {"fed": 0.3 + (t - 1.0) ** 2 + offset + 0.005 * (s - 1)}

    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, fed(0.0), dataset="coco")
        write_run(tmp_path, "gan", s, fed(0.2), dataset="coco")
    v = _verdict(tmp_path, "gan", "fed")
    assert v.verdict == MLE_DOMINATES and v.gan_T == 1.0 and v.delta == pytest.approx(0.2)


def test_signatures_are_never_mixed(tmp_path):
    for s in (0, 1):
        write_run(tmp_path, "mle", s, nll_curve(), temperatures=MLE_GRID)
        write_run(tmp_path, "gan", s, nll_curve(worse=0.5), signatures={"nll_oracle": "nll_oracle|n:50|v:0"})
    table, _ = verdicts(per_seed(load_results(tmp_path)))
    # the GAN's nll_oracle was measured with another signature than MLE's: no verdict compares them
    assert set(table.verdict) == {"no MLE baseline"}


# --- load_results and the report -----------------------------------------------------------------------


def test_load_results_is_the_documented_dataframe(tmp_path):
    write_run(tmp_path, "mle", 0, nll_curve())
    df = langgan_bench.load_results(tmp_path)
    assert list(df.columns) == [
        "run_id", "dataset", "model", "seed", "profile", "temperature", "metric", "value", "signature",
        "n_samples", "git_commit", "version", "timestamp",
    ]  # fmt: skip
    assert len(df) == 2 * len(GRID) and df.value.dtype == np.float64 and df.seed.dtype == np.int64


def test_report_with_one_seed_a_diverged_run_and_two_signatures(tmp_path):
    write_run(tmp_path, "mle", 0, nll_curve(), temperatures=MLE_GRID)
    write_run(tmp_path, "gan", 0, nll_curve(worse=0.2))
    write_run(tmp_path, "gan", 1, nll_curve(worse=0.2), signatures={"nll_test": "nll_test|n:7|v:0"})
    write_run(tmp_path, "broken", 0, None, diverged_at=3)
    paths = build_report(tmp_path)
    names = {p.name for p in paths}
    assert {"verdicts.csv", "leaderboard.csv", "report.md", "report.html"} <= names
    assert {"oracle-tiny-nll-1.png", "oracle-tiny-nll-2.png"} <= names  # one figure per signature pair
    md = (tmp_path / "report" / "report.md").read_text()
    assert r"nll\_test \[1\]" in md and r"nll\_test \[2\]" in md  # two columns, never one
    assert "diverged" in md and "one seed there is no confidence interval" in md
    mle_rows = [line for line in md.splitlines() if line.startswith("| mle | 1 |")]
    assert mle_rows and not any("±" in line for line in mle_rows)  # one seed: no interval, never ± 0
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv")
    assert {"mean", "half_width", "n_seeds", "signature"} <= set(board.columns)
    verdict_csv = pd.read_csv(tmp_path / "report" / "verdicts.csv")
    assert md.index("Verdicts") < md.index("Leaderboard")  # the verdicts come first
    assert set(verdict_csv.gan) == {"gan", "broken"}


def test_html_is_self_contained(tmp_path):
    for s in (0, 1):
        write_run(tmp_path, "mle", s, nll_curve(), temperatures=MLE_GRID)
        write_run(tmp_path, "gan", s, nll_curve(worse=0.2))
    build_report(tmp_path)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64," in page
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(https?:)?//[a-z0-9]", text, flags=re.I)  # no external URL of any kind
    assert not re.search(r"<(script|link|iframe)", page, flags=re.I)


def test_values_from_files_are_escaped(tmp_path):
    evil = "<img src=x onerror=alert(1)>|[a](javascript:x)"
    write_run(tmp_path, "mle", 0, nll_curve(), signatures={"nll_test": f"nll_test|{evil}|v:0"})
    build_report(tmp_path)
    page = (tmp_path / "report" / "report.html").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "<img src=x" not in md and "[a](javascript" not in md and r"\[a\](javascript" in md
    assert md_escape("a|b <c> [d](e)") == r"a\|b &lt;c&gt; \[d\](e)"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda p: p.write_text(p.read_text().replace("7.0", "seven", 1)), "damaged"),
        (lambda p: p.write_text(p.read_text()[:-80]), "wrong number of fields"),
        (lambda p: p.write_bytes(b"\x00\xff\xfe binary"), "not UTF-8"),
        (lambda p: p.write_text(p.read_text().replace(",oracle,", ",../../x,", 1)), "not a valid name"),
    ],
)
def test_damaged_rows_are_left_out_with_a_warning(tmp_path, damage, why):
    write_run(tmp_path, "mle", 0, nll_curve())
    bad = write_run(tmp_path, "gan", 0, nll_curve(worse=1))
    damage(bad)
    warnings: list[str] = []
    build_report(tmp_path, warn=warnings.append)
    assert len(warnings) == 1 and why in warnings[0] and str(bad) in warnings[0]
    assert not list(tmp_path.parent.glob("x*")) and not (tmp_path / "x").exists()
    with pytest.raises(UserError, match=why):
        langgan_bench.analysis.rows.read_results(tmp_path)  # strict reading refuses it


def test_report_folder_problems_are_one_line_errors(tmp_path):
    write_run(tmp_path, "mle", 0, nll_curve())
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        build_report(tmp_path, blocker)
    with pytest.raises(UserError, match="not writable"):
        build_report(tmp_path, blocker / "sub")
