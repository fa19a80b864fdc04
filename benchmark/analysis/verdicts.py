"""The matched-diversity verdict: does a GAN beat MLE once MLE's temperature is tuned to the same diversity?

"Language GANs Falling Short" (Caccia et al., ICLR 2020): compare models at matched diversity, never at one
temperature. For each GAN, each seed and each (quality, diversity) pair of metrics, every temperature point of
the GAN is matched to MLE's temperature curve (same dataset, profile, seed and signatures) at the GAN's
diversity value, piecewise-linearly in the diversity axis, and

    Δ = quality(MLE at matched diversity) − quality(GAN),  signed so that Δ > 0 means MLE is better.

A GAN point whose diversity lies outside the range MLE's sweep covers is "outside MLE's range", never
extrapolated. Curves need not be monotone: NLL_test is U-shaped in T (too cold drops modes, too hot spreads
mass everywhere), so one NLL_test value is reached once on each side of the curve's minimum, by two very
different models. A GAN point is therefore matched only on the same side of MLE's curve as it lies on its
own (at or below the temperature of its own curve's minimum, or above it); where several segments of that
side still cross its diversity, MLE is taken at the best of them, since the baseline is *MLE with a tuned
temperature*. Δ is computed per seed, then its 95% Student-t interval over seeds decides:

- **MLE dominates**: the interval of Δ lies above 0 at every GAN point that MLE covers;
- **GAN better somewhere**: it lies below 0 at some point (the temperatures are named);
- **within noise**: otherwise.

FED has no diversity partner, so its verdict compares each model at its own best temperature (per seed).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from langgan_bench.analysis.rows import ORACLE_MODEL
from langgan_bench.analysis.stats import t_interval
from langgan_bench.core.profiles import BASELINE_MODEL

BASELINE = BASELINE_MODEL
Side = Literal["low", "high"]

MLE_DOMINATES = "MLE dominates"
GAN_BETTER = "GAN better somewhere"
WITHIN_NOISE = "within noise"
OUTSIDE = "outside MLE's range"
ONE_SEED = "one seed: no interval"
NO_BASELINE = "no MLE baseline"
DIVERGED = "diverged"


@dataclass(frozen=True)
class MetricPair:
    """A quality metric and the diversity metric it trades against (None: a metric judged on its own)."""

    quality: str
    quality_lower_is_better: bool
    diversity: str | None = None

    @property
    def name(self) -> str:
        return self.quality if self.diversity is None else f"{self.quality} @ {self.diversity}"


#: The pairs judged wherever both metrics exist: synthetic (nll_oracle, nll_test); text (bleu-5, self_bleu-5),
#: (lm_score, reverse_lm_score) and fed alone. Every diversity axis here is "lower = more diverse / better
#: coverage"; the direction only matters for quality, which decides the sign of Δ.
PAIRS: tuple[MetricPair, ...] = (
    MetricPair("nll_oracle", True, "nll_test"),
    MetricPair("bleu-5", False, "self_bleu-5"),
    MetricPair("lm_score", True, "reverse_lm_score"),
    MetricPair("fed", True),
)


@dataclass(frozen=True)
class Match:
    """MLE's quality at a diversity value, and the temperature there (linear between two sweep points)."""

    quality: float
    temperature: float


def match_at(
    temperatures: Sequence[float],
    diversity: Sequence[float],
    quality: Sequence[float],
    x: float,
    lower_is_better: bool,
    side: Side | None = None,
) -> Match | None:
    """Interpolate a temperature curve at diversity ``x``, piecewise-linearly in the diversity axis.

    The curve is the points (diversity[i], quality[i]) in order of temperature; each pair of neighbours is a
    segment. With ``side`` only the segments on that side of the curve's diversity minimum count ("low": up
    to the temperature of the minimum; "high": from it on). Every segment whose diversity range holds ``x``
    gives a candidate; the best candidate wins. None when no segment holds ``x`` (no extrapolation).

    >>> match_at([0.5, 1.0], [8.0, 7.0], [6.0, 7.0], x=7.5, lower_is_better=True)
    Match(quality=6.5, temperature=0.75)
    """
    pts = sorted(
        (float(t), float(d), float(q))
        for t, d, q in zip(temperatures, diversity, quality, strict=True)
        if np.isfinite([t, d, q]).all()
    )
    if side is not None and pts:
        t_min = turning_temperature([t for t, _, _ in pts], [d for _, d, _ in pts])
        pts = [p for p in pts if (p[0] <= t_min if side == "low" else p[0] >= t_min)]
    candidates: list[Match] = [Match(q, t) for t, d, q in pts if d == x]
    for (t0, d0, q0), (t1, d1, q1) in itertools.pairwise(pts):
        if d0 != d1 and min(d0, d1) <= x <= max(d0, d1):
            w = (x - d0) / (d1 - d0)
            candidates.append(Match(q0 + w * (q1 - q0), t0 + w * (t1 - t0)))
    if not candidates:
        return None
    pick = min if lower_is_better else max
    return pick(candidates, key=lambda m: m.quality)


def turning_temperature(temperatures: Sequence[float], diversity: Sequence[float]) -> float:
    """The temperature of a curve's lowest diversity value (most diverse / best coverage; the first on ties)."""
    return min(zip(diversity, temperatures, strict=True))[1]


def side_of(t: float, temperatures: Sequence[float], diversity: Sequence[float]) -> Side:
    """Which side of its own curve's diversity minimum the point at temperature ``t`` lies on."""
    return "low" if t <= turning_temperature(temperatures, diversity) else "high"


def _signed(delta: float, lower_is_better: bool) -> float:
    """quality(GAN) − quality(MLE) turned into "positive = MLE better"."""
    return delta if lower_is_better else -delta


def _signature_groups(group: pd.DataFrame, pair: MetricPair) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """One wide table (model, seed, temperature) × {quality, diversity} per combination of signatures."""
    metrics = [pair.quality] if pair.diversity is None else [pair.quality, pair.diversity]
    sigs = [sorted(group.loc[group.metric == m, "signature"].unique()) for m in metrics]
    if not all(sigs):
        return
    for q_sig in sigs[0]:
        for d_sig in sigs[1] if pair.diversity is not None else [""]:
            parts = [group[(group.metric == pair.quality) & (group.signature == q_sig)].assign(axis="quality")]
            if pair.diversity is not None:
                parts.append(
                    group[(group.metric == pair.diversity) & (group.signature == d_sig)].assign(axis="diversity")
                )
            wide = pd.concat(parts).pivot_table(
                index=["model", "seed", "temperature"], columns="axis", values="value", aggfunc="last"
            )
            yield q_sig, d_sig, wide.reset_index().dropna()  # a point needs both axes


def _ci(values: Sequence[float]) -> tuple[float, float]:
    iv = t_interval(values)
    return iv.mean, iv.half_width


def _pair_points(wide: pd.DataFrame, gan: str, pair: MetricPair, baseline: str) -> pd.DataFrame:
    """Per-seed Δ for every temperature point of ``gan`` (NaN Δ where MLE's range does not cover it)."""
    rows = []
    mle = {s: g.dropna() for s, g in wide[wide.model == baseline].groupby("seed")}
    for seed, curve in wide[wide.model == gan].dropna().groupby("seed"):
        if seed not in mle:
            continue
        base, temps, divs = mle[seed], curve.temperature.tolist(), curve.diversity.tolist()
        for t, q, d in zip(temps, curve.quality.tolist(), divs, strict=True):
            side = side_of(t, temps, divs)
            m = match_at(base.temperature, base.diversity, base.quality, d, pair.quality_lower_is_better, side)
            rows.append(
                {
                    "seed": seed,
                    "temperature": t,
                    "gan_quality": q,
                    "gan_diversity": d,
                    "mle_T": m.temperature if m else math.nan,
                    "mle_quality": m.quality if m else math.nan,
                    "delta": _signed(q - m.quality, pair.quality_lower_is_better) if m else math.nan,
                }
            )
    return pd.DataFrame(
        rows, columns=["seed", "temperature", "gan_quality", "gan_diversity", "mle_T", "mle_quality", "delta"]
    )


POINT_COLUMNS = [
    "dataset", "profile", "gan", "pair", "temperature", "status", "n_seeds",
    "gan_quality", "gan_quality_hw", "gan_diversity", "gan_diversity_hw",
    "mle_T", "mle_quality", "mle_quality_hw", "delta", "delta_hw",
]  # fmt: skip
VERDICT_COLUMNS = [
    "dataset", "profile", "gan", "pair", "verdict", "better_at", "n_seeds", "points_compared", "points_outside",
    "gan_T", "gan_quality", "gan_quality_hw", "gan_diversity", "gan_diversity_hw",
    "mle_T", "mle_quality", "mle_quality_hw", "delta", "delta_hw",
    "diverged_seeds", "quality_signature", "diversity_signature",
]  # fmt: skip


def _aggregate_points(per_seed: pd.DataFrame) -> list[dict]:
    """Δ and both curves' values per GAN temperature, aggregated over seeds (all seeds must be covered)."""
    out = []
    for t, g in per_seed.groupby("temperature"):
        covered = bool(g["delta"].notna().all())
        row = {"temperature": float(t), "n_seeds": len(g), "status": "compared" if covered else OUTSIDE}
        for col in ("gan_quality", "gan_diversity", "mle_quality", "delta"):
            row[col], row[f"{col}_hw"] = _ci(g[col].tolist()) if covered or col.startswith("gan") else (math.nan,) * 2
        row["mle_T"] = float(g["mle_T"].mean()) if covered else math.nan
        out.append(row)
    return out


def _decide(points: list[dict], n_seeds: int) -> tuple[str, str, dict | None]:
    """(verdict, temperatures where the GAN is better, the GAN's best compared point)."""
    compared = [p for p in points if p["status"] == "compared"]
    if not compared:
        return OUTSIDE, "", None
    best = min(compared, key=lambda p: p["delta"])  # where the GAN fares best against MLE
    if n_seeds < 2:
        return ONE_SEED, "", best
    better = [p for p in compared if p["delta"] + p["delta_hw"] < 0]
    if better:
        return GAN_BETTER, ", ".join(f"T={p['temperature']:g}" for p in better), best
    if all(p["delta"] - p["delta_hw"] > 0 for p in compared):
        return MLE_DOMINATES, "", best
    return WITHIN_NOISE, "", best


def _best_point_verdict(wide: pd.DataFrame, gan: str, pair: MetricPair, baseline: str) -> tuple[str, str, dict]:
    """A metric with no diversity partner (FED): each model at its own best temperature, per seed."""
    pick = "idxmin" if pair.quality_lower_is_better else "idxmax"
    best = {}
    for model in (gan, baseline):
        sub = wide[wide.model == model].dropna(subset=["quality"])
        best[model] = sub.loc[sub.groupby("seed")["quality"].agg(pick)].set_index("seed")
    seeds = sorted(set(best[gan].index) & set(best[baseline].index))
    g, m = best[gan].loc[seeds], best[baseline].loc[seeds]
    deltas = [_signed(a - b, pair.quality_lower_is_better) for a, b in zip(g.quality, m.quality, strict=True)]
    point = {"n_seeds": len(seeds), "temperature": float(g.temperature.mean()), "mle_T": float(m.temperature.mean())}
    point["gan_quality"], point["gan_quality_hw"] = _ci(g.quality.tolist())
    point["mle_quality"], point["mle_quality_hw"] = _ci(m.quality.tolist())
    point["delta"], point["delta_hw"] = _ci(deltas)
    point["gan_diversity"] = point["gan_diversity_hw"] = math.nan
    if len(seeds) < 2:
        return ONE_SEED, "", point
    if point["delta"] + point["delta_hw"] < 0:
        return GAN_BETTER, "at its best T", point
    if point["delta"] - point["delta_hw"] > 0:
        return MLE_DOMINATES, "", point
    return WITHIN_NOISE, "", point


def verdicts(df: pd.DataFrame, baseline: str = BASELINE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The verdict table and its per-temperature points, from per-seed result rows (see stats.per_seed).

    One verdict per (dataset, profile, GAN, metric pair, signatures); every model other than ``baseline``
    and the oracle reference counts as a GAN.
    """
    verdict_rows: list[dict] = []
    point_rows: list[dict] = []
    for (dataset, profile), group in df.groupby(["dataset", "profile"], sort=True):
        diverged = group[group.metric == "diverged_at_step"].groupby("model")["seed"].nunique()
        values = group[group.temperature.notna()]
        gans = sorted(set(group.model) - {baseline, ORACLE_MODEL})
        for pair in PAIRS:
            for q_sig, d_sig, wide in _signature_groups(values, pair):
                for gan in gans:
                    key = {"dataset": dataset, "profile": profile, "gan": gan, "pair": pair.name}
                    sigs = {"quality_signature": q_sig, "diversity_signature": d_sig}
                    extra = {"diverged_seeds": int(diverged.get(gan, 0)), **sigs}
                    has_gan, has_base = (wide.model == gan).any(), (wide.model == baseline).any()
                    if not has_gan:
                        if extra["diverged_seeds"]:
                            verdict_rows.append({**key, "verdict": DIVERGED, **extra})
                        continue
                    if not has_base:
                        verdict_rows.append({**key, "verdict": NO_BASELINE, **extra})
                        continue
                    if pair.diversity is None:
                        verdict, where, best = _best_point_verdict(wide, gan, pair, baseline)
                        n_seeds, n_cmp, n_out = best["n_seeds"], 1, 0
                    else:
                        per_seed = _pair_points(wide, gan, pair, baseline)
                        points = _aggregate_points(per_seed)
                        point_rows += [{**key, **p} for p in points]
                        n_seeds = int(per_seed["seed"].nunique())
                        verdict, where, best = _decide(points, n_seeds)
                        n_cmp = sum(p["status"] == "compared" for p in points)
                        n_out = len(points) - n_cmp
                    row = {**key, "verdict": verdict, "better_at": where, "n_seeds": n_seeds}
                    row |= {"points_compared": n_cmp, "points_outside": n_out, **extra}
                    if best is not None:
                        row |= {k: best[k] for k in VERDICT_COLUMNS if k in best}
                        row["gan_T"] = best["temperature"]
                    verdict_rows.append(row)
    counts = ["n_seeds", "points_compared", "points_outside", "diverged_seeds"]
    return (
        pd.DataFrame(verdict_rows, columns=VERDICT_COLUMNS).astype({c: "Int64" for c in counts}),
        pd.DataFrame(point_rows, columns=POINT_COLUMNS).astype({"n_seeds": "Int64"}),
    )
