"""Training curves of runs, from the history and phase times each run stores in its config.json.

The training template (``models/training/template.py``) records, per run, one history entry per MLE epoch,
discriminator pre-training round, supervised phase, adversarial epoch or logged block of adversarial steps,
each with the run's optimiser-step counter (``step``) and what was measured then; and one record per phase
with its wall time. This module turns them into a tidy table (one value per row: run, phase, step, quantity,
value), a per-phase time table, a per-quantity summary (``langgan-bench show``) and one small-multiples
figure: a row per model, a column per quantity, a line per seed, the model's colour everywhere.

It reads JSON only (the analysis layer never imports torch), so it works on results copied from any machine.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from langgan_bench.analysis.colours import model_colour
from langgan_bench.analysis.rows import RUNS_DIR, run_record
from langgan_bench.analysis.stats import t_half_width
from langgan_bench.core.errors import UserError
from langgan_bench.core.files import is_safe_name, writing

CONFIG_FILE = "config.json"
FIGURE_FILE = "training.png"
#: history keys that place an entry rather than measure something
POSITION_KEYS = ("phase", "step", "epoch", "round", "phase_step")
#: what each measured key of the history is, for tables (units and direction included)
QUANTITIES = {
    "train_nll": "generator NLL on the training set (nats/token, lower is better)",
    "valid_nll": "generator NLL on the validation set (nats/token, lower is better)",
    "d_loss": "discriminator loss (nats; lower = discriminator ahead)",
    "d_acc_real": "discriminator accuracy on real sentences (0.5 = chance)",
    "d_acc_fake": "discriminator accuracy on generated sentences (0.5 = chance)",
    "d_acc_pairs": "share of (real, generated) pairs the critic ranks right (0.5 = chance)",
    "reward": "mean reward of the generator's updates (the model's own scale; higher = fools the discriminator)",
    "reward_std": "spread (s.d.) of the rewards within a batch",
    "sample_log_prob": "mean log-prob of the generator's own samples (nats/token; minus the entropy, higher = "
    "less diverse)",
    "distinct": "share of distinct sentences among 256 samples (a fall = mode collapse)",
    "d_fake": "mean D over the generated batch's steps",
    "g_loss": "generator loss",
    "baseline": "the reward baseline (moving average)",
    "beta": "Gumbel-softmax inverse temperature",
}


@dataclass(frozen=True)
class Panel:
    """One column of the figure: ``series`` are (history key, label, strong) drawn with full or faint lines."""

    name: str
    title: str
    units: str
    series: tuple[tuple[str, str, bool], ...]
    band: str | None = None  # key of a spread drawn as a band around the first series
    chance: float | None = None  # a reference line (accuracy at chance)
    scale: float = 1.0
    ylim: tuple[float, float] | None = None


PANELS = (
    Panel("nll", "generator NLL", "nats/token, lower is better",
          (("valid_nll", "validation", True), ("train_nll", "training", False))),
    Panel("d_loss", "discriminator loss", "nats, lower = D ahead", (("d_loss", "", True),)),
    Panel("d_acc", "discriminator accuracy", "share right, 0.5 = chance",
          (("d_acc_real", "on real", True), ("d_acc_fake", "on generated", False),
           ("d_acc_pairs", "real ranked above generated", True)), chance=0.5, ylim=(-0.02, 1.02)),
    Panel("reward", "mean reward ± s.d. in batch", "model's scale, higher = fools D", (("reward", "", True),),
          band="reward_std"),
    Panel("log_prob", "log-prob of own samples", "nats/token, higher = less diverse",
          (("sample_log_prob", "", True),)),
    Panel("distinct", "distinct samples", "% of 256, a fall = collapse", (("distinct", "", True),), scale=100.0,
          ylim=(-2.0, 102.0)),
)  # fmt: skip
SEED_STYLES = ("-", "--", ":", "-.")
#: inches at 100 dpi: the report's and the site's text column, so a figure is shown at its own size
FIGURE_WIDTH = 11.5


@dataclass
class RunTraining:
    """What one run stored about its training."""

    run_id: str
    dataset: str
    profile: str
    model: str
    seed: int
    status: str
    history: list[dict[str, Any]] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    diverged: dict[str, Any] | None = None
    train_seconds: float | None = None


def model_label(run: dict[str, Any]) -> str:
    """The model's name as the result rows give it: overridden settings are another model in the tables."""
    overrides = run.get("overrides") or ()
    return str(run.get("model", "")) + (f"[{','.join(map(str, overrides))}]" if overrides else "")


def training_of(record: dict[str, Any], run_id: str) -> RunTraining:
    """A run record (config.json) as a RunTraining; entries that are not dicts of numbers are left out."""
    run = record.get("run") if isinstance(record.get("run"), dict) else {}
    training = record.get("training") if isinstance(record.get("training"), dict) else {}
    history = [h for h in training.get("history") or [] if isinstance(h, dict)]
    phases = [p for p in training.get("phases") or [] if isinstance(p, dict)]
    diverged = record.get("diverged") if isinstance(record.get("diverged"), dict) else None
    seconds = training.get("train_seconds")
    try:
        seed = int(run.get("seed", -1))
    except (TypeError, ValueError):
        seed = -1
    return RunTraining(
        run_id=run_id,
        dataset=str(run.get("dataset", "")),
        profile=str(run.get("profile", "")),
        model=model_label(run),
        seed=seed,
        status=str(record.get("status", "")),
        history=history,
        phases=phases,
        diverged=diverged,
        train_seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
    )


def read_runs(results_dir: Path, run_ids: Iterable[str]) -> list[RunTraining]:
    """The stored training of each run (those whose config.json is missing or unreadable are left out)."""
    out = []
    for run_id in run_ids:
        record = run_record(results_dir, run_id)
        if record:
            out.append(training_of(record, run_id))
    return out


def find_run(results_dir: Path, run_id: str) -> Path:
    """The folder of ``run_id`` (or of the one run whose id starts with it) under ``results_dir``."""
    runs = results_dir / RUNS_DIR
    if not runs.is_dir():
        raise UserError(f"no runs under {results_dir} (no {RUNS_DIR}/ folder); give --results the results folder")
    if not is_safe_name(run_id):
        raise UserError(f"{run_id!r} is not a run id (see the folders under {runs})")
    if (runs / run_id / CONFIG_FILE).is_file():
        return runs / run_id
    matches = sorted(p.parent for p in runs.glob(f"{run_id}*/{CONFIG_FILE}"))
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(p.name for p in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UserError(f"run id {run_id!r} is ambiguous under {runs}: {names}")
    raise UserError(f"no run {run_id!r} under {runs}")


def read_run(run_dir: Path) -> RunTraining:
    """One run's training, or a one-line UserError saying why there is none to show."""
    record = run_record(run_dir.parent.parent, run_dir.name)
    if not record:
        raise UserError(f"{run_dir / CONFIG_FILE} cannot be read as a run record")
    run = training_of(record, run_dir.name)
    if not run.history:
        why = {
            "running": "it is still training; its history is stored when training ends",
            "failed": "it failed before its training ended",
            "interrupted": "it was interrupted; resume it with --resume",
        }.get(run.status, "none was stored (a run from before 0.6.0, or a damaged record)")
        raise UserError(f"run {run.run_id} has no training history: {why}")
    return run


# --- tables ---------------------------------------------------------------------------------------------------


def curve_frame(runs: Sequence[RunTraining]) -> pd.DataFrame:
    """One row per measured value: run_id, dataset, profile, model, seed, phase, step, quantity, value.

    ``step`` is the run's optimiser-step counter at the entry; a history stored without it (an older run)
    gets the entry's position instead, and ``by_step`` is False for its rows.
    """
    rows = []
    for r in runs:
        by_step = all(isinstance(h.get("step"), (int, float)) for h in r.history)
        for i, h in enumerate(r.history, start=1):
            step = float(h["step"]) if by_step else float(i)
            phase = str(h.get("phase", "mle"))
            for key, value in h.items():
                if key in POSITION_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                rows.append((r.run_id, r.dataset, r.profile, r.model, r.seed, phase, step, key, float(value), by_step))
    columns = ["run_id", "dataset", "profile", "model", "seed", "phase", "step", "quantity", "value", "by_step"]
    return pd.DataFrame(rows, columns=columns)


def phase_frame(runs: Sequence[RunTraining]) -> pd.DataFrame:
    """One row per phase of every run: its label, kind, optimiser steps and wall seconds."""
    rows = []
    for r in runs:
        for p in r.phases:
            first, last, seconds = p.get("first_step"), p.get("last_step"), p.get("seconds")
            steps = last - first if isinstance(first, (int, float)) and isinstance(last, (int, float)) else math.nan
            rows.append(
                (
                    r.run_id,
                    r.model,
                    r.seed,
                    str(p.get("phase", "")),
                    str(p.get("kind", "")),
                    float(steps),
                    float(seconds) if isinstance(seconds, (int, float)) else math.nan,
                    bool(p.get("diverged", False)),
                )
            )
    columns = ["run_id", "model", "seed", "phase", "kind", "steps", "seconds", "diverged"]
    return pd.DataFrame(rows, columns=columns)


def summary_frame(curves: pd.DataFrame) -> pd.DataFrame:
    """Per quantity of one run: entries, first and last value, minimum and maximum with their steps."""
    rows = []
    order = {q: i for i, q in enumerate(QUANTITIES)}
    for q, g in sorted(curves.groupby("quantity"), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        g = g.sort_values("step", kind="stable")
        vals = g.value.to_numpy(float)
        finite = np.isfinite(vals)
        lo = g.iloc[int(np.nanargmin(np.where(finite, vals, np.inf)))] if finite.any() else None
        hi = g.iloc[int(np.nanargmax(np.where(finite, vals, -np.inf)))] if finite.any() else None
        rows.append(
            {
                "quantity": q,
                "entries": len(g),
                "first": vals[0],
                "last": vals[-1],
                "min": lo.value if lo is not None else math.nan,
                "min at step": int(lo.step) if lo is not None else None,
                "max": hi.value if hi is not None else math.nan,
                "max at step": int(hi.step) if hi is not None else None,
            }
        )
    return pd.DataFrame(rows)


def phase_summary(phases: pd.DataFrame) -> pd.DataFrame:
    """Per model and phase (in the order the runs ran them): seeds, mean optimiser steps, mean, 95% t
    half-width and range of the wall seconds over seeds."""
    if phases.empty:
        return pd.DataFrame(
            columns=["model", "phase", "kind", "seeds", "steps", "seconds", "min s", "max s", "half_width"]
        )
    phases = phases.assign(order=phases.groupby("run_id").cumcount())
    g = phases.groupby(["model", "phase", "kind"], sort=False)
    out = g.agg(
        order=("order", "min"),
        seeds=("seed", "nunique"),
        steps=("steps", "mean"),
        seconds=("seconds", "mean"),
        std=("seconds", "std"),
        n=("seconds", "count"),
        **{"min s": ("seconds", "min"), "max s": ("seconds", "max")},
    ).reset_index()
    out["half_width"] = t_half_width(out.pop("std"), out.pop("n"))
    return out.sort_values(["model", "order"], kind="stable").drop(columns="order").reset_index(drop=True)


# --- the figure -----------------------------------------------------------------------------------------------


def _model_order(models: Iterable[str]) -> list[str]:
    return sorted(set(models), key=lambda m: (m != "mle", m))


def panels_with_data(curves: pd.DataFrame) -> list[Panel]:
    have = set(curves.quantity)
    return [p for p in PANELS if any(key in have for key, _, _ in p.series)]


def draw_training(
    curves: pd.DataFrame,
    runs: Sequence[RunTraining],
    title: str,
    path: Path,
) -> None:
    """Write the training figure of ``runs`` (PNG, atomically): a row per model, a column per quantity that
    some run recorded, a line per seed (its line style), phase boundaries in grey, divergence marked.

    With one model the panels are laid out 2 × 3 and each carries its own units."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    panels = panels_with_data(curves)
    if not panels:
        raise UserError(f"nothing to draw for {title}: the runs' histories hold no known quantity")
    models = _model_order(r.model for r in runs)
    single = len(models) == 1
    if single:
        ncols = min(3, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(3.8 * ncols, 2.9 * nrows + 0.7), squeeze=False, sharex=True, layout="constrained"
        )
        cells = [(models[0], p, axes.flat[i]) for i, p in enumerate(panels)]
        for ax in list(axes.flat)[len(panels) :]:
            ax.set_visible(False)
    else:
        nrows, ncols = len(models), len(panels)
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(min(FIGURE_WIDTH, 1.85 * ncols + 0.5), 1.85 * nrows + 1.1),
            squeeze=False,
            sharex="row",
            layout="constrained",
        )
        cells = [(m, p, axes[i][j]) for i, m in enumerate(models) for j, p in enumerate(panels)]
    by_step = bool(curves.by_step.all()) if len(curves) else True
    xlabel = "optimiser steps" if by_step else "history entry (steps not stored)"
    seeds = sorted({r.seed for r in runs})
    style = {s: SEED_STYLES[i % len(SEED_STYLES)] for i, s in enumerate(seeds)}
    for model, panel, ax in cells:
        model_runs = [r for r in runs if r.model == model]
        label_phases = single or panels.index(panel) == 0
        drew = _draw_panel(ax, panel, curves[curves.model == model], model_runs, style, by_step, label_phases)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25, linewidth=0.6)
        if single:
            ax.set_title(f"{panel.title}\n({panel.units})", fontsize=9)
            if panels.index(panel) >= len(panels) - ncols:  # the bottom panel of its column
                ax.set_xlabel(xlabel, fontsize=8)
        else:
            row, col = models.index(model), panels.index(panel)
            if row == 0:  # the units wrapped to the column's width
                ax.set_title(f"{panel.title}\n" + textwrap.fill(f"({panel.units})", 24), fontsize=8.5)
            if row == nrows - 1:
                ax.set_xlabel(xlabel, fontsize=8)
            if col == 0:
                ax.set_ylabel(model, fontsize=10, fontweight="bold", color=model_colour(model))
        if not drew:
            ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", color="#888888",
                    fontsize=8)  # fmt: skip
            ax.set_yticks([])
    handles = [Line2D([], [], color="#444444", linestyle=style[s], label=f"seed {s}") for s in seeds]
    handles += [
        Line2D([], [], color="#444444", linewidth=1.6, label="valid NLL / D on real"),
        Line2D([], [], color="#444444", linewidth=1.0, alpha=0.4, label="train NLL / D on generated"),
        Line2D([], [], color="#AAAAAA", linewidth=0.8, label="phase boundary"),
    ]
    if any(r.diverged for r in runs):
        handles.append(Line2D([], [], color="black", linestyle=(0, (1, 1)), marker="x", label="diverged"))
    fig.suptitle(title, fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    _save(fig, path)


PHASE_NAMES = {"mle": "MLE", "discriminator": "D pre-training", "supervised": "MLE", "adversarial": "adversarial"}


def _draw_panel(
    ax: Any,
    panel: Panel,
    curves: pd.DataFrame,
    runs: Sequence[RunTraining],
    style: dict[int, str],
    by_step: bool,
    label_phases: bool,
) -> bool:
    """One model's lines in one panel; False when none of its runs recorded the panel's quantities.
    ``label_phases``: name each phase at its start (its first run's phases)."""
    drew = False
    for r in runs:
        colour = model_colour(r.model)
        mine = curves[curves.run_id == r.run_id]
        for key, _label, strong in panel.series:
            s = mine[mine.quantity == key].sort_values("step", kind="stable")
            if s.empty:
                continue
            x, y = s.step.to_numpy(float), s.value.to_numpy(float) * panel.scale
            kw = {"linewidth": 1.5, "alpha": 1.0} if strong else {"linewidth": 1.0, "alpha": 0.45}
            ax.plot(x, y, color=colour, linestyle=style.get(r.seed, "-"), marker="o", markersize=2.2, **kw)
            if panel.band and key == panel.series[0][0]:
                spread = mine[mine.quantity == panel.band].sort_values("step", kind="stable")
                if len(spread) == len(s):
                    sd = spread.value.to_numpy(float) * panel.scale
                    ax.fill_between(x, y - sd, y + sd, color=colour, alpha=0.15, linewidth=0)
            drew = True
        if drew and by_step:
            ends = [p.get("last_step") for p in r.phases if isinstance(p.get("last_step"), (int, float))]
            if ends:  # the whole run, from its first step
                ax.set_xlim(0, max(max(ends) * 1.03, ax.get_xlim()[1]))
            starts = [p.get("first_step") for p in r.phases]
            span = ax.get_xlim()[1]
            for i, p in enumerate(r.phases):
                first = starts[i]
                if not isinstance(first, (int, float)):
                    continue
                if first > 0:
                    ax.axvline(first, color="#AAAAAA", linewidth=0.8, zorder=0)
                after = next((x for x in starts[i + 1 :] if isinstance(x, (int, float))), span)
                if (
                    label_phases and r is runs[0] and after - first > 0.3 * span and first < 0.65 * span
                ):  # named where there is room
                    name = PHASE_NAMES.get(str(p.get("kind")), str(p.get("kind", "")))
                    ax.text(first, 0.98, f" {name}", transform=ax.get_xaxis_transform(), fontsize=6.5,
                            color="#777777", va="top", ha="left", clip_on=True)  # fmt: skip
        if r.diverged and isinstance(r.diverged.get("step"), (int, float)) and by_step:
            ax.axvline(r.diverged["step"], color="black", linestyle=(0, (1, 1)), linewidth=1.0)
            ax.plot([r.diverged["step"]], [1.0], marker="x", color="black", transform=ax.get_xaxis_transform(),
                    clip_on=False)  # fmt: skip
            drew = True
    if drew and panel.chance is not None:
        ax.axhline(panel.chance * panel.scale, color="#666666", linestyle="--", linewidth=0.8)
    if drew and panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    return drew


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(tmp, dpi=100)
            tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def figure_alt(runs: Sequence[RunTraining], curves: pd.DataFrame) -> str:
    """The figure's alt text: what it shows, for whom."""
    models = ", ".join(_model_order(r.model for r in runs))
    panels = ", ".join(p.title for p in panels_with_data(curves))
    seeds = sorted({r.seed for r in runs})
    return f"Training curves of {models} (seeds {', '.join(map(str, seeds))}): {panels}, against optimiser steps"
