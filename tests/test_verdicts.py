"""The matched-diversity verdicts, the intervals over seeds, load_results and the report, on analytic curves."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import langgan_bench
from langgan_bench.analysis.report import SORT_SCRIPT, build_report, md_escape
from langgan_bench.analysis.rows import load_results
from langgan_bench.analysis.stats import per_seed, summarize, t_interval
from langgan_bench.analysis.verdicts import (
    COMPARED,
    DIVERGED,
    GAN_BETTER,
    LESS_DIVERSE,
    MLE_DOMINATES,
    MORE_DIVERSE,
    ONE_SEED,
    OUTSIDE,
    WITHIN_NOISE,
    Frontier,
    Judged,
    MetricPair,
    frontier_at,
    frontier_curve,
    judge,
    outside,
    verdicts,
)
from langgan_bench.core.errors import UserError

from .fake_results import GRID, nll_curve, write_run

MLE_GRID = (0.3, 0.4, *GRID, 3.0)


# --- MLE's frontier ------------------------------------------------------------------------------------

# A U-shaped diversity axis (NLL_test falls from 9 at T=.5 to 7 at T=1 and rises to 9 at T=2) with quality
# (NLL_oracle) rising with T: the hot branch is dominated by the cold one. Both axes: lower is better.
U_T, U_D, U_Q = [0.5, 1.0, 2.0], [9.0, 7.0, 9.0], [6.0, 8.0, 14.0]
NLL_PAIR = MetricPair("nll_oracle", True, "nll_test", True)


def test_the_frontier_of_a_u_shaped_curve_by_hand():
    # d = 8 is crossed twice: T=.75 (q=7) and T=1.5 (q=11); T=1 (d=7, q=8) is more diverse too: the best is 7
    assert frontier_at(U_T, U_D, U_Q, 8.0, True) == Frontier(7.0, 0.75)
    # d = 8.5: cold crossing at T=.625 (q=6.5), hot crossing at T=1.75 (q=12.5): the cold branch wins
    assert frontier_at(U_T, U_D, U_Q, 8.5, True) == Frontier(6.5, 0.625)
    # on a swept point, and between two swept temperatures (linear in the diversity axis)
    assert frontier_at(U_T, U_D, U_Q, 7.0, True) == Frontier(8.0, 1.0)
    assert frontier_at([0.5, 1.0], [8.0, 7.0], [6.0, 7.0], 7.25, True) == Frontier(6.75, 0.875)
    # the order the points come in does not matter; greedy (T = 0) and NaN points are left out
    assert frontier_at(U_T[::-1], U_D[::-1], U_Q[::-1], 8.5, True) == Frontier(6.5, 0.625)
    assert frontier_at([0.0, *U_T, 3.0], [9.5, *U_D, math.nan], [1.0, *U_Q, 2.0], 8.5, True) == Frontier(6.5, 0.625)
    # beyond the diverse end there is no frontier; beyond the other end it is MLE's best point, flagged
    assert frontier_at(U_T, U_D, U_Q, 6.99, True) is None
    assert frontier_at(U_T, U_D, U_Q, 9.5, True) == Frontier(6.0, 0.5, below_range=True)
    assert frontier_at([], [], [], 7.0, True) is None
    # the polyline the plots draw is Q* itself
    xs, qs = frontier_curve(U_D, U_Q, U_T, True, n=5)
    assert list(xs) == [7.0, 7.5, 8.0, 8.5, 9.0] and list(qs) == [8.0, 7.5, 7.0, 6.5, 6.0]


def test_a_gan_point_dominated_only_through_mles_other_branch():
    # (8.5, 10) beats MLE's hot branch there (12.5) but the cold branch reaches 6.5 at that NLL_test or better
    j = judge(U_T, U_D, U_Q, 8.5, 10.0, NLL_PAIR)
    assert j == Judged(COMPARED, delta=3.5, mle_quality=6.5, mle_T=0.625)
    # on the cold branch, slightly worse than MLE's curve: Δ = 7.5 − 7
    assert judge(U_T, U_D, U_Q, 8.0, 7.5, NLL_PAIR).delta == 0.5


def test_points_beyond_either_end():
    assert judge(U_T, U_D, U_Q, 6.5, 20.0, NLL_PAIR).status == outside(MORE_DIVERSE)  # more diverse than all
    assert judge(U_T, U_D, U_Q, 10.0, 5.5, NLL_PAIR).status == outside(LESS_DIVERSE)  # less diverse, better
    # less diverse than every MLE point but worse than MLE's best point: dominated wherever it lies
    assert judge(U_T, U_D, U_Q, 10.0, 6.5, NLL_PAIR) == Judged(COMPARED, 0.5, 6.0, 0.5)


def test_higher_is_better_axes():
    # precision @ recall, both higher is better: T=.5 (0.2, 0.9), T=1 (0.6, 0.7), T=2 (0.8, 0.3)
    t, recall, precision = [0.5, 1.0, 2.0], [0.2, 0.6, 0.8], [0.9, 0.7, 0.3]
    pr = MetricPair("precision", False, "recall", False)
    f = frontier_at(t, recall, precision, 0.5, quality_lower_is_better=False, diversity_lower_is_better=False)
    assert f == Frontier(pytest.approx(0.75), pytest.approx(0.875))
    assert judge(t, recall, precision, 0.5, 0.8, pr).delta == pytest.approx(-0.05)  # above the frontier
    assert judge(t, recall, precision, 0.7, 0.4, pr).delta == pytest.approx(0.1)  # MLE's 0.5 at recall 0.7
    assert judge(t, recall, precision, 0.9, 0.1, pr).status == outside(MORE_DIVERSE)
    assert judge(t, recall, precision, 0.1, 0.95, pr).status == outside(LESS_DIVERSE)
    # the same curve with both axes negated and declared lower-is-better gives the same Δ everywhere
    neg = MetricPair("q", True, "d", True)
    for d, q in [(0.5, 0.8), (0.7, 0.4), (0.3, 0.5)]:
        a = judge(t, recall, precision, d, q, pr)
        b = judge(t, [-x for x in recall], [-x for x in precision], -d, -q, neg)
        assert a.delta == pytest.approx(b.delta) and a.mle_T == pytest.approx(b.mle_T)
    # BLEU-5 (higher is better) @ Self-BLEU-5 (lower is better)
    bleu = MetricPair("bleu-5", False, "self_bleu-5", True)
    assert judge([0.5, 1.0], [0.9, 0.5], [0.4, 0.2], 0.7, 0.25, bleu).delta == pytest.approx(0.05)


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


def test_mles_curve_made_worse_on_both_axes_is_dominated_even_at_its_hot_end(tmp_path):
    # every point of this model is an MLE point pushed worse on both axes (the same temperatures): matched on
    # MLE's hot branch alone its hot points would look better; against the frontier MLE's cold branch wins
    def worse(t: float, s: int) -> dict[str, float]:
        v = nll_curve(noise=0.02)(t, s)
        return {"nll_oracle": v["nll_oracle"] + 0.1, "nll_test": v["nll_test"] + 0.1}

    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(noise=0.02), temperatures=MLE_GRID)
        write_run(tmp_path, "worse", s, worse, temperatures=MLE_GRID)
    v = _verdict(tmp_path, "worse")
    assert v.verdict == MLE_DOMINATES and v.better_at == "" and v.points_outside == 0
    assert v.frontier_gap - v.frontier_gap_hw > 0.1  # hot points fall short by far more than the 0.1 shift


def test_the_frontier_gap_is_the_mean_delta_over_compared_points(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(), temperatures=MLE_GRID)
        write_run(tmp_path, "gan", s, nll_curve(worse=0.2 + 0.1 * s), temperatures=(0.5, 0.8, 1.0))
    table, points = verdicts(per_seed(load_results(tmp_path)))
    v = table.iloc[0]
    # the GAN's cold points lie on MLE's sweep points (same T, same NLL_test): Δ is exactly the offset
    assert v.points_compared == 3 and list(points.delta) == pytest.approx([0.3] * 3)
    assert v.frontier_gap == pytest.approx(0.3) and v.frontier_gap_hw == pytest.approx(
        t_interval([0.2, 0.3, 0.4]).half_width
    )
    assert v.verdict == MLE_DOMINATES and v.closest_T in {"0.5", "0.8", "1"} and v.mle_T == v.closest_T


def test_gans_are_sorted_by_frontier_gap(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "mle", s, nll_curve(noise=0.01), temperatures=MLE_GRID)
        write_run(tmp_path, "far", s, nll_curve(worse=0.9, noise=0.01))
        write_run(tmp_path, "near", s, nll_curve(worse=0.3, noise=0.01))
    table, _ = verdicts(per_seed(load_results(tmp_path)))
    assert list(table.gan) == ["near", "far"] and table.frontier_gap.is_monotonic_increasing


# --- properties: a curve no better than MLE's is never "better"; one better everywhere never "dominated" ---

_curve = st.lists(
    st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 10.0)), min_size=2, max_size=7
)  # (diversity, quality) per swept temperature, in any shape: U-shaped, monotone, zig-zag
_shift = st.floats(0.0, 2.0)


def _rows(curves: dict[str, list[list[tuple[float, float]]]], pair: MetricPair) -> pd.DataFrame:
    """Per-seed rows of ``{model: [per-seed [(diversity, quality) per temperature]]}``."""
    rows = []
    for model, seeds in curves.items():
        for seed, pts in enumerate(seeds):
            for i, (d, q) in enumerate(pts):
                for metric, v in ((pair.quality, q), (pair.diversity, d)):
                    rows.append(("oracle", "tiny", model, seed, 0.5 + 0.25 * i, metric, v, f"{metric}|x"))
    return pd.DataFrame(
        rows, columns=["dataset", "profile", "model", "seed", "temperature", "metric", "value", "signature"]
    )


def _property_verdict(mle, gan, pair: MetricPair) -> str:
    table, _ = verdicts(_rows({"mle": mle, "gan": gan}, pair), pairs=[pair])
    return table.iloc[0].verdict


def _toward(value: float, by: float, lower_is_better: bool, worse: bool) -> float:
    return value + (by if lower_is_better == worse else -by)


PROPERTY_PAIRS = [MetricPair("nll_oracle", True, "nll_test", True), MetricPair("precision", False, "recall", False)]


@settings(max_examples=60, deadline=None)
@given(
    curve=_curve,
    noise=st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3),
    shifts=st.lists(st.tuples(_shift, _shift), min_size=7, max_size=7),
    along=st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6),
    pair=st.sampled_from(PROPERTY_PAIRS),
)
def test_a_curve_equal_to_mles_or_worse_is_never_better(curve, noise, shifts, along, pair):
    # per seed: MLE's curve (moved by a seed offset); the GAN's points are MLE's swept points and points on its
    # segments, each pushed worse on both axes by its own amount (zero included: equal to MLE's curve)
    mle, gan = [], []
    for off in noise:
        m = [(d + off, q + off) for d, q in curve]
        segments = zip(itertools.pairwise(m), along, strict=False)
        on = [*m, *((d0 + w * (d1 - d0), q0 + w * (q1 - q0)) for ((d0, q0), (d1, q1)), w in segments)]
        g = [
            (_toward(d, a, pair.diversity_lower_is_better, True), _toward(q, b, pair.quality_lower_is_better, True))
            for (d, q), (a, b) in zip(on, shifts * 2, strict=False)
        ]
        mle.append(m)
        gan.append(g)
    assert _property_verdict(mle, gan, pair) != GAN_BETTER
    assert _property_verdict(mle, [list(m) for m in mle], pair) not in (GAN_BETTER, MLE_DOMINATES)


@settings(max_examples=60, deadline=None)
@given(
    curve=_curve,
    noise=st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3),
    a=st.floats(0.01, 2.0),
    b=st.floats(0.01, 2.0),
    pair=st.sampled_from(PROPERTY_PAIRS),
)
def test_mles_curve_shifted_better_on_both_axes_is_never_dominated(curve, noise, a, b, pair):
    mle = [[(d + off, q + off) for d, q in curve] for off in noise]
    gan = [
        [
            (_toward(d, a, pair.diversity_lower_is_better, False), _toward(q, b, pair.quality_lower_is_better, False))
            for d, q in m
        ]
        for m in mle
    ]
    assert _property_verdict(mle, gan, pair) != MLE_DOMINATES


def test_points_outside_mles_range_are_reported_not_extrapolated(tmp_path):
    for s in (0, 1):
        # MLE swept only around T = 1: the GAN's cold points (high NLL_test on the low side) are outside
        write_run(tmp_path, "mle", s, nll_curve(noise=0.02), temperatures=(0.8, 0.9, 1.0, 1.1, 1.25))
        write_run(tmp_path, "cold", s, nll_curve(worse=0.3, noise=0.02), temperatures=(0.5, 0.9, 1.0))
    table, points = verdicts(per_seed(load_results(tmp_path)))
    status = dict(zip(points.temperature, points.status, strict=True))
    assert status == {0.5: outside(LESS_DIVERSE), 0.9: COMPARED, 1.0: COMPARED}
    v = table.iloc[0]
    # MLE is better at both compared points, but no MLE point beats the one beyond its cold end: not "dominates"
    assert v.points_compared == 2 and v.points_outside == 1 and v.verdict == OUTSIDE
    assert v.outside_at == "T=0.5 (less diverse)" and v.delta - v.delta_hw > 0
    # the same GAN against MLE swept wide enough: every point compared, and dominated
    wide = tmp_path / "wide"
    for s in (0, 1):
        write_run(wide, "mle", s, nll_curve(noise=0.02), temperatures=MLE_GRID)
        write_run(wide, "cold", s, nll_curve(worse=0.3, noise=0.02), temperatures=(0.5, 0.9, 1.0))
    assert _verdict(wide, "cold").verdict == MLE_DOMINATES
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
    assert v.verdict == MLE_DOMINATES and v.closest_T == "1" and v.delta == pytest.approx(0.2)
    assert v.frontier_gap == v.delta


def test_fed_lists_each_seeds_best_temperature(tmp_path):
    for s in (0, 1, 2):
        best = (0.9, 1.0, 1.1)[s]
        write_run(tmp_path, "mle", s, lambda t, _s: {"fed": 0.3 + (t - 1.0) ** 2}, dataset="coco")
        write_run(tmp_path, "gan", s, lambda t, _s, b=best: {"fed": 0.5 + (t - b) ** 2}, dataset="coco")
    v = _verdict(tmp_path, "gan", "fed")
    assert v.closest_T == "0.9, 1, 1.1" and v.mle_T == "1"


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
        "n_samples", "git_commit", "version", "timestamp", "decoder", "knob",
    ]  # fmt: skip
    assert (df.decoder == "temperature").all() and (df.knob == df.temperature).all()
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
    assert not re.search(r"<(link|iframe)|<script[^>]", page, flags=re.I)  # nothing loaded from elsewhere
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert scripts == [SORT_SCRIPT]  # the one inline script: it sorts tables, nothing else


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


# --- decoders: the same machinery on other curves ----------------------------------------------------------------


def at_temperature(to_t, shift: float = 1.0, worse: float = 0.0, noise: float = 0.0):
    """A decoder whose knob k draws like MLE at temperature ``to_t(k)`` (its points on MLE's curve), made
    ``worse`` on the quality axis (negative: better)."""
    base = nll_curve(shift=shift, worse=worse, noise=noise)
    return lambda k, seed: base(to_t(k), seed)


TOP_P = (0.5, 0.8, 0.9, 0.95)
#: a knob drawing as MLE at a swept temperature (between two swept T the true curve beats MLE's chord)
ON_GRID = {0.5: 0.5, 0.8: 0.7, 0.9: 0.8, 0.95: 0.9}


def write_mle_with(out, decoders, seeds=(0, 1, 2), noise=0.02):
    for s in seeds:
        write_run(out, "mle", s, nll_curve(noise=noise), temperatures=MLE_GRID, decoders=decoders)


def test_a_decoder_on_mles_own_curve_never_beats_the_temperature(tmp_path):
    from langgan_bench.analysis.verdicts import decoder_verdicts

    # the nucleus draws as MLE at a swept temperature of the cold branch: its points lie on MLE's frontier
    write_mle_with(tmp_path, {"top_p": (TOP_P, at_temperature(ON_GRID.get, noise=0.02))})
    table, points = decoder_verdicts(per_seed(load_results(tmp_path)))
    row = table[table.pair == "nll_oracle @ nll_test"].iloc[0]
    assert (row.model, row.decoder) == ("mle", "top_p")
    assert row.verdict == WITHIN_NOISE and abs(row.frontier_gap) < 1e-9
    assert set(points.decoder) == {"top_p"} and set(points.knob) == set(TOP_P) and points.temperature.isna().all()


def test_a_better_and_a_worse_decoder_by_the_same_verdicts(tmp_path):
    from langgan_bench.analysis.verdicts import decoder_verdicts

    write_mle_with(
        tmp_path,
        {
            "top_p": (TOP_P, at_temperature(ON_GRID.get, worse=-0.5)),  # better quality at the same diversity
            "gen_reject": ((-8.0, -6.0, -4.0), at_temperature({-8: 0.4, -6: 0.5, -4: 0.7}.get, worse=0.5)),
            "top_k": ((1.0, 10.0, 100.0), at_temperature({1: 0.3, 10: 0.8, 100: 1.0}.get, worse=0.4)),  # 1: greedy
        },
    )
    table, points = decoder_verdicts(per_seed(load_results(tmp_path)))
    nll = table[table.pair == "nll_oracle @ nll_test"].set_index("decoder")
    assert nll.loc["top_p"].verdict == "decoder better somewhere"
    assert nll.loc["top_p"].better_at == "top_p=0.5, top_p=0.8, top_p=0.9, top_p=0.95"
    assert nll.loc["top_p"].frontier_gap == pytest.approx(-0.5, abs=1e-9)
    assert nll.loc["gen_reject"].verdict == "temperature dominates"
    assert nll.loc["gen_reject"].frontier_gap == pytest.approx(0.5, abs=1e-9)
    assert nll.loc["gen_reject"].closest_T in {"-8", "-6", "-4"}
    assert nll.loc["top_k"].verdict == "temperature dominates" and nll.loc["top_k"].points_compared == 2
    assert set(points[points.decoder == "top_k"].knob) == {10.0, 100.0}  # the greedy point is not judged


def test_gans_against_mles_best_decoder_beside_the_temperature_verdict(tmp_path):
    from langgan_bench.analysis.verdicts import best_decoder_verdicts

    for s in (0, 1, 2):
        write_run(tmp_path, "gan", s, nll_curve(worse=0.2, noise=0.02))
    write_mle_with(tmp_path, {"top_p": (TOP_P, at_temperature(ON_GRID.get, worse=-0.5))})
    seeds = per_seed(load_results(tmp_path))
    plain, _ = verdicts(seeds)
    best, points = best_decoder_verdicts(seeds)
    p = plain[plain.pair == "nll_oracle @ nll_test"].iloc[0]
    b = best[best.pair == "nll_oracle @ nll_test"].iloc[0]
    assert (b.gan, b.decoder) == ("gan", "temperature") and p.verdict == b.verdict == MLE_DOMINATES
    assert b.frontier_gap > p.frontier_gap + 0.1  # MLE's nucleus curve lies below its temperature curve
    assert set(points.gan) == {"gan"} and points.mle_T.str.contains("top_p=").any()
    # only the temperature: no best-decoder verdict to add
    only_t = tmp_path / "only_t"
    for s in (0, 1):
        write_run(only_t, "mle", s, nll_curve(), temperatures=MLE_GRID)
        write_run(only_t, "gan", s, nll_curve(worse=0.2))
    assert best_decoder_verdicts(per_seed(load_results(only_t)))[0].empty


def with_time(curve, seconds: float):
    """``curve`` with a decoding time per 1,000 sentences at every point."""
    return lambda k, seed: {**curve(k, seed), "decode_time": seconds * (1 + k / 10)}


def test_the_report_with_decoders_and_from_rows_without_them(tmp_path):
    for s in (0, 1, 2):
        write_run(tmp_path, "gan", s, nll_curve(worse=0.2, noise=0.02))
    write_mle_with(
        tmp_path,
        {
            "top_p": (TOP_P, with_time(at_temperature(ON_GRID.get, worse=-0.5), 0.8)),
            "beam": ((1.0, 2.0, 4.0), with_time(at_temperature({1: 0.5, 2: 0.4, 4: 0.3}.get, worse=0.3), 5.0)),
        },
    )
    names = {p.name for p in build_report(tmp_path)}
    assert {"decoder_verdicts.csv", "verdicts_best_decoder.csv", "verdict_points_best_decoder.csv"} <= names
    assert {"oracle-tiny-decoders-mle-nll.png", "oracle-tiny-decode-time-nll_oracle.png"} <= names
    md = (tmp_path / "report" / "report.md").read_text()
    assert md.index("Verdicts") < md.index("Against MLE's best decoder") < md.index("Decoders: does decoder X")
    assert "decoder better somewhere (top\\_p=0.5" in md
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv")
    assert {"decoder", "knob"} <= set(board.columns) and set(board.decoder) == {"temperature", "top_p", "beam"}
    at_one = md.split("Leaderboard at T = 1.0")[1].split("\n\n")[1]
    assert "decode\\_time" not in at_one  # the temperature tables hold the samples' metrics of temperature rows
    # the same verdicts from rows files written before decoders existed (their two columns cut off)
    old = tmp_path / "old"
    for s in (0, 1, 2):
        write_run(old, "gan", s, nll_curve(worse=0.2, noise=0.02))
        write_run(old, "mle", s, nll_curve(noise=0.02), temperatures=MLE_GRID)
    for path in old.glob("runs/*/rows.csv"):
        lines = path.read_text().splitlines()
        path.write_text("".join(",".join(line.split(",")[:-2]) + "\n" for line in lines))
    names = {p.name for p in build_report(old)}
    assert "decoder_verdicts.csv" not in names and "verdicts.csv" in names
    plain = pd.read_csv(tmp_path / "report" / "verdicts.csv")
    again = pd.read_csv(old / "report" / "verdicts.csv")
    pd.testing.assert_frame_equal(plain, again)
