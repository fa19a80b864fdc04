"""Tables, plots and a report, rebuilt from the stored result rows only (never from logs).

Numbers with different signatures never share a column: a metric that appears with several signatures in
one (dataset, profile) group gets one column per signature, each footnoted.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from langgan_bench.errors import UserError
from langgan_bench.results import ResultRow, atomic_write_text, read_results
from langgan_bench.sweep import ORACLE_MODEL

REPORT_DIR = "report"


@dataclass(frozen=True)
class Cell:
    """The aggregate of one (dataset, profile, model, temperature, metric, signature) over seeds."""

    dataset: str
    profile: str
    model: str
    temperature: float
    metric: str
    signature: str
    mean: float
    std: float  # sample std over seeds; nan with one seed
    seeds: tuple[int, ...]


def aggregate(rows: list[ResultRow]) -> list[Cell]:
    groups: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in rows:
        # one value per seed: a rerun of the same seed replaces, the oracle reference rows coincide
        groups[(r.dataset, r.profile, r.model, r.temperature, r.metric, r.signature)][r.seed] = r.value
    cells = []
    for (d, p, m, t, metric, sig), by_seed in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        vals = list(by_seed.values())
        if m == ORACLE_MODEL:
            vals = vals[:1]  # identical in every run
        std = statistics.stdev(vals) if len(vals) > 1 else math.nan
        cells.append(Cell(d, p, m, t, metric, sig, statistics.fmean(vals), std, tuple(sorted(by_seed))))
    return cells


def _sort_key(key: tuple) -> tuple:
    d, p, m, t, metric, sig = key
    return (d, p, m != ORACLE_MODEL, m, math.isnan(t), t, metric, sig)


def leaderboard_csv(cells: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["dataset", "profile", "model", "temperature", "metric", "mean", "std", "n_seeds", "seeds", "signature"])
    for c in cells:
        w.writerow(
            [
                c.dataset,
                c.profile,
                c.model,
                c.temperature,
                c.metric,
                repr(c.mean),
                "" if math.isnan(c.std) else repr(c.std),
                len(c.seeds),
                " ".join(map(str, c.seeds)),
                c.signature,
            ]
        )
    return buf.getvalue()


# --- columns: one per (metric, signature) -------------------------------------------------------------


def columns(cells: list[Cell]) -> list[tuple[str, str, str]]:
    """(label, metric, signature) for a group; a metric with several signatures gets numbered labels."""
    sigs: dict[str, list[str]] = defaultdict(list)
    for c in cells:
        if c.signature not in sigs[c.metric]:
            sigs[c.metric].append(c.signature)
    out = []
    for metric in sorted(sigs):
        for i, sig in enumerate(sigs[metric], start=1):
            out.append((metric if len(sigs[metric]) == 1 else f"{metric} [{i}]", metric, sig))
    return out


def fmt(c: Cell | None) -> str:
    if c is None:
        return ""
    if c.metric == "diverged_at_step":
        return f"diverged at step {int(c.mean)}"
    return f"{c.mean:.4f}" + ("" if math.isnan(c.std) else f" ± {c.std:.4f}")


# --- plots --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlotSpec:
    """One figure per (dataset, profile): ``y`` against ``x`` (a metric, or "temperature"), a curve per model."""

    name: str
    x: str
    y: str
    xlabel: str
    ylabel: str
    title: str


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
        "Self-BLEU-5 (lower = more diverse)",
        "BLEU-5 (higher = better quality)",
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
        "fed", "temperature", "fed", "temperature", "FED (lower = closer to the test set)", "FED across temperatures"
    ),
)


def plot(cells: list[Cell], spec: PlotSpec, title: str, path: Path) -> bool:
    """Draw ``spec`` for one group; the oracle (synthetic data) is drawn as a reference point with its
    NLL_test floor. Returns False (and writes nothing) if the group has no such pair of numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts: dict[str, dict[float, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for c in cells:
        if c.metric in (spec.x, spec.y) and not math.isnan(c.temperature):
            pts[c.model][c.temperature][c.metric] = c.mean
            pts[c.model][c.temperature]["temperature"] = c.temperature
    curves = {
        m: sorted((t, v[spec.x], v[spec.y]) for t, v in by_t.items() if spec.x in v and spec.y in v)
        for m, by_t in pts.items()
    }
    curves = {m: c for m, c in curves.items() if c}
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(7, 5))
    for model, curve in curves.items():
        if model == ORACLE_MODEL:
            continue
        _, xs, ys = zip(*curve, strict=True)
        ax.plot(xs, ys, marker="o", label=model)
        if spec.x != "temperature":
            for t, x, y in curve:
                ax.annotate(f"{t:g}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if ORACLE_MODEL in curves:
        _, fx, fy = curves[ORACLE_MODEL][0]
        if spec.x == "nll_test":
            ax.axvline(fx, color="grey", linestyle="--", linewidth=1, label=f"oracle NLL_test floor ({fx:.3f})")
        ax.scatter([fx], [fy], marker="*", s=160, color="black", zorder=5, label=f"oracle ({fx:.3f}, {fy:.3f})")
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return True


# --- documents ----------------------------------------------------------------------------------------

Block = tuple[str, object]  # ("h1"|"h2"|"h3"|"p"|"code", text) | ("table", (header, rows)) | ("img", (alt, src))


def group_blocks(
    cells: list[Cell], rows: list[ResultRow], dataset: str, profile: str, out_dir: Path
) -> tuple[list[Block], list[Path]]:
    """The report section of one (dataset, profile) group, and the plot files it wrote."""
    blocks: list[Block] = [("h2", f"{dataset} — profile {profile}")]
    plots = []
    for spec in PLOTS:
        path = out_dir / f"{dataset}-{profile}-{spec.name}.png"
        if plot(cells, spec, f"{dataset} ({profile}): {spec.title}", path):
            blocks.append(("img", (f"{spec.y} against {spec.x}", path.name)))
            plots.append(path)
    cols = columns(cells)
    index = {(c.model, c.temperature, c.metric, c.signature): c for c in cells}
    models = list(dict.fromkeys(c.model for c in cells))

    at_one = [[m, *(fmt(index.get((m, 1.0, metric, sig))) for _, metric, sig in cols)] for m in models]
    blocks += [("h3", "At T = 1.0"), ("table", (["model", *(lab for lab, _, _ in cols)], at_one))]

    sweep = []
    for m in models:
        for t in sorted({c.temperature for c in cells if c.model == m}):
            sweep.append(
                [
                    m,
                    "greedy (0)" if t == 0 else ("—" if math.isnan(t) else f"{t:g}"),
                    *(fmt(index.get((m, t, metric, sig))) for _, metric, sig in cols),
                ]
            )
    blocks += [
        ("h3", "Temperature sweep (mean ± std over seeds)"),
        ("table", (["model", "T", *(lab for lab, _, _ in cols)], sweep)),
    ]

    blocks.append(("h3", "Signatures"))
    blocks.append(("code", "\n".join(f"{lab}: {sig}" for lab, _, sig in cols)))

    runs = {}
    for r in rows:
        if r.dataset == dataset and r.profile == profile and r.model != ORACLE_MODEL:
            runs[r.run_id] = [r.run_id, r.model, str(r.seed), r.git_commit, r.version, r.timestamp]
    blocks += [
        ("h3", "Runs"),
        ("table", (["run", "model", "seed", "git commit", "version", "finished"], sorted(runs.values()))),
    ]
    return blocks, plots


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + f" {body}\n")
        elif kind == "p":
            out.append(f"{body}\n")
        elif kind == "code":
            out.append(f"```\n{body}\n```\n")
        elif kind == "img":
            alt, src = body  # type: ignore[misc]
            out.append(f"![{alt}]({src})\n")
        elif kind == "table":
            header, rows = body  # type: ignore[misc]
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows]
            out.append("")
    return "\n".join(out) + "\n"


def to_html(blocks: list[Block]) -> str:
    e = html.escape
    out = [
        "<!doctype html><html><head><meta charset='utf-8'><title>langgan-bench report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
        "pre{background:#f4f4f4;padding:8px}</style></head><body>",
    ]
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(str(body))}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(str(body))}</p>")
        elif kind == "code":
            out.append(f"<pre>{e(str(body))}</pre>")
        elif kind == "img":
            alt, src = body  # type: ignore[misc]
            out.append(f"<img alt='{e(alt)}' src='{e(src)}'>")
        elif kind == "table":
            header, rows = body  # type: ignore[misc]
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(str(x))}</td>" for x in r) + "</tr>" for r in rows]
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def build_report(results_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Write leaderboard.csv, one plot per (dataset, profile), report.md and report.html; return the paths."""
    rows = read_results(results_dir)
    if not rows:
        raise UserError(f"no result rows under {results_dir}; run `langgan-bench run ...` first")
    out_dir = out_dir or results_dir / REPORT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = aggregate(rows)
    written = [out_dir / "leaderboard.csv"]
    atomic_write_text(written[0], leaderboard_csv(cells))

    n_runs = len({r.run_id for r in rows})
    blocks: list[Block] = [
        ("h1", "langgan-bench report"),
        (
            "p",
            f"Built {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from {len(rows)} result rows of "
            f"{n_runs} runs. Every number is a mean over seeds; NLLs are nats per token (lower is better). "
            "The oracle row is the true distribution scored like a model: its NLL_test is the floor.",
        ),
    ]
    for dataset, profile in sorted({(c.dataset, c.profile) for c in cells}):
        group = [c for c in cells if c.dataset == dataset and c.profile == profile]
        section, plots = group_blocks(group, rows, dataset, profile, out_dir)
        blocks += section
        written += plots
    for name, render in (("report.md", to_markdown), ("report.html", to_html)):
        atomic_write_text(out_dir / name, render(blocks))
        written.append(out_dir / name)
    return written
