"""The report, rebuilt from the stored result rows only (plus each run's samples and config for display).

``build_report`` writes, into the report folder: ``verdicts.csv`` (the matched-diversity verdicts, see
verdicts.py), ``verdict_points.csv`` (Δ at every GAN temperature), ``leaderboard.csv`` (every cell: mean,
95% half-width, n over seeds), one PNG per figure (the quality–diversity planes and, per dataset, the runs'
training curves), ``report.md`` and ``report.html`` (the same content; the HTML is one self-contained file
with its figures inlined and one short inline script that sorts a table by a clicked column; without
scripts it is the same page, unsorted). Where runs were swept with other decoders too (``decoders.py``):
``decoder_verdicts.csv`` and ``decoder_verdict_points.csv`` (does each of MLE's decoders beat its
temperature), ``verdicts_best_decoder.csv`` and ``verdict_points_best_decoder.csv`` (the GANs against MLE's
best decoder), and per dataset the decoder figures and table; the sections about temperatures read the
temperature rows alone. Every value that comes from a file is escaped.
Numbers with different signatures never share a column: a metric with several signatures in one group gets a
column per signature, each in the signature legend.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from langgan_bench.analysis.cells import count, fmt, outside_text, verdict_text
from langgan_bench.analysis.decoders import (
    NOT_SAMPLE_METRICS,
    best_decoder_blocks,
    dataset_blocks,
    decoder_verdict_blocks,
)
from langgan_bench.analysis.plots import PLOTS, curves, draw
from langgan_bench.analysis.published import published_beside
from langgan_bench.analysis.rows import ORACLE_MODEL, RUNS_DIR, load_for, read_failures, run_record, wall_seconds
from langgan_bench.analysis.stats import per_seed, summarize
from langgan_bench.analysis.training import (
    curve_frame,
    draw_training,
    figure_alt,
    phase_frame,
    phase_summary,
    read_runs,
)
from langgan_bench.analysis.verdicts import BASELINE, best_decoder_verdicts, decoder_verdicts, verdicts
from langgan_bench.core.decoders import TEMPERATURE
from langgan_bench.core.errors import UserError
from langgan_bench.core.files import atomic_write_text, ensure_writable, is_safe_name
from langgan_bench.metrics.base import spec_of

LOG = logging.getLogger(__name__)
REPORT_DIR = "report"
SAMPLE_TEMPERATURES = (0.7, 1.0, 1.5)
SAMPLES_PER_MODEL = 5
MAX_SAMPLE_CHARS = 400

#: ("h1"|"h2"|"h3"|"p", text) | ("table", (header, rows[, sortable])) | ("img", (alt, path))
#: | ("links", [(text, href), ...]) (site pages' navigation)
Block = tuple[str, object]


# --- formatting ---------------------------------------------------------------------------------------


def fmt_t(t: float) -> str:
    return "—" if math.isnan(t) else ("greedy (0)" if t == 0 else f"{t:g}")


def lower_is_better(metric: str) -> bool:
    """Direction of a metric value's name (``bleu-5`` is the registered ``bleu`` at order 5)."""
    spec = spec_of(metric)
    return spec.lower_is_better if spec is not None else True


def columns(cells: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(label, metric, signature) per column of a group; a metric with several signatures gets numbered labels."""
    out = []
    values = cells[cells.metric != "diverged_at_step"]
    for metric, g in values.groupby("metric", sort=True):
        sigs = sorted(g.signature.unique())
        out += [(metric if len(sigs) == 1 else f"{metric} [{i}]", metric, s) for i, s in enumerate(sigs, 1)]
    return out


# --- sections ----------------------------------------------------------------------------------------


def verdict_blocks(table: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [
        ("h2", "Verdicts: does a GAN beat MLE with a tuned temperature at matched diversity?"),
        (
            "p",
            "MLE may use any temperature of its sweep, so each GAN point is compared with MLE's frontier: "
            "Q*(d), the best quality MLE's curve (same seed, dataset and signatures; adjacent temperatures "
            "joined by straight lines) reaches at a diversity at least as good as the GAN's, and Δ = Q*(d) − "
            "quality(GAN), signed so that Δ > 0 means MLE is better. 'MLE dominates': the 95% interval of Δ "
            "over seeds is above 0 at every GAN point; 'GAN better somewhere': below 0 at some point (named); "
            "'within noise': otherwise. A point more diverse than every MLE point, or less diverse than every "
            "MLE point and better than all of them, is outside MLE's range (the end is named) and never "
            "extrapolated: no MLE point beats it, so where MLE is better at every other point the verdict is "
            "'outside MLE's range' until MLE's sweep is widened. Greedy points (T = 0) are not judged. The "
            "frontier gap is the mean Δ over the compared points and ranks the GANs (smallest first). "
            "'Closest point' is where the GAN comes closest to MLE's frontier; every point is in "
            "verdict_points.csv. FED and MAUVE have no diversity partner: "
            "each model is taken at its own best temperature (listed per seed).",
        ),
    ]
    if table.empty:
        blocks.append(("p", "No verdict: the results hold no GAN and MLE pair on a common dataset."))
        return blocks
    rows = []
    for r in table.itertuples(index=False):
        verdict = verdict_text(r)
        has = isinstance(r.closest_T, str) and r.closest_T != ""
        gan = f"T={r.closest_T}: {fmt(r.gan_quality, r.gan_quality_hw)}" if has else ""
        if has and not math.isnan(r.gan_diversity):
            gan += f" @ {fmt(r.gan_diversity, r.gan_diversity_hw)}"
        mle = f"T={r.mle_T}: {fmt(r.mle_quality, r.mle_quality_hw)}" if has else ""
        diverged = f" (+{r.diverged_seeds} diverged)" if r.diverged_seeds else ""
        where = outside_text(r)
        rows.append(
            [
                f"{r.dataset} ({r.profile})",
                r.gan,
                r.pair,
                verdict,
                f"{count(r.n_seeds) or 0}{diverged}",
                fmt(r.frontier_gap, r.frontier_gap_hw),
                gan,
                mle,
                fmt(r.delta, r.delta_hw),
                f"{count(r.points_compared)} / {count(r.points_outside)}{where}",
            ]
        )
    header = ["dataset", "GAN", "quality @ diversity", "verdict", "seeds", "frontier gap (mean Δ)",
              "GAN closest point", "MLE frontier there", "Δ there", "compared / outside"]  # fmt: skip
    blocks.append(("table", (header, rows)))
    if (table.n_seeds == 1).any():
        blocks.append(("p", "With one seed there is no confidence interval, so no verdict: run more seeds."))
    return blocks


def leaderboard_blocks(cells: pd.DataFrame) -> list[Block]:
    """At T = 1 and at each model's best temperature per metric, mean ± 95% half-width with n."""
    cols = columns(cells)
    models = sorted(cells.model.unique(), key=lambda m: (m != ORACLE_MODEL, m != BASELINE, m))
    index = {(r.model, r.temperature, r.metric, r.signature): r for r in cells.itertuples(index=False)}
    diverged = cells[cells.metric == "diverged_at_step"].set_index("model")
    header = ["model", "seeds", *(lab for lab, _, _ in cols)]

    def seeds_of(model: str) -> str:
        ns = cells.loc[(cells.model == model) & (cells.metric != "diverged_at_step"), "n"]
        text = str(int(ns.max())) if len(ns) else "0"
        if model in diverged.index:
            d = diverged.loc[[model]].iloc[0]
            text += f" (+{int(d.n)} diverged at step {d['mean']:.0f})"
        return text

    at_one = []
    for m in models:
        row = [m, seeds_of(m)]
        for _, metric, sig in cols:
            c = index.get((m, 1.0, metric, sig))
            row.append(fmt(c.mean, c.half_width) if c is not None else "")
        at_one.append(row)
    best = []
    for m in models:
        row = [m, seeds_of(m)]
        for _, metric, sig in cols:
            sub = cells[(cells.model == m) & (cells.metric == metric) & (cells.signature == sig)]
            sub = sub[sub.temperature.notna()]
            if sub.empty:
                row.append("")
                continue
            c = sub.loc[sub["mean"].idxmin() if lower_is_better(metric) else sub["mean"].idxmax()]
            row.append(f"{fmt(c['mean'], c['half_width'])} (T={fmt_t(c['temperature'])})")
        best.append(row)
    return [
        ("h3", "Leaderboard at T = 1.0 (mean ± 95% CI half-width over seeds)"),
        ("table", (header, at_one)),
        ("h3", "Leaderboard at each model's best temperature, per metric"),
        ("table", (header, best)),
    ]


def sweep_blocks(cells: pd.DataFrame) -> list[Block]:
    cols = columns(cells)
    index = {(r.model, r.temperature, r.metric, r.signature): r for r in cells.itertuples(index=False)}
    rows = []
    for (m, t), _ in cells[cells.temperature.notna()].groupby(["model", "temperature"], sort=True):
        vals = [index.get((m, t, metric, sig)) for _, metric, sig in cols]
        rows.append([m, fmt_t(t), *(fmt(c.mean, c.half_width) if c is not None else "" for c in vals)])
    return [
        ("h3", "Temperature sweep (mean ± 95% CI half-width over seeds)"),
        ("table", (["model", "T", *(lab for lab, _, _ in cols)], rows)),
    ]


def figure_blocks(
    cells: pd.DataFrame, dataset: str, profile: str, out_dir: Path, prefix: str | None = None
) -> tuple[list[Block], list[Path]]:
    """The quality–diversity figures of one (dataset, profile) group, named ``<prefix>-<figure>.png``
    (``prefix``: ``<dataset>-<profile>`` unless given)."""
    blocks: list[Block] = []
    written = []
    for spec in PLOTS:
        found = curves(cells, spec)
        for i, (x_sig, y_sig, points) in enumerate(found, start=1):
            suffix = "" if len(found) == 1 else f"-{i}"
            path = _inside(out_dir, f"{prefix or f'{dataset}-{profile}'}-{spec.name}{suffix}.png")
            title = f"{dataset} ({profile}): {spec.title}" + (f" [{i}]" if suffix else "")
            draw(points, spec, title, path)
            blocks.append(("img", (f"{spec.y} against {spec.x}{suffix}", path)))
            if suffix:  # several signatures: say which numbers this figure holds
                blocks.append(("p", f"Figure [{i}]: {spec.y} = {y_sig}" + (f"; {spec.x} = {x_sig}" if x_sig else "")))
            written.append(path)
    return blocks, written


def training_blocks(
    results_dir: Path | dict[str, Path], run_ids: list[str], title: str, path: Path
) -> tuple[list[Block], list[Path]]:
    """The training curves of ``run_ids`` (one small-multiples figure: a row per model, a line per seed) and
    their wall time per phase. ``results_dir``: the folder of every run, or each run's folder (the site's
    merged results)."""
    if isinstance(results_dir, dict):
        runs = [r for rid in run_ids for r in read_runs(results_dir[rid], [rid])]
    else:
        runs = read_runs(results_dir, run_ids)
    runs = [r for r in runs if r.history]
    blocks: list[Block] = [("h3", "Training curves")]
    if not runs:
        blocks.append(("p", "No training history is stored for these runs (runs from before 0.6.0, or results "
                            "copied without their config.json)."))  # fmt: skip
        return blocks, []
    curves = curve_frame(runs)
    draw_training(curves, runs, title, path)
    blocks += [
        (
            "p",
            "From each run's stored history, against the run's optimiser steps (every generator and "
            "discriminator update); a row per model, a line per seed, grey lines where a phase starts (MLE "
            "pre-training, discriminator pre-training, adversarial training). What to look for: a "
            "discriminator whose accuracy reaches 1 early wins and leaves the generator no signal; rewards "
            "that shrink to one value with no spread, or a fall in distinct samples, mean collapse; the "
            "generator's NLL should not drift up during adversarial training. A dotted black line marks "
            "where a run diverged.",
        ),
        ("img", (figure_alt(runs, curves), path)),
    ]
    phases = phase_frame(runs)
    table = phase_summary(phases)
    if not table.empty:
        rows = [
            [r.model, r.phase, r.kind, str(r.seeds), f"{r.steps:.0f}", fmt(r.seconds, r.half_width, 1)]
            for r in table.itertuples(index=False)
        ]
        header = ["model", "phase", "kind", "seeds", "optimiser steps", "wall seconds (mean ± 95% CI)"]
        blocks += [("h3", "Wall time per training phase"), ("table", (header, rows))]
    return blocks, [path]


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would leave the folder."""
    path = folder / name
    if path.resolve().parent != folder.resolve() or not is_safe_name(name):
        raise UserError(f"refusing to write {name!r} outside the report folder {folder}")
    return path


def sample_blocks(df: pd.DataFrame, results_dir: Path | dict[str, Path]) -> list[Block]:
    """A few decoded samples per model (its lowest seed's run) at a few temperatures, from the stored files
    (``results_dir``: the folder of every run, or each run's folder)."""
    rows = []
    runs = df[df.model != ORACLE_MODEL].sort_values(["model", "seed"]).drop_duplicates("model")
    for r in runs.itertuples(index=False):
        for t in SAMPLE_TEMPERATURES:
            folder = results_dir[r.run_id] if isinstance(results_dir, dict) else results_dir
            for i, line in enumerate(_read_samples(folder, r.run_id, t)):
                rows.append([r.model if i == 0 else "", f"{t:g}" if i == 0 else "", line])
    if not rows:
        return []
    return [
        ("h3", f"Samples (seed {int(runs.seed.min())}, first {SAMPLES_PER_MODEL})"),
        ("table", (["model", "T", "sample"], rows, False)),  # rows grouped by model: not sortable
    ]


def _read_samples(results_dir: Path, run_id: str, t: float) -> list[str]:
    path = results_dir / RUNS_DIR / run_id / "samples" / f"T{t:g}.txt"
    if not is_safe_name(run_id) or not path.is_file():
        return []
    with open(path, "rb") as f:
        head = f.read(64 * 1024).decode("utf-8", errors="replace")
    return [line[:MAX_SAMPLE_CHARS] for line in head.splitlines()[:SAMPLES_PER_MODEL]]


def environment_blocks(df: pd.DataFrame, results_dir: Path) -> list[Block]:
    rows = []
    runs = df[df.model != ORACLE_MODEL].drop_duplicates("run_id").sort_values(["dataset", "profile", "model", "seed"])
    records = {rid: run_record(results_dir, rid) for rid in runs.run_id}
    for r in runs.itertuples(index=False):
        rec = records[r.run_id]
        seconds = wall_seconds(rec)
        wall = "" if seconds is None else f"{seconds:.0f}s"
        train = rec.get("training", {}) if isinstance(rec.get("training"), dict) else {}
        train_s = train.get("train_seconds")
        rows.append(
            [
                r.run_id,
                r.model,
                str(r.seed),
                str(rec.get("device", "")),
                str(rec.get("threads", "")),
                f"{train_s:.0f}s" if isinstance(train_s, (int, float)) else "",
                wall,
                str(rec.get("status", "")),
                r.git_commit,
                f"{r.version} / torch {rec.get('torch', '?')} / python {rec.get('python', '?')}",
            ]
        )
    header = ["run", "model", "seed", "device", "threads", "training", "wall", "status", "git commit", "versions"]
    platforms = sorted({str(rec.get("platform", "")) for rec in records.values()} - {""})
    blocks: list[Block] = [("h2", "Environment"), ("table", (header, rows))]
    if platforms:
        blocks.append(("p", "Platform: " + "; ".join(platforms)))
    cpus = sorted({_cpu_line(rec["cpu"]) for rec in records.values() if isinstance(rec.get("cpu"), dict)})
    if cpus:  # the instruction set and the caches decide a CPU run's float sums (kernels/cpu.py: run_facts)
        blocks.append(("p", "CPU: " + "; ".join(cpus)))
    return blocks


def _cpu_line(facts: dict[str, Any]) -> str:
    """One run's CPU as the report names it: model, torch's instruction set, any restriction, the caches."""
    limits = ", ".join(f"{k}={v}" for k, v in sorted(dict(facts.get("restrictions") or {}).items()))
    isa = f"torch {facts.get('torch_isa', '?')}" + (f" (restricted: {limits})" if limits else "")
    return f"{facts.get('model', '?')}, {isa}, {facts.get('caches', '?')}"


def failure_blocks(results_dir: Path) -> list[Block]:
    failed = read_failures(results_dir)
    if not failed:
        return []
    rows = [[f.get("dataset", ""), f.get("model", ""), f.get("seed", ""), f.get("error", "")] for f in failed]
    return [
        ("h2", "Failed cells (last bench)"),
        ("p", "These cells of the last bench failed and have no rows; the rest of the report is without them."),
        ("table", (["dataset", "model", "seed", "reason"], rows)),
    ]


def metric_blocks(cells: pd.DataFrame) -> list[Block]:
    """One line per metric in these results: what it measures and which way is better."""
    rows, seen = [], set()
    for metric in sorted(set(cells.metric) - {"diverged_at_step"}):
        spec = spec_of(metric)
        if spec is None or spec.name in seen:
            continue
        seen.add(spec.name)
        names = ", ".join(sorted({m for m in cells.metric if spec_of(m) is spec}))
        direction = "lower is better" if spec.lower_is_better else "higher is better"
        rows.append([spec.name, names, f"{spec.kind}, {direction}", spec.description])
    return [("h2", "Metrics"), ("table", (["metric", "columns", "measures", "definition"], rows))]


def signature_blocks(cells: pd.DataFrame) -> list[Block]:
    rows = []
    for (dataset, profile), group in cells.groupby(["dataset", "profile"], sort=True):
        rows += [[f"{dataset} ({profile})", lab, sig] for lab, _, sig in columns(group)]
    return [("h2", "Signatures"), ("table", (["dataset", "column", "signature"], rows))]


def published_blocks(cells: pd.DataFrame) -> list[Block]:
    table = published_beside(cells)
    blocks: list[Block] = [
        ("h2", "Published figures beside ours"),
        (
            "p",
            "Figures from papers and repositories whose settings match a dataset of this report, next to ours "
            "at the same temperature. They are never merged into our tables; the settings column says what "
            "may still differ.",
        ),
    ]
    if table.empty:
        blocks.append(("p", "No published figure matches a dataset in these results."))
        return blocks
    rows = [
        [r.dataset, r.model, r.metric, fmt_t(r.temperature), f"{r.published:g}", r.ours, r.settings, r.source]
        for r in table.itertuples(index=False)
    ]
    header = ["dataset", "model", "metric", "T", "published", "ours (n seeds)", "settings", "source"]
    blocks.append(("table", (header, rows)))
    return blocks


# --- rendering -----------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md_escape(text: object) -> str:
    """Text from a file as inert Markdown: HTML entities escaped, Markdown syntax backslash-escaped."""
    plain = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(plain, quote=False))


def to_markdown(blocks: list[Block], folder: Path) -> str:
    out = []
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + f" {md_escape(body)}\n")
        elif kind == "p":
            out.append(f"{md_escape(body)}\n")
        elif kind == "img":
            alt, path = body  # type: ignore[misc]
            out.append(f"![{md_escape(alt)}]({path.relative_to(folder).as_posix()})\n")
        elif kind == "links":
            out += [f"- [{md_escape(text)}]({href})" for text, href in body]  # type: ignore[attr-defined]
            out.append("")
        elif kind == "table":
            header, rows, *_ = body  # type: ignore[misc]
            out.append("| " + " | ".join(md_escape(h) for h in header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(md_escape(x) for x in r) + " |" for r in rows]
            out.append("")
    return "\n".join(out) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right;vertical-align:top}"
    "td:first-child,th{text-align:left}td.t{text-align:left}th{background:#f2f2f2}img{max-width:100%;height:auto}"
    "h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}"
    "th.sorts{cursor:pointer}th.sorts:hover:after,th.sorts:focus:after{content:' \\2195';color:#777}"
    "th[aria-sort=ascending]:after{content:' \\25B2';color:#222}"
    "th[aria-sort=descending]:after{content:' \\25BC';color:#222}"
    "nav{font-size:.9em;margin-bottom:1em}nav a{margin-right:1em}.conflict{color:#b00}"
)

#: Sorts a table by the clicked (or Enter-pressed) header: numbers (a cell's leading number, so "7.1 ± 0.2"
#: sorts by 7.1) before text, ascending then descending. Without scripts the tables are the same, unsorted.
SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('thead th').forEach(function (th, i) {
    th.classList.add('sorts'); th.tabIndex = 0; th.title = 'sort by this column';
    function key(r) { var s = r.cells[i] ? r.cells[i].textContent.trim() : ''; var n = parseFloat(s);
      return isNaN(n) ? [1, s.toLowerCase()] : [0, n]; }
    function sort() {
      var asc = th.getAttribute('aria-sort') !== 'ascending', body = t.tBodies[0];
      t.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      Array.from(body.rows).map(function (r) { return [key(r), r]; }).sort(function (a, b) {
        var c = a[0][0] - b[0][0] || (a[0][1] < b[0][1] ? -1 : a[0][1] > b[0][1] ? 1 : 0);
        return asc ? c : -c; }).forEach(function (p) { body.appendChild(p[1]); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') sort(); });
  });
});
"""


_NUMBER = re.compile(r"\s*[-+]?(\d|\.\d)")


def _cell(value: object) -> str:
    """A table cell: numbers right-aligned (the CSS default), text left-aligned (class t)."""
    text = html.escape(str(value))
    return f"<td>{text}</td>" if not text or _NUMBER.match(text) else f"<td class=t>{text}</td>"


def inline_png(path: Path) -> str:
    """A figure as a data URI: the report is one file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(
    blocks: list[Block],
    title: str = "langgan-bench report",
    image_src: Callable[[Path], str] = inline_png,
    nav: list[tuple[str, str]] | None = None,
) -> str:
    """One page with no external resource: figures inlined as data URIs (or at ``image_src(path)``, a
    relative link, for the site), tables sortable by a short inline script, every text escaped."""
    e = html.escape
    out = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<style>{_CSS}</style></head><body>",
    ]
    if nav:
        out.append("<nav>" + "".join(f"<a href='{e(href)}'>{e(text)}</a>" for text, href in nav) + "</nav>")
    sortable_tables = 0
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(str(body))}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(str(body))}</p>")
        elif kind == "links":
            items = "".join(f"<li><a href='{e(href)}'>{e(text)}</a></li>" for text, href in body)  # type: ignore[attr-defined]
            out.append(f"<ul>{items}</ul>")
        elif kind == "img":
            alt, path = body  # type: ignore[misc]
            out.append(f"<p><img alt='{e(alt)}' src='{e(image_src(path))}'></p>")
        elif kind == "table":
            header, rows, *flags = body  # type: ignore[misc]
            sortable = not flags or bool(flags[0])
            sortable_tables += sortable
            out.append(f"<table{' class=sortable' if sortable else ''}><thead><tr>")
            out.append("".join(f"<th scope='col'>{e(str(h))}</th>" for h in header) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(_cell(x) for x in r) + "</tr>" for r in rows]
            out.append("</tbody></table>")
    if sortable_tables:
        out.append(f"<script>{SORT_SCRIPT}</script>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --- the whole report ---------------------------------------------------------------------------------


def _prepare(out_dir: Path) -> Path:
    """Create the report folder, or fail with one line (a file in the way, no permission)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"report folder {out_dir} is a file; give --out a folder")
    return ensure_writable(out_dir, "report folder")


def build_report(
    results_dir: Path,
    out_dir: Path | None = None,
    warn: Callable[[str], None] = LOG.warning,
) -> list[Path]:
    """Write the verdicts, the leaderboard, the figures, report.md and report.html; return the paths."""
    df, _ = load_for(results_dir, "the report", "run `langgan-bench run ...` first", warn)
    out_dir = _prepare(out_dir or results_dir / REPORT_DIR)
    seeds = per_seed(df)
    cells = summarize(df)
    verdict_table, points = verdicts(seeds)
    best_table, best_points = best_decoder_verdicts(seeds)
    decoder_table, decoder_points = decoder_verdicts(seeds)
    tables = [("verdicts.csv", verdict_table), ("verdict_points.csv", points)]
    if not best_table.empty:
        tables += [("verdicts_best_decoder.csv", best_table), ("verdict_points_best_decoder.csv", best_points)]
    if not decoder_table.empty:
        tables += [("decoder_verdicts.csv", decoder_table), ("decoder_verdict_points.csv", decoder_points)]
    written = []
    try:
        for name, table in tables:
            atomic_write_text(out_dir / name, table.to_csv(index=False))
            written.append(out_dir / name)
        board = cells.rename(columns={"n": "n_seeds"})[
            [
                "dataset",
                "profile",
                "model",
                "temperature",
                "decoder",
                "knob",
                "metric",
                "mean",
                "half_width",
                "std",
                "n_seeds",
                "seeds",
                "signature",
            ]
        ]
        atomic_write_text(out_dir / "leaderboard.csv", board.to_csv(index=False))
        written.append(out_dir / "leaderboard.csv")

        runs = df.run_id.nunique()
        blocks: list[Block] = [
            ("h1", "langgan-bench report"),
            (
                "p",
                f"Built {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from {len(df)} result rows of {runs} "
                "runs. Every figure is the mean over seeds ± the half-width of a 95% Student-t confidence "
                "interval (n = number of seeds; one seed: no interval). NLLs are nats per token, lower is "
                "better. On synthetic data the oracle row is the true distribution scored like a model: its "
                "NLL_test is the floor.",
            ),
        ]
        if ((cells.n == 1) & (cells.model != ORACLE_MODEL)).any():
            blocks.append(
                (
                    "p",
                    "Some figures come from one seed: with one seed there is no confidence interval, so they are "
                    "shown without ± (never ± 0) and no verdict is drawn from them. Run more seeds (--seeds).",
                )
            )
        blocks += [*verdict_blocks(verdict_table), *best_decoder_blocks(best_table)]
        blocks += [*decoder_verdict_blocks(decoder_table), *failure_blocks(results_dir)]
        for (dataset, profile), group in cells.groupby(["dataset", "profile"], sort=True):
            blocks.append(("h2", f"{dataset} — profile {profile}"))
            # the temperature sections read the temperature's rows of the samples' metrics (decoders: below)
            temperature = group[(group.decoder == TEMPERATURE) & ~group.metric.isin(NOT_SAMPLE_METRICS)]
            blocks += leaderboard_blocks(temperature)
            figs, paths = figure_blocks(temperature, str(dataset), str(profile), out_dir)
            blocks += figs
            written += paths
            blocks += sweep_blocks(temperature)
            figs, paths = dataset_blocks(group, str(dataset), str(profile), out_dir)
            blocks += figs
            written += paths
            sub = df[(df.dataset == dataset) & (df.profile == profile)]
            run_ids = sorted(sub[sub.model != ORACLE_MODEL].run_id.unique())
            path = _inside(out_dir, f"{dataset}-{profile}-training.png")
            figs, paths = training_blocks(results_dir, run_ids, f"{dataset} ({profile}): training curves", path)
            blocks += figs
            written += paths
            blocks += sweep_blocks(group)
            blocks += sample_blocks(sub, results_dir)
        blocks += published_blocks(cells)
        blocks += environment_blocks(df, results_dir)
        blocks += metric_blocks(cells)
        blocks += signature_blocks(cells)
        for name, text in (("report.md", to_markdown(blocks, out_dir)), ("report.html", to_html(blocks))):
            atomic_write_text(out_dir / name, text)
            written.append(out_dir / name)
    except OSError as err:
        raise UserError(f"cannot write the report into {out_dir}: {err.strerror or err}") from None
    return written
