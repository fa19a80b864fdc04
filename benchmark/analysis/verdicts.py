"""The matched-diversity verdict: does a GAN beat MLE with a tuned temperature at the same diversity?

"Language GANs Falling Short" (Caccia et al., ICLR 2020): MLE may use *any* temperature of its sweep, so a GAN
is compared with MLE's quality–diversity **frontier**. MLE's curve is piecewise-linear between adjacent swept
temperatures; for a GAN point with diversity d and quality q,

    Q*(d) = the best quality MLE's curve reaches at a diversity at least as good as d,
    Δ     = Q*(d) − q, signed so that Δ > 0 means MLE is better.

Each axis has its own direction (lower or higher is better). A GAN point may be called better only where
MLE's curve spans its diversity; a point more diverse than every MLE point, or less diverse than every MLE
point and better than all of them, is "outside MLE's range" (the end is named, so the sweep can be widened).
A point that an actual MLE point beats on both axes is dominated wherever it lies. Greedy points (T = 0) are
left out: there every model's samples are one sentence. Δ is computed per seed (the GAN's seed s against
MLE's seed s), then its 95% Student-t interval over seeds decides:

- **MLE dominates**: the interval of Δ lies above 0 at every GAN point (all of them compared);
- **GAN better somewhere**: it lies below 0 at some point (the temperatures are named);
- **outside MLE's range**: no point compared, or MLE is better at every compared point but some GAN point
  lies beyond MLE's range: no MLE point beats it there, so "dominates" waits for a wider MLE sweep;
- **within noise**: otherwise.

The **frontier gap** (the mean Δ over the compared points, per seed, with its interval) ranks GANs by how far
they fall short. A metric without a diversity partner (FED) compares each model at its own best temperature
(per seed).

The same machinery judges curves of the other decoders (``core/decoders.py``; ``decoder_curves``): a curve is
a (model, decoder) pair, its points joined in the order of their knobs as temperatures are, and the baseline
may be several curves at once, whose frontier is the best any of them reaches at a diversity at least as good
(``judge_curves``). ``decoder_verdicts`` asks whether each of MLE's other decoders beats MLE's temperature;
``best_decoder_verdicts`` judges each GAN against MLE's best decoder, the frontier over all MLE's curves,
beside the temperature-only verdict. Greedy points (T = 0, top_k 1) are left out everywhere.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from langgan_bench.analysis.rows import ORACLE_MODEL, with_decoders
from langgan_bench.analysis.stats import t_interval
from langgan_bench.core.decoders import TEMPERATURE, is_greedy
from langgan_bench.core.profiles import BASELINE_MODEL

BASELINE = BASELINE_MODEL

MLE_DOMINATES = "MLE dominates"
GAN_BETTER = "GAN better somewhere"
WITHIN_NOISE = "within noise"
OUTSIDE = "outside MLE's range"
ONE_SEED = "one seed: no interval"
NO_BASELINE = "no MLE baseline"
DIVERGED = "diverged"
COMPARED = "compared"
#: The two ends of MLE's range a point can lie beyond.
MORE_DIVERSE = "more diverse"
LESS_DIVERSE = "less diverse"
#: Differences of Δ this small (relative to the values compared) are float rounding, not a difference.
TIE = 1e-9


@dataclass(frozen=True)
class MetricPair:
    """A quality metric and the diversity metric it trades against (None: a metric judged on its own)."""

    quality: str
    quality_lower_is_better: bool
    diversity: str | None = None
    diversity_lower_is_better: bool = True

    @property
    def name(self) -> str:
        return self.quality if self.diversity is None else f"{self.quality} @ {self.diversity}"


#: The pairs judged wherever both metrics exist: synthetic (nll_oracle, nll_test); text (bleu-5, self_bleu-5),
#: (lm_score, reverse_lm_score), (precision, recall) of the embeddings (both higher is better), and FED and
#: MAUVE alone (each already weighs quality and coverage together). distinct-n and n-gram entropy are in the
#: tables and could be BLEU-5's diversity axis, but Self-BLEU-5 is that axis in the papers compared with.
PAIRS: tuple[MetricPair, ...] = (
    MetricPair("nll_oracle", True, "nll_test", True),
    MetricPair("bleu-5", False, "self_bleu-5", True),
    MetricPair("lm_score", True, "reverse_lm_score", True),
    MetricPair("precision", False, "recall", False),
    MetricPair("fed", True),
    MetricPair("mauve", False),
)


def _up(value: float, lower_is_better: bool) -> float:
    """A value on a "higher is better" scale (the frontier is computed there, then mapped back)."""
    return -value if lower_is_better else value


@dataclass(frozen=True)
class Frontier:
    """MLE's frontier at one diversity: the best quality there, the temperature where MLE reaches it (linear
    along a segment), and whether the diversity lies beyond MLE's least diverse point (``below_range``)."""

    quality: float
    temperature: float
    below_range: bool = False


def frontier_at(
    temperatures: Sequence[float],
    diversity: Sequence[float],
    quality: Sequence[float],
    x: float,
    quality_lower_is_better: bool,
    diversity_lower_is_better: bool = True,
) -> Frontier | None:
    """Q*(x): the best quality of a curve at a diversity at least as good as ``x``; None beyond its diverse end.

    The curve is the points (diversity[i], quality[i]) joined in order of temperature (non-finite points and
    greedy T = 0 are left out). On a segment quality is linear in diversity, so the best of the part of the
    curve at least as diverse as ``x`` is at a vertex there or where a segment crosses ``x``.

    >>> frontier_at([0.5, 1.0], [8.0, 7.0], [6.0, 7.0], x=7.5, quality_lower_is_better=True)
    Frontier(quality=6.5, temperature=0.75, below_range=False)
    >>> frontier_at([1.0, 2.0], [7.0, 8.0], [7.0, 9.0], x=7.5, quality_lower_is_better=True)  # T=2 is dominated
    Frontier(quality=7.0, temperature=1.0, below_range=False)
    """
    pts = sorted(
        (float(t), _up(float(d), diversity_lower_is_better), _up(float(q), quality_lower_is_better))
        for t, d, q in zip(temperatures, diversity, quality, strict=True)
        if t > 0 and np.isfinite([t, d, q]).all()
    )
    if not pts:
        return None
    xu = _up(float(x), diversity_lower_is_better)
    candidates = [(q, t) for t, d, q in pts if d >= xu]
    for (t0, d0, q0), (t1, d1, q1) in itertools.pairwise(pts):
        if d0 != d1 and min(d0, d1) <= xu <= max(d0, d1):
            w = (xu - d0) / (d1 - d0)
            candidates.append((q0 + w * (q1 - q0), t0 + w * (t1 - t0)))
    if not candidates:
        return None
    best_q, best_t = max(candidates, key=lambda c: c[0])
    below = xu < min(d for _, d, _ in pts)
    return Frontier(_up(best_q, quality_lower_is_better), best_t, below)


def frontier_curve(
    diversity: Sequence[float],
    quality: Sequence[float],
    temperatures: Sequence[float],
    quality_lower_is_better: bool,
    diversity_lower_is_better: bool = True,
    n: int = 400,
) -> tuple[np.ndarray, np.ndarray]:
    """MLE's frontier as a polyline over its diversity range (for the plots): x values and Q*(x)."""
    ok = [
        (d, t)
        for d, q, t in zip(diversity, quality, temperatures, strict=True)
        if t > 0 and np.isfinite([d, q, t]).all()
    ]
    if len(ok) < 2:
        return np.array([]), np.array([])
    ds = np.array([d for d, _ in ok], dtype=float)
    xs = np.unique(np.r_[ds, np.linspace(ds.min(), ds.max(), n)])
    qs = [
        frontier_at(temperatures, diversity, quality, x, quality_lower_is_better, diversity_lower_is_better) for x in xs
    ]
    return xs, np.array([f.quality if f else math.nan for f in qs])


@dataclass(frozen=True)
class Judged:
    """One GAN point against MLE's frontier: Δ (NaN when outside), where MLE reaches Q*, and the status."""

    status: str  # COMPARED, or OUTSIDE with the end: "outside MLE's range (more diverse)"
    delta: float = math.nan
    mle_quality: float = math.nan
    mle_T: float = math.nan
    mle_curve: str = ""  # the baseline curve that reaches Q* (several curves: ``judge_curves``)


def outside(end: str) -> str:
    return f"{OUTSIDE} ({end})"


def judge(
    mle_t: Sequence[float], mle_d: Sequence[float], mle_q: Sequence[float], d: float, q: float, pair: MetricPair
) -> Judged:
    """A GAN point (diversity ``d``, quality ``q``) against MLE's curve of the same seed."""
    return judge_curves([("", mle_t, mle_d, mle_q)], d, q, pair)


BaselineCurve = tuple[str, Sequence[float], Sequence[float], Sequence[float]]  # (label, positions, diversity, quality)


def judge_curves(curves: Sequence[BaselineCurve], d: float, q: float, pair: MetricPair) -> Judged:
    """A point against the frontier of several baseline curves of the same seed: the best quality any curve
    reaches at a diversity at least as good as ``d`` (the first curve wins a tie). It lies below their range
    only when it is less diverse than every point of every curve. One curve: ``judge``."""
    qlib, dlib = pair.quality_lower_is_better, pair.diversity_lower_is_better
    found = [(label, frontier_at(t, dv, qv, d, qlib, dlib)) for label, t, dv, qv in curves]
    reached = [(label, f) for label, f in found if f is not None]
    if not reached:
        return Judged(outside(MORE_DIVERSE))
    label, f = max(reached, key=lambda lf: _up(lf[1].quality, qlib))
    delta = _up(f.quality, qlib) - _up(q, qlib)
    below = len(reached) == len(found) and all(g.below_range for _, g in reached)
    if below and delta < 0:  # less diverse than every MLE point and better than all of them
        return Judged(outside(LESS_DIVERSE))
    return Judged(COMPARED, delta, f.quality, f.temperature, label)


@dataclass(frozen=True)
class Curves:
    """How the verdicts name and place the points of curves other than temperature sweeps (``decoder_curves``).

    A curve's label is its model's name for a temperature curve and ``model (decoder)`` otherwise. A point's
    position along its curve is its temperature, or for another decoder its knob's rank among that decoder's
    knobs (1, 2, ...: adjacent knobs are joined as adjacent temperatures are, whatever their scale or sign),
    greedy points (top_k 1) at 0, which the verdicts leave out as they leave out T = 0."""

    decoder_of: dict[str, str]  # label -> its decoder (a label absent: a temperature curve)
    knobs: dict[str, tuple[float, ...]]  # decoder -> its knobs in order; position i + 1 is knobs[i]
    model_of: dict[str, str] = field(default_factory=dict)  # label -> its model (absent: the label itself)

    def model(self, label: str) -> str:
        return self.model_of.get(label, label)

    def decoder(self, label: str) -> str:
        return self.decoder_of.get(label, TEMPERATURE)

    def knob(self, label: str, position: float) -> float:
        """The knob at ``position`` along ``label``'s curve (between two knobs: linearly between them)."""
        decoder = self.decoder(label)
        if decoder == TEMPERATURE or math.isnan(position):
            return position
        knobs = self.knobs[decoder]
        return float(np.interp(position, np.arange(1, len(knobs) + 1), knobs))

    def name(self, label: str, position: float) -> str:
        """A point's name in a verdict: ``T=0.7`` or ``top_p=0.9``."""
        decoder, knob = self.decoder(label), self.knob(label, position)
        return f"T={knob:g}" if decoder == TEMPERATURE else f"{decoder}={knob:g}"


TEMPERATURE_CURVES = Curves({}, {})


def curve_label(model: str, decoder: str) -> str:
    return model if decoder == TEMPERATURE else f"{model} ({decoder})"


def decoder_curves(df: pd.DataFrame) -> tuple[pd.DataFrame, Curves]:
    """Per-seed rows as the verdicts' curves: ``model`` becomes the curve's label and ``temperature`` the point's
    position along it (see ``Curves``); a diverged run's row keeps its model's name."""
    df = with_decoders(df)
    other = df[(df.decoder != TEMPERATURE) & df.knob.notna()]
    knobs = {
        str(d): tuple(sorted(k for k in set(g.knob) if not is_greedy(str(d), k))) for d, g in other.groupby("decoder")
    }
    rank = {(d, k): float(i + 1) for d, ks in knobs.items() for i, k in enumerate(ks)}
    is_other = (df.decoder != TEMPERATURE) & df.knob.notna()
    position = [
        rank.get((d, k), 0.0) if o else t
        for d, k, t, o in zip(df.decoder, df.knob, df.temperature, is_other, strict=True)
    ]
    labels = [curve_label(m, d) if o else m for m, d, o in zip(df.model, df.decoder, is_other, strict=True)]
    out = df.assign(model=labels, temperature=position)
    decoder_of = {lab: str(d) for lab, d, o in zip(labels, df.decoder, is_other, strict=True) if o}
    model_of = {lab: str(m) for lab, m, o in zip(labels, df.model, is_other, strict=True) if o}
    return out, Curves(decoder_of, knobs, model_of)


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


def fmt_temperatures(values: Sequence[float]) -> str:
    """Temperatures per seed, in seed order ("0.7, 0.8, 0.7"); one value when every seed agrees."""
    text = [f"{round(float(t), 2):g}" for t in values]
    return text[0] if len(set(text)) == 1 else ", ".join(text)


def fmt_points(decoders: Sequence[str], knobs: Sequence[float]) -> str:
    """Points per seed, in seed order: temperatures as ``fmt_temperatures``; another decoder's as ``top_p=0.9``."""
    if all(d == TEMPERATURE for d in decoders):
        return fmt_temperatures(knobs)
    text = [
        f"{round(float(k), 2):g}" if d == TEMPERATURE else f"{d}={round(float(k), 2):g}"
        for d, k in zip(decoders, knobs, strict=True)
    ]
    return text[0] if len(set(text)) == 1 else ", ".join(text)


def _pair_points(
    wide: pd.DataFrame, gan: str, pair: MetricPair, baselines: Sequence[str], curves: Curves
) -> pd.DataFrame:
    """Per-seed Δ against the baseline curves' frontier for every non-greedy point of ``gan``."""
    rows = []
    wide = wide[wide.temperature > 0]
    mle = dict(tuple(wide[wide.model.isin(baselines)].groupby("seed")))
    for seed, curve in wide[wide.model == gan].groupby("seed"):
        if seed not in mle:
            continue
        base = [
            (str(label), c.temperature.tolist(), c.diversity.tolist(), c.quality.tolist())
            for label, c in mle[seed].groupby("model", sort=True)
        ]
        for t, q, d in zip(curve.temperature, curve.quality, curve.diversity, strict=True):
            j = judge_curves(base, d, q, pair)
            rows.append(
                {
                    "seed": seed,
                    "temperature": float(t),
                    "gan_quality": q,
                    "gan_diversity": d,
                    "status": j.status,
                    "mle_T": curves.knob(j.mle_curve, j.mle_T),
                    "mle_decoder": curves.decoder(j.mle_curve),
                    "mle_quality": j.mle_quality,
                    "delta": j.delta,
                }
            )
    cols = ["seed", "temperature", "gan_quality", "gan_diversity", "status", "mle_T", "mle_decoder", "mle_quality"]
    return pd.DataFrame(rows, columns=[*cols, "delta"])


POINT_COLUMNS = [
    "dataset", "profile", "gan", "pair", "temperature", "status", "n_seeds",
    "gan_quality", "gan_quality_hw", "gan_diversity", "gan_diversity_hw",
    "mle_T", "mle_quality", "mle_quality_hw", "delta", "delta_hw",
]  # fmt: skip
VERDICT_COLUMNS = [
    "dataset", "profile", "gan", "pair", "verdict", "better_at", "outside_at", "n_seeds",
    "points_compared", "points_outside", "frontier_gap", "frontier_gap_hw",
    "closest_T", "gan_quality", "gan_quality_hw", "gan_diversity", "gan_diversity_hw",
    "mle_T", "mle_quality", "mle_quality_hw", "delta", "delta_hw",
    "diverged_seeds", "quality_signature", "diversity_signature",
]  # fmt: skip


def _aggregate_points(per_seed: pd.DataFrame, gan: str, curves: Curves) -> list[dict]:
    """Δ and both sides' values per GAN point over seeds; a point is compared only if every seed is."""
    out = []
    for t, g in per_seed.sort_values("seed").groupby("temperature"):
        ends = sorted(set(g.status) - {COMPARED})
        status = COMPARED if not ends else ends[0] if len(ends) == 1 else outside(f"{MORE_DIVERSE} / {LESS_DIVERSE}")
        row = {"temperature": float(t), "n_seeds": len(g), "status": status, "name": curves.name(gan, float(t))}
        for col in ("gan_quality", "gan_diversity", "mle_quality", "delta"):
            covered = status == COMPARED or col.startswith("gan")
            row[col], row[f"{col}_hw"] = _ci(g[col].tolist()) if covered else (math.nan, math.nan)
        row["mle_T"] = fmt_points(g.mle_decoder.tolist(), g.mle_T.tolist()) if status == COMPARED else ""
        out.append(row)
    return out


def _tie(p: dict) -> float:
    """The size below which Δ at a point is rounding (relative to the qualities compared)."""
    return TIE * (1.0 + abs(p["gan_quality"]) + abs(p["mle_quality"]))


def _decide(points: list[dict], n_seeds: int) -> tuple[str, str, dict | None]:
    """(verdict, temperatures where the GAN is better, the point where the GAN comes closest to MLE)."""
    compared = [p for p in points if p["status"] == COMPARED]
    if not compared:
        return OUTSIDE, "", None
    closest = min(compared, key=lambda p: p["delta"])
    if n_seeds < 2:
        return ONE_SEED, "", closest
    better = [p for p in compared if p["delta"] + p["delta_hw"] < -_tie(p)]
    if better:
        return GAN_BETTER, ", ".join(p["name"] for p in better), closest
    if all(p["delta"] - p["delta_hw"] > _tie(p) for p in compared):
        # a point beyond MLE's range is beaten by no MLE point: the claim needs a wider sweep there
        return (MLE_DOMINATES if len(compared) == len(points) else OUTSIDE), "", closest
    return WITHIN_NOISE, "", closest


def _frontier_gap(per_seed: pd.DataFrame, points: list[dict]) -> tuple[float, float]:
    """The mean Δ over the compared points, per seed, and its interval over seeds."""
    temps = {p["temperature"] for p in points if p["status"] == COMPARED}
    if not temps:
        return math.nan, math.nan
    return _ci(per_seed[per_seed.temperature.isin(temps)].groupby("seed")["delta"].mean().tolist())


def _outside_at(points: list[dict]) -> str:
    """The points beyond MLE's range, with their end ("T=2 (more diverse)")."""
    return ", ".join(f"{p['name']} ({p['status'][len(OUTSIDE) + 2 : -1]})" for p in points if p["status"] != COMPARED)


def _best_point_verdict(
    wide: pd.DataFrame, gan: str, pair: MetricPair, baselines: Sequence[str], curves: Curves
) -> tuple[str, str, dict]:
    """A metric with no diversity partner (FED): each side at its own best non-greedy point, per seed (the
    baseline's best over all its curves)."""
    pick = "idxmin" if pair.quality_lower_is_better else "idxmax"
    best = {}
    for side, models in (("gan", [gan]), ("mle", list(baselines))):
        sub = wide[wide.model.isin(models) & (wide.temperature > 0)].dropna(subset=["quality"])
        best[side] = sub.loc[sub.groupby("seed")["quality"].agg(pick)].set_index("seed")
    seeds = sorted(set(best["gan"].index) & set(best["mle"].index))
    g, m = best["gan"].loc[seeds], best["mle"].loc[seeds]
    deltas = [
        _up(b, pair.quality_lower_is_better) - _up(a, pair.quality_lower_is_better)
        for a, b in zip(g.quality, m.quality, strict=True)
    ]

    def where(side: pd.DataFrame) -> str:
        decoders = [curves.decoder(label) for label in side.model]
        return fmt_points(decoders, [curves.knob(lab, t) for lab, t in zip(side.model, side.temperature, strict=True)])

    point = {"n_seeds": len(seeds), "closest_T": where(g)}
    point["mle_T"] = where(m)
    point["gan_quality"], point["gan_quality_hw"] = _ci(g.quality.tolist())
    point["mle_quality"], point["mle_quality_hw"] = _ci(m.quality.tolist())
    point["delta"], point["delta_hw"] = _ci(deltas)
    point["frontier_gap"], point["frontier_gap_hw"] = point["delta"], point["delta_hw"]
    point["gan_diversity"] = point["gan_diversity_hw"] = math.nan
    if len(seeds) < 2:
        return ONE_SEED, "", point
    if point["delta"] + point["delta_hw"] < -_tie(point):
        return GAN_BETTER, "at its best point" if curves.decoder(gan) != TEMPERATURE else "at its best T", point
    if point["delta"] - point["delta_hw"] > _tie(point):
        return MLE_DOMINATES, "", point
    return WITHIN_NOISE, "", point


def verdicts(
    df: pd.DataFrame,
    baseline: str | Sequence[str] = BASELINE,
    pairs: Sequence[MetricPair] = PAIRS,
    gans: Sequence[str] | None = None,
    curves: Curves = TEMPERATURE_CURVES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The verdict table and its per-temperature points, from per-seed result rows (see stats.per_seed).

    One verdict per (dataset, profile, GAN, metric pair, signatures); every model other than ``baseline``
    and the oracle reference counts as a GAN (or those of ``gans``). Within a (dataset, profile, pair) GANs
    are sorted by their frontier gap, the one closest to MLE first. Rows of decoders other than the temperature
    have no temperature, so they take no part here unless they come as curves (``decoder_curves``, whose
    labels ``baseline`` and ``gans`` then name; several baselines: the frontier over all of them).
    """
    baselines = (baseline,) if isinstance(baseline, str) else tuple(baseline)
    verdict_rows: list[dict] = []
    point_rows: list[dict] = []
    for (dataset, profile), group in df.groupby(["dataset", "profile"], sort=True):
        diverged = group[group.metric == "diverged_at_step"].groupby("model")["seed"].nunique()
        values = group[group.temperature.notna()]
        judged = sorted(set(group.model) - {*baselines, ORACLE_MODEL}) if gans is None else list(gans)
        for order, pair in enumerate(pairs):
            for q_sig, d_sig, wide in _signature_groups(values, pair):
                for gan in judged:
                    key = {"dataset": dataset, "profile": profile, "gan": gan, "pair": pair.name, "_order": order}
                    extra = {"diverged_seeds": int(diverged.get(gan, 0))}
                    extra |= {"quality_signature": q_sig, "diversity_signature": d_sig}
                    has_gan, has_base = (wide.model == gan).any(), wide.model.isin(baselines).any()
                    if not has_gan:
                        if extra["diverged_seeds"]:
                            verdict_rows.append({**key, "verdict": DIVERGED, **extra})
                        continue
                    if not has_base:
                        verdict_rows.append({**key, "verdict": NO_BASELINE, **extra})
                        continue
                    if pair.diversity is None:
                        verdict, where, closest = _best_point_verdict(wide, gan, pair, baselines, curves)
                        row = {"n_seeds": closest["n_seeds"], "points_compared": 1, "points_outside": 0}
                        row |= {k: v for k, v in closest.items() if k in VERDICT_COLUMNS}
                    else:
                        per_seed = _pair_points(wide, gan, pair, baselines, curves)
                        points = _aggregate_points(per_seed, gan, curves)
                        point_rows += [{**key, **{k: v for k, v in p.items() if k != "name"}} for p in points]
                        verdict, where, closest = _decide(points, int(per_seed["seed"].nunique()))
                        n_cmp = sum(p["status"] == COMPARED for p in points)
                        row = {"n_seeds": int(per_seed["seed"].nunique()), "points_compared": n_cmp}
                        row |= {"points_outside": len(points) - n_cmp, "outside_at": _outside_at(points)}
                        row["frontier_gap"], row["frontier_gap_hw"] = _frontier_gap(per_seed, points)
                        if closest is not None:
                            row |= {k: v for k, v in closest.items() if k in VERDICT_COLUMNS and k != "n_seeds"}
                            row["closest_T"] = f"{curves.knob(gan, closest['temperature']):g}"
                    verdict_rows.append({**key, "verdict": verdict, "better_at": where, **row, **extra})
    counts = ["n_seeds", "points_compared", "points_outside", "diverged_seeds"]
    table = pd.DataFrame(verdict_rows, columns=[*VERDICT_COLUMNS, "_order"])
    table = table.sort_values(
        ["dataset", "profile", "_order", "frontier_gap", "gan"], na_position="last", kind="stable"
    )
    return (
        table.drop(columns="_order").reset_index(drop=True).astype({c: "Int64" for c in counts}),
        pd.DataFrame(point_rows, columns=POINT_COLUMNS).astype({"n_seeds": "Int64"}),
    )


# --- decoders -------------------------------------------------------------------------------------------------

#: The decoder verdicts' words: the challenger is one of MLE's decoders, the baseline MLE's temperature.
DECODER_WORDS = {
    MLE_DOMINATES: "temperature dominates",
    GAN_BETTER: "decoder better somewhere",
    OUTSIDE: "outside the temperature curve's range",
    NO_BASELINE: "no temperature curve",
}


def decoder_verdicts(
    df: pd.DataFrame, baseline: str = BASELINE, pairs: Sequence[MetricPair] = PAIRS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Does decoder X beat temperature for the baseline (MLE) at matched diversity? Each of the baseline's other
    decoders, as a curve, judged against the baseline's own temperature curve by the machinery above (Δ > 0:
    the temperature is better). Columns: those of ``verdicts`` with ``model`` and ``decoder`` for ``gan``
    (``closest_T``: the decoder's knob), the verdicts worded for decoders (``DECODER_WORDS``); the points carry
    ``decoder`` and ``knob``."""
    rows = with_decoders(df)
    cur, curves = decoder_curves(rows[rows.model == baseline])
    others = sorted(set(cur.model) - {baseline})
    table, points = verdicts(cur, baseline, pairs, gans=others, curves=curves)
    table = table.assign(model=[curves.model(g) for g in table.gan], decoder=[curves.decoder(g) for g in table.gan])
    table["verdict"] = table.verdict.map(lambda v: DECODER_WORDS.get(v, v))
    table = table.drop(columns="gan")[["dataset", "profile", "model", "decoder", *VERDICT_COLUMNS[3:]]]
    return table, _with_knobs(points, curves)


def best_decoder_verdicts(
    df: pd.DataFrame, baseline: str = BASELINE, pairs: Sequence[MetricPair] = PAIRS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every GAN curve against the baseline's best decoder: the frontier over all the baseline's curves (its
    temperature and every other decoder it was swept with), beside the temperature-only verdict that
    "Language GANs Falling Short" defines. Empty where the baseline has no decoder but the temperature.
    Columns: those of ``verdicts``, ``gan`` the GAN's model and ``decoder`` its curve's (``mle_T`` names the
    baseline's decoder where it is not the temperature); the points carry ``decoder`` and ``knob``."""
    cur, curves = decoder_curves(df)
    labels = set(cur.model)
    base = sorted(label for label in labels if curves.model(label) == baseline)
    if len(base) < 2:
        return pd.DataFrame(columns=[*VERDICT_COLUMNS, "decoder"]), pd.DataFrame(columns=[*POINT_COLUMNS, "knob"])
    gans = sorted(labels - {*base, ORACLE_MODEL})
    table, points = verdicts(cur, base, pairs, gans=gans, curves=curves)
    table = table.assign(decoder=[curves.decoder(g) for g in table.gan], gan=[curves.model(g) for g in table.gan])
    return table, _with_knobs(points, curves)


def _with_knobs(points: pd.DataFrame, curves: Curves) -> pd.DataFrame:
    """Verdict points of curves with their decoder and knob; ``gan`` the model, ``temperature`` NaN off the
    temperature."""
    decoders = [curves.decoder(g) for g in points.gan]
    knobs = [curves.knob(g, t) for g, t in zip(points.gan, points.temperature, strict=True)]
    temps = [k if d == TEMPERATURE else math.nan for d, k in zip(decoders, knobs, strict=True)]
    gans = [curves.model(g) for g in points.gan]
    return points.assign(gan=gans, temperature=temps, decoder=decoders, knob=knobs)
