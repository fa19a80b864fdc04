"""The report's decoder sections: the decoder verdicts, the figures of every model's decoders, the decoding-time
figure and the decoder sweep table, drawn from the same aggregated cells and per-seed rows as the rest
(``report.py`` calls them; ``verdicts.py`` judges).

- Per dataset and metric pair, one figure per model swept with more than the temperature: a curve per decoder
  through its knobs (the knob written at each point), 95% bands over seeds, the temperature curve's frontier
  thick, as in the temperature figures.
- The decoding-time figure ("Language GANs Falling Short", figure 6): decoding time per 1,000 sentences (log
  scale) against quality, a curve per (model, decoder); one per quality metric and signature of the times
  (device, threads), never mixing machines.
- The tables: "does decoder X beat temperature for MLE at matched diversity?" and the GANs against MLE's best
  decoder, beside the temperature-only verdicts.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from langgan_bench.analysis.cells import count, fmt, outside_text, verdict_text
from langgan_bench.analysis.plots import PLOTS, PlotSpec
from langgan_bench.analysis.rows import ACCEPTANCE, DECODE_TIME, ORACLE_MODEL
from langgan_bench.analysis.verdicts import PAIRS, frontier_curve
from langgan_bench.core.decoders import TEMPERATURE, point_label
from langgan_bench.core.files import writing

Block = tuple[str, object]
#: The quality axes of the decoding-time figure, in order of preference (the paper's is the LM score).
TIME_QUALITY = ("lm_score", "nll_oracle", "bleu-5")
#: Rows of a point that are not metrics of its samples: shown in the decoder table, not in the leaderboards.
NOT_SAMPLE_METRICS = (DECODE_TIME, ACCEPTANCE)


def safe(name: str) -> str:
    """A model or decoder name as part of a file name (``mle[training.lr=0.1]`` -> ``mle_training.lr=0.1_``)."""
    return re.sub(r"[^A-Za-z0-9_.+=,-]", "_", name)


# --- verdict tables ---------------------------------------------------------------------------------------------


def decoder_verdict_blocks(table: pd.DataFrame) -> list[Block]:
    """Does decoder X beat temperature for MLE at matched diversity (``verdicts.decoder_verdicts``)."""
    if table.empty:
        return []
    rows = []
    for r in table.itertuples(index=False):
        verdict = verdict_text(r)
        has = isinstance(r.closest_T, str) and r.closest_T != ""
        own = f"{r.decoder}={r.closest_T}: {fmt(r.gan_quality, r.gan_quality_hw)}" if has else ""
        if has and not math.isnan(r.gan_diversity):
            own += f" @ {fmt(r.gan_diversity, r.gan_diversity_hw)}"
        where = outside_text(r)
        rows.append(
            [
                f"{r.dataset} ({r.profile})",
                f"{r.model}: {r.decoder}",
                r.pair,
                verdict,
                count(r.n_seeds),
                fmt(r.frontier_gap, r.frontier_gap_hw),
                own,
                f"T={r.mle_T}: {fmt(r.mle_quality, r.mle_quality_hw)}" if has else "",
                f"{count(r.points_compared)} / {count(r.points_outside)}{where}",
            ]
        )
    header = ["dataset", "decoder", "quality @ diversity", "verdict", "seeds", "frontier gap (mean Δ)",
              "decoder's closest point", "temperature frontier there", "compared / outside"]  # fmt: skip
    return [
        ("h2", "Decoders: does decoder X beat temperature for MLE at matched diversity?"),
        (
            "p",
            "Each of MLE's other decoders, as a curve through its knobs, judged against MLE's own temperature "
            "curve by the same frontier and intervals as the GANs: Δ > 0 means the temperature is better. "
            "'decoder better somewhere': the interval of Δ is below 0 at the points named; 'temperature "
            "dominates': above 0 at every point. Greedy points (T = 0, top_k 1) are not judged. Every point: "
            "decoder_verdict_points.csv.",
        ),
        ("table", (header, rows)),
    ]


def best_decoder_blocks(table: pd.DataFrame) -> list[Block]:
    """The GANs against MLE's best decoder (``verdicts.best_decoder_verdicts``), beside the temperature-only
    verdicts."""
    if table.empty:
        return []
    rows = []
    for r in table.itertuples(index=False):
        verdict = verdict_text(r)
        has = isinstance(r.closest_T, str) and r.closest_T != ""
        own = _at(point_label(r.decoder, float(r.closest_T)) if has and _number(r.closest_T) else str(r.closest_T))
        rows.append(
            [
                f"{r.dataset} ({r.profile})",
                r.gan if r.decoder == TEMPERATURE else f"{r.gan}: {r.decoder}",
                r.pair,
                verdict,
                count(r.n_seeds),
                fmt(r.frontier_gap, r.frontier_gap_hw),
                f"{own}: {fmt(r.gan_quality, r.gan_quality_hw)}" if has else "",
                f"{_at(str(r.mle_T))}: {fmt(r.mle_quality, r.mle_quality_hw)}" if has else "",
            ]
        )
    header = ["dataset", "GAN", "quality @ diversity", "verdict against MLE's best decoder", "seeds",
              "frontier gap (mean Δ)", "GAN closest point", "MLE's best frontier there"]  # fmt: skip
    return [
        ("h3", "Against MLE's best decoder"),
        (
            "p",
            "The same verdicts with MLE free to use any of its decoders: its frontier is the best quality any of "
            "its curves (temperature, top-k, nucleus, ...) reaches at a diversity at least as good as the GAN's. "
            "Beside the temperature-only verdicts above (the paper's); a frontier gap larger here than there is "
            "what MLE's other decoders add. Every point: verdict_points_best_decoder.csv.",
        ),
        ("table", (header, rows)),
    ]


def _at(points: str) -> str:
    """Points as a verdict table writes them: ``T=0.7`` for a temperature (or temperatures per seed)."""
    return f"T={points}" if all(_number(p) for p in points.split(", ")) else points


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- per dataset ------------------------------------------------------------------------------------------------


def dataset_blocks(cells: pd.DataFrame, dataset: str, profile: str, out_dir: Path) -> tuple[list[Block], list[Path]]:
    """A dataset's decoder section (nothing where every model has the temperature alone): the decoder sweep
    table with decoding times and acceptance, a figure per model and pair, the decoding-time figures."""
    if not (cells.decoder != TEMPERATURE).any():
        return [], []
    blocks: list[Block] = [
        ("h3", "Decoders"),
        (
            "p",
            "Every model's points by decoder (a temperature's knob is T): mean ± 95% half-width over seeds. "
            "decode_time is seconds per 1,000 sentences on the device and threads in its signature (a "
            "rejection decoder's candidates and scoring included; disc_reject's one-off discriminator training "
            "not); acceptance_rate is a rejection decoder's kept share of its candidates (a threshold that keeps "
            "too few within its budget has these two rows only). NLL_test of top_k and top_p is under the "
            "renormalised truncated distribution: infinite as soon as one test token lies outside the kept "
            "set, nll_test_outside their share; beam search and rejection define no density.",
        ),
        decoder_table(cells),
    ]
    written: list[Path] = []
    for spec in PLOTS:
        if spec.x == "temperature":
            continue
        for model, group in cells[cells.model != ORACLE_MODEL].groupby("model", sort=True):
            if group.decoder.nunique() < 2:
                continue
            for i, (x_sig, y_sig, points) in enumerate(decoder_points(group, spec), start=1):
                suffix = "" if i == 1 else f"-{i}"
                path = out_dir / f"{dataset}-{profile}-decoders-{safe(str(model))}-{spec.name}{suffix}.png"
                what = spec.title.split(" across")[0]
                draw_decoders(points, spec, f"{dataset} ({profile}): {model}, {what} by decoder", path)
                blocks.append(("img", (f"{model}: {spec.y} against {spec.x} by decoder{suffix}", path)))
                if suffix:
                    blocks.append(("p", f"Figure: {spec.y} = {y_sig}; {spec.x} = {x_sig}"))
                written.append(path)
    for quality in TIME_QUALITY:
        for i, (t_sig, points) in enumerate(time_points(cells, quality), start=1):
            suffix = "" if i == 1 else f"-{i}"
            path = out_dir / f"{dataset}-{profile}-decode-time-{safe(quality)}{suffix}.png"
            draw_time(points, quality, f"{dataset} ({profile}): decoding time against {quality}", path)
            blocks.append(("img", (f"decoding time against {quality}{suffix}", path)))
            blocks.append(("p", f"Decoding time: {t_sig}"))
            written.append(path)
    return blocks, written


def decoder_table(cells: pd.DataFrame) -> Block:
    """One row per (model, decoder, knob) of the models swept with more than the temperature, the decoding time
    and acceptance first, then the metrics."""
    several = cells.groupby("model").decoder.nunique()
    cells = cells[cells.knob.notna() & cells.model.isin(several[several > 1].index)]
    first = [m for m in NOT_SAMPLE_METRICS if m in set(cells.metric)]
    metrics = first + sorted(set(cells.metric) - set(first) - {"diverged_at_step"})
    cols = []
    for m in metrics:
        sigs = sorted(cells[cells.metric == m].signature.unique())
        cols += [(m if len(sigs) == 1 else f"{m} [{i}]", m, s) for i, s in enumerate(sigs, 1)]
    index = {(r.model, r.decoder, r.knob, r.metric, r.signature): r for r in cells.itertuples(index=False)}
    rows = []
    for (model, decoder, knob), _ in cells.groupby(["model", "decoder", "knob"], sort=True):
        vals = [index.get((model, decoder, knob, m, s)) for _, m, s in cols]
        rows.append([model, decoder, f"{knob:g}", *(fmt(c.mean, c.half_width) if c is not None else "" for c in vals)])
    return ("table", (["model", "decoder", "knob", *(lab for lab, _, _ in cols)], rows))


def decoder_points(cells: pd.DataFrame, spec: PlotSpec) -> list[tuple[str, str, pd.DataFrame]]:
    """(x signature, y signature, points) of one model's cells for a quality–diversity figure; points hold
    decoder, knob, x, x_hw, y, y_hw (finite values only: an infinite NLL_test has no place on an axis)."""
    keep = ["decoder", "knob", "mean", "half_width"]
    out = []
    for y_sig, y in cells[cells.metric == spec.y].groupby("signature"):
        y = y[keep].rename(columns={"mean": "y", "half_width": "y_hw"})
        for x_sig, x in cells[cells.metric == spec.x].groupby("signature"):
            x = x[keep].rename(columns={"mean": "x", "half_width": "x_hw"})
            points = y.merge(x, on=["decoder", "knob"])
            points = points[np.isfinite(points.x) & np.isfinite(points.y)]
            if points.decoder.nunique() >= 2:
                out.append((str(x_sig), str(y_sig), points))
    return out


def time_points(cells: pd.DataFrame, quality: str) -> list[tuple[str, pd.DataFrame]]:
    """(time signature, points) for the decoding-time figure of ``quality``: points hold model, decoder, knob,
    x (seconds per 1,000 sentences), y and y_hw; one entry per signature of the times and of the quality."""
    keep = ["model", "decoder", "knob", "mean", "half_width"]
    out = []
    cells = cells[cells.model != ORACLE_MODEL]
    for t_sig, t in cells[cells.metric == DECODE_TIME].groupby("signature"):
        t = t[keep[:-1]].rename(columns={"mean": "x"})
        for _, y in cells[cells.metric == quality].groupby("signature"):
            y = y[keep].rename(columns={"mean": "y", "half_width": "y_hw"})
            points = y.merge(t, on=["model", "decoder", "knob"])
            points = points[np.isfinite(points.x) & np.isfinite(points.y) & (points.x > 0)]
            if not points.empty:
                out.append((str(t_sig), points))
    return out


def draw_decoders(points: pd.DataFrame, spec: PlotSpec, title: str, path: Path) -> None:
    """One model's decoders on a quality–diversity plane: a curve per decoder through its knobs (written at
    each point), 95% bands over seeds, the temperature curve's frontier thick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    pair = next((p for p in PAIRS if (p.quality, p.diversity) == (spec.y, spec.x)), None)
    order = sorted(points.decoder.unique(), key=lambda d: (d != TEMPERATURE, d))
    for decoder in order:
        curve = points[points.decoder == decoder].sort_values("knob")
        xs, ys = curve.x.to_numpy(float), curve.y.to_numpy(float)
        (line,) = ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.2, label=str(decoder))
        if decoder == TEMPERATURE and pair is not None:
            fx, fy = frontier_curve(xs, ys, curve.knob.to_numpy(float), pair.quality_lower_is_better,
                                    pair.diversity_lower_is_better)  # fmt: skip
            if fx.size:
                ax.plot(fx, fy, color=line.get_color(), linewidth=2.6, label="temperature frontier")
        y_hw, x_hw = np.nan_to_num(curve.y_hw.to_numpy(float)), np.nan_to_num(curve.x_hw.to_numpy(float))
        if y_hw.any():
            ax.fill(np.r_[xs, xs[::-1]], np.r_[ys + y_hw, (ys - y_hw)[::-1]], color=line.get_color(), alpha=0.15, lw=0)
        if x_hw.any():
            ax.fill(np.r_[xs + x_hw, (xs - x_hw)[::-1]], np.r_[ys, ys[::-1]], color=line.get_color(), alpha=0.15, lw=0)
        for k, x, y in zip(curve.knob, xs, ys, strict=True):
            ax.annotate(f"{k:g}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6.5)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def draw_time(points: pd.DataFrame, quality: str, title: str, path: Path) -> None:
    """Decoding time per 1,000 sentences (log scale) against ``quality``: a curve per (model, decoder)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    for (model, decoder), curve in points.groupby(["model", "decoder"], sort=True):
        curve = curve.sort_values("knob")
        xs, ys = curve.x.to_numpy(float), curve.y.to_numpy(float)
        label = str(model) if decoder == TEMPERATURE else f"{model}: {decoder}"
        (line,) = ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.0, label=label)
        y_hw = np.nan_to_num(curve.y_hw.to_numpy(float))
        if y_hw.any():
            ax.errorbar(xs, ys, yerr=y_hw, fmt="none", ecolor=line.get_color(), alpha=0.4, lw=0.8)
        for k, x, y in zip(curve.knob, xs, ys, strict=True):
            ax.annotate(f"{k:g}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("decoding time (seconds per 1,000 sentences, log scale)")
    ax.set_ylabel(f"{quality} ({'lower' if quality != 'bleu-5' else 'higher'} = better quality)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    _save(fig, path)


def _save(fig: object, path: Path) -> None:
    """Write a figure as PNG atomically (as ``plots.draw`` does) and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.tight_layout()  # type: ignore[attr-defined]
        with writing(path):
            fig.savefig(tmp, dpi=110)  # type: ignore[attr-defined]
            tmp.replace(path)
    finally:
        plt.close(fig)  # type: ignore[arg-type]
        tmp.unlink(missing_ok=True)
