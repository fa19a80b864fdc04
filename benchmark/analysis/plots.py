"""Quality–diversity figures drawn from aggregated result cells (see stats.summarize), never from logs.

Each curve is one model across temperatures, the temperature written at each point; the shaded bands are
the 95% confidence intervals over seeds on both axes (a vertical band for the y-interval and a horizontal one
for the x-interval along the curve). On synthetic data the oracle is drawn with its NLL_test floor. On a
quality–diversity figure MLE's frontier (the best quality MLE reaches at each diversity or better, which the
verdicts compare against) is drawn as a thick line; the part of MLE's curve it leaves out, dominated by MLE's
own other temperatures, is drawn faint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from langgan_bench.analysis.colours import ORACLE_COLOUR, model_colour
from langgan_bench.analysis.rows import ORACLE_MODEL
from langgan_bench.analysis.verdicts import BASELINE, PAIRS, frontier_curve
from langgan_bench.core.files import writing


@dataclass(frozen=True)
class PlotSpec:
    """One figure per (dataset, profile): ``y`` against ``x`` (a metric, or "temperature"), a curve per model."""

    name: str
    x: str
    y: str
    xlabel: str
    ylabel: str
    title: str


TEMPERATURE_LABEL = "softmax temperature T (left: cold, precise; right: hot, diverse)"
PLOTS = (
    PlotSpec(
        "nll",
        "nll_test",
        "nll_oracle",
        "NLL_test (nats/token; lower = better coverage)",
        "NLL_oracle (nats/token; lower = better quality)",
        "quality vs coverage across temperatures",
    ),
    PlotSpec(
        "bleu",
        "self_bleu-5",
        "bleu-5",
        "Self-BLEU-5 (0 to 1; lower = more diverse)",
        "BLEU-5 (0 to 1; higher = better quality)",
        "BLEU-5 vs Self-BLEU-5 across temperatures",
    ),
    PlotSpec(
        "lm",
        "reverse_lm_score",
        "lm_score",
        "reverse-LM score (nats/token; lower = better coverage)",
        "LM score (nats/token; lower = better quality)",
        "LM vs reverse-LM score across temperatures",
    ),
    PlotSpec(
        "prdc",
        "recall",
        "precision",
        "recall of the test set's embeddings (0 to 1; higher = better coverage)",
        "precision of the samples' embeddings (0 to 1; higher = better quality)",
        "precision vs recall (k-NN manifolds) across temperatures",
    ),
    PlotSpec(
        "fed",
        "temperature",
        "fed",
        TEMPERATURE_LABEL,
        "FED (squared embedding distance; lower = closer to the test set)",
        "FED across temperatures",
    ),
    PlotSpec(
        "mauve",
        "temperature",
        "mauve",
        TEMPERATURE_LABEL,
        "MAUVE (0 to 1; higher = closer to the test set)",
        "MAUVE across temperatures",
    ),
)


def curves(cells: pd.DataFrame, spec: PlotSpec) -> list[tuple[str, str, pd.DataFrame]]:
    """(x signature, y signature, points) for every combination of signatures of the two metrics in one
    (dataset, profile) group; points hold model, temperature, x, x_hw, y, y_hw."""
    cells = cells[cells.temperature.notna()]
    ys = cells[cells.metric == spec.y]
    out = []
    for y_sig, y in ys.groupby("signature"):
        y = y[["model", "temperature", "mean", "half_width"]].rename(columns={"mean": "y", "half_width": "y_hw"})
        if spec.x == "temperature":
            out.append(("", str(y_sig), y.assign(x=y.temperature, x_hw=np.nan)))
            continue
        for x_sig, x in cells[cells.metric == spec.x].groupby("signature"):
            x = x[["model", "temperature", "mean", "half_width"]].rename(columns={"mean": "x", "half_width": "x_hw"})
            points = y.merge(x, on=["model", "temperature"])
            if not points.empty:
                out.append((str(x_sig), str(y_sig), points))
    return out


def draw(points: pd.DataFrame, spec: PlotSpec, title: str, path: Path) -> None:
    """Write one figure (PNG, atomically) of ``points`` (see :func:`curves`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the legend goes below the axes: inside, "best" placement hid the oracle's point behind it
    fig, ax = plt.subplots(figsize=(7.5, 6.0), layout="constrained")
    pair = next((p for p in PAIRS if (p.quality, p.diversity) == (spec.y, spec.x)), None)
    for model, curve in points[points.model != ORACLE_MODEL].groupby("model", sort=True):
        curve = curve.sort_values("temperature")
        xs, ys = curve.x.to_numpy(float), curve.y.to_numpy(float)
        with_frontier = pair is not None and model == BASELINE
        fx, fy = (
            frontier_curve(xs, ys, curve.temperature.to_numpy(float), pair.quality_lower_is_better,
                           pair.diversity_lower_is_better)
            if with_frontier else (np.array([]), np.array([]))
        )  # fmt: skip
        faint = {"alpha": 0.4, "linestyle": "--"} if fx.size else {}
        colour = model_colour(str(model))
        (line,) = ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.2, label=str(model), color=colour, **faint)
        if fx.size:
            ax.plot(
                fx,
                fy,
                color=line.get_color(),
                linewidth=2.6,
                label=f"{model} frontier (best quality at ≥ that diversity)",
            )
        # 95% bands over seeds on both axes (absent with one seed)
        y_hw, x_hw = np.nan_to_num(curve.y_hw.to_numpy(float)), np.nan_to_num(curve.x_hw.to_numpy(float))
        if y_hw.any():
            ax.fill(np.r_[xs, xs[::-1]], np.r_[ys + y_hw, (ys - y_hw)[::-1]], color=line.get_color(), alpha=0.15, lw=0)
        if x_hw.any():
            ax.fill(np.r_[xs + x_hw, (xs - x_hw)[::-1]], np.r_[ys, ys[::-1]], color=line.get_color(), alpha=0.15, lw=0)
        if spec.x != "temperature":
            for t, x, y in zip(curve.temperature, xs, ys, strict=True):
                ax.annotate(f"{t:g}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6.5)
    oracle = points[points.model == ORACLE_MODEL]
    if not oracle.empty:
        ox, oy = float(oracle.x.iloc[0]), float(oracle.y.iloc[0])
        if spec.x == "nll_test":
            ax.axvline(ox, color="grey", linestyle="--", linewidth=1, label=f"oracle NLL_test floor ({ox:.3f})")
        ax.scatter([ox], [oy], marker="*", s=160, color=ORACLE_COLOUR, zorder=5, label=f"oracle ({ox:.3f}, {oy:.3f})")
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        with writing(path):
            fig.savefig(tmp, dpi=110)
            tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
