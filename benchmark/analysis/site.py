"""A static leaderboard site merged from several results folders (``langgan-bench site RESULTS... --out DIR``).

Collaborators, machines and GPU runs each leave a results folder; the site puts them on one set of pages that
open from disk (relative links, figures as PNG files beside the pages, no external resource): an index, a
page per dataset and profile (verdicts, leaderboards and sweep as sortable tables, the quality–diversity
figures, the training curves), a page per model there (its verdicts, its curves against MLE's, its training
curves, its samples, its runs), the conflicts and the signature legend.

Merging follows two rules, so that no number is ever mixed with one it does not belong with:

- runs are merged by run id: the same run found in several folders counts once when its rows agree (the
  run's numbers, not when or where they were written); two different results under one run id are both left
  out of every table and listed as a conflict;
- numbers under different signatures never share a column (as in the report), and every metric with more
  than one signature in a dataset and profile is listed as a conflict, with the runs behind each.

The site is written into a temporary folder beside ``DIR`` and moved into place whole: a reader sees the old
site or the new one, and a failure leaves nothing behind. ``DIR`` is replaced only if it is empty or a site
this command wrote (it holds a ``.langgan-site`` marker).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from langgan_bench.analysis.report import (
    Block,
    columns,
    figure_blocks,
    leaderboard_blocks,
    metric_blocks,
    sample_blocks,
    signature_blocks,
    sweep_blocks,
    to_html,
    training_blocks,
    verdict_blocks,
)
from langgan_bench.analysis.rows import ORACLE_MODEL, load_for, run_record, wall_seconds
from langgan_bench.analysis.stats import per_seed, summarize
from langgan_bench.analysis.verdicts import BASELINE, verdicts
from langgan_bench.core.errors import MachineFault, UserError, is_fault
from langgan_bench.core.files import atomic_write_text, ensure_writable, writing

LOG = logging.getLogger(__name__)
MARKER = ".langgan-site"
FIGURES = "figures"
#: the fields that make a run's result: two copies of a run agree when these agree on every row
RESULT_FIELDS = ["dataset", "model", "seed", "profile", "temperature", "metric", "value", "signature", "n_samples"]


@dataclass
class Merged:
    """The rows of several results folders, merged by run id, and what could not be merged."""

    rows: pd.DataFrame  # the result rows (load_results' columns) of every run kept
    folder: dict[str, Path]  # run id -> the results folder its files (config, samples) are read from
    sources: list[tuple[Path, int, int, int]]  # (folder, runs, rows, files left out)
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, what, detail)
    shared: list[tuple[str, list[Path]]] = field(default_factory=list)  # runs found whole in several folders


def _fingerprint(rows: pd.DataFrame) -> tuple[str, ...]:
    """A run's result, independent of row order and of when and where it was written."""
    return tuple(sorted("|".join(repr(v) for v in r) for r in rows[RESULT_FIELDS].itertuples(index=False)))


def _difference(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """What differs between two results under one run id, in a line."""
    key = ["model", "temperature", "metric", "signature"]
    both = a.merge(b, on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
    only = int((both["_merge"] != "both").sum())
    paired = both[both["_merge"] == "both"]
    differ = paired[paired.value_a.ne(paired.value_b) & ~(paired.value_a.isna() & paired.value_b.isna())]
    parts = []
    if len(differ):
        worst = differ.assign(gap=(differ.value_a - differ.value_b).abs()).sort_values("gap").iloc[-1]
        parts.append(
            f"{len(differ)} of {len(paired)} values differ (largest: {worst.metric} at T={worst.temperature:g}, "
            f"{worst.value_a:.6g} vs {worst.value_b:.6g})"
        )
    if only:
        parts.append(f"{only} values are in one copy only")
    other = [c for c in ("dataset", "seed", "profile", "n_samples") if set(a[c]) != set(b[c])]
    if other:
        parts.append("they disagree on " + ", ".join(other))
    return "; ".join(parts) or "their rows differ"


def merge_results(folders: Sequence[Path], warn: Callable[[str], None] = LOG.warning) -> Merged:
    """Every run of ``folders``, merged by run id (see the module docstring)."""
    frames, sources = [], []
    seen: set[Path] = set()
    for folder in folders:
        if folder.resolve() in seen:
            warn(f"{folder} is given twice; read once")
            continue
        seen.add(folder.resolve())
        df, left_out = load_for(folder, "the site", "give results folders (each with runs/*/rows.csv)", warn)
        sources.append((folder, df.run_id.nunique(), len(df), left_out))
        frames.append(df.assign(_source=len(sources) - 1))
    rows = pd.concat(frames, ignore_index=True)
    merged = Merged(rows=rows, folder={}, sources=sources)
    keep = []
    for run_id, g in rows.groupby("run_id", sort=True):
        copies = {s: c.drop(columns="_source") for s, c in g.groupby("_source", sort=True)}
        first_source, first = next(iter(copies.items()))
        prints = {s: _fingerprint(c) for s, c in copies.items()}
        if len(set(prints.values())) > 1:
            others = [s for s in copies if prints[s] != prints[first_source]]
            where = ", ".join(str(sources[s][0]) for s in copies)
            detail = _difference(first, copies[others[0]])
            merged.conflicts.append(("run id", str(run_id), f"different results in {where}: {detail}"))
            continue
        if len(copies) > 1:
            merged.shared.append((str(run_id), [sources[s][0] for s in copies]))
        keep.append(first)
        merged.folder[str(run_id)] = sources[first_source][0]
    if not keep:
        raise UserError("every run is in conflict (different results under one run id); nothing to show")
    merged.rows = pd.concat(keep, ignore_index=True)
    merged.conflicts += signature_conflicts(merged.rows, merged.folder)
    merged.conflicts += superseded(merged.rows)
    return merged


def signature_conflicts(rows: pd.DataFrame, folder: dict[str, Path]) -> list[tuple[str, str, str]]:
    """Every metric with more than one signature in a dataset and profile: kept in separate columns, and
    listed with the runs (and folders) behind each signature."""
    out = []
    values = rows[rows.metric != "diverged_at_step"]
    for (dataset, profile, metric), g in values.groupby(["dataset", "profile", "metric"], sort=True):
        sigs = sorted(g.signature.unique())
        if len(sigs) < 2:
            continue
        parts = []
        for i, sig in enumerate(sigs, 1):
            runs = sorted(g[g.signature == sig].run_id.unique())
            places = sorted({str(folder[r]) for r in runs})
            parts.append(f"[{i}] {sig}: {len(runs)} runs in {', '.join(places)}")
        what = f"{dataset} ({profile}) {metric}"
        out.append(("signatures", what, "shown as separate columns, never averaged: " + "; ".join(parts)))
    return out


def superseded(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The same model and seed in several runs (different run ids: other settings, device or version) under
    the same signatures: the latest is used, as the report does; listed so that nothing is dropped unseen."""
    out = []
    runs = rows[rows.model != ORACLE_MODEL].drop_duplicates("run_id")
    for (dataset, profile, model, seed), g in runs.groupby(["dataset", "profile", "model", "seed"], sort=True):
        if len(g) < 2:
            continue
        latest = g.sort_values("timestamp").run_id.iloc[-1]
        what = f"{dataset} ({profile}) {model} seed {seed}"
        detail = f"{len(g)} runs ({', '.join(sorted(g.run_id))}); where their signatures agree, {latest} is used"
        out.append(("same seed", what, detail))
    return out


# --- pages ------------------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """A file-name-safe form of a label; a label that needed changes gets a short hash, so two never meet."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "x"
    return safe if safe == text else f"{safe}-{zlib.crc32(text.encode('utf-8')):08x}"


def board_page(dataset: str, profile: str) -> str:
    return f"{slug(dataset)}-{slug(profile)}.html"


def model_page(dataset: str, profile: str, model: str) -> str:
    return f"{slug(dataset)}-{slug(profile)}-{slug(model)}.html"


@dataclass
class _Site:
    """What every page of one site is built from."""

    merged: Merged
    out: Path  # the temporary folder the site is built in
    cells: pd.DataFrame
    verdicts: pd.DataFrame
    pages: list[Path] = field(default_factory=list)

    def figure(self, name: str) -> Path:
        return self.out / FIGURES / name

    def write(self, name: str, title: str, blocks: list[Block], nav: list[tuple[str, str]]) -> None:
        def src(path: Path) -> str:
            return path.relative_to(self.out).as_posix()

        page = self.out / name
        atomic_write_text(page, to_html(blocks, title=title, image_src=src, nav=nav))
        self.pages.append(page)


NAV = [("index", "index.html"), ("conflicts", "conflicts.html"), ("signatures", "legend.html")]


def _models(cells: pd.DataFrame) -> list[str]:
    return sorted(set(cells.model) - {ORACLE_MODEL}, key=lambda m: (m != BASELINE, m))


def _index(site: _Site) -> None:
    m = site.merged
    groups = site.cells.groupby(["dataset", "profile"], sort=True)
    blocks: list[Block] = [
        ("h1", "langgan-bench leaderboard"),
        (
            "p",
            f"Merged from {len(m.sources)} results folders: {m.rows.run_id.nunique()} runs, {len(m.rows)} result "
            "rows. Every figure is the mean over seeds ± the half-width of a 95% Student-t interval. Runs found "
            "in several folders count once; runs whose copies disagree are left out and listed under conflicts.",
        ),
        ("h2", "Datasets and profiles"),
        ("links", [(f"{d} — profile {p}", board_page(str(d), str(p))) for (d, p), _ in groups]),
    ]
    rows = []
    for (d, p), g in groups:
        runs = m.rows[(m.rows.dataset == d) & (m.rows.profile == p) & (m.rows.model != ORACLE_MODEL)]
        rows.append([d, p, ", ".join(_models(g)), str(runs.run_id.nunique()), str(runs.seed.nunique())])
    blocks.append(("table", (["dataset", "profile", "models", "runs", "seeds"], rows)))
    blocks += verdict_blocks(site.verdicts)
    kinds = pd.Series([k for k, _, _ in m.conflicts], dtype=object).value_counts()
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items()) if len(kinds) else "none"
    blocks += [
        ("h2", "Conflicts"),
        ("p", f"Conflicts: {summary}."),
        ("links", [("the conflicts, one by one", "conflicts.html")]),
        ("h2", "Results folders"),
        (
            "table",
            (
                ["folder", "runs", "rows", "rows files left out"],
                [[str(f), str(r), str(n), str(s)] for f, r, n, s in m.sources],
            ),
        ),
    ]
    site.write("index.html", "langgan-bench leaderboard", blocks, NAV)


def _board(site: _Site, dataset: str, profile: str, group: pd.DataFrame) -> None:
    m = site.merged
    sub = m.rows[(m.rows.dataset == dataset) & (m.rows.profile == profile)]
    models = _models(group)
    base = f"{slug(dataset)}-{slug(profile)}"
    blocks: list[Block] = [
        ("h1", f"{dataset} — profile {profile}"),
        ("p", "A page per model: its verdicts, its curves against MLE's, its training curves and samples."),
        ("links", [(mod, model_page(dataset, profile, mod)) for mod in models]),
    ]
    blocks += verdict_blocks(site.verdicts[(site.verdicts.dataset == dataset) & (site.verdicts.profile == profile)])
    blocks += leaderboard_blocks(group)
    figs, _ = figure_blocks(group, dataset, profile, site.out / FIGURES, prefix=base)
    blocks += figs
    run_ids = sorted(sub[sub.model != ORACLE_MODEL].run_id.unique())
    figs, _ = training_blocks(m.folder, run_ids, f"{dataset} ({profile}): training curves",
                              site.figure(f"{base}-training.png"))  # fmt: skip
    blocks += figs
    blocks += sweep_blocks(group)
    blocks += signature_blocks(group)
    site.write(board_page(dataset, profile), f"{dataset} ({profile})", blocks, NAV)
    for model in models:
        _model(site, dataset, profile, model, group, sub)


def _model(site: _Site, dataset: str, profile: str, model: str, group: pd.DataFrame, sub: pd.DataFrame) -> None:
    m = site.merged
    base = f"{slug(dataset)}-{slug(profile)}-{slug(model)}"
    nav = [*NAV, (f"{dataset} ({profile})", board_page(dataset, profile))]
    blocks: list[Block] = [("h1", f"{model} on {dataset} — profile {profile}")]
    mine = site.verdicts[
        (site.verdicts.dataset == dataset) & (site.verdicts.profile == profile) & (site.verdicts.gan == model)
    ]
    if model == BASELINE:
        blocks.append(("p", "MLE is the baseline: every GAN is compared with its frontier (see the verdicts)."))
    elif mine.empty:
        blocks.append(("p", f"No verdict: no {BASELINE} run on {dataset} with profile {profile} to compare with."))
    else:  # the table only: the board page explains how to read it
        blocks += [("h3", "Verdicts against MLE's frontier"), *verdict_blocks(mine)[2:]]
    against = group[group.model.isin({model, BASELINE, ORACLE_MODEL})]
    blocks.append(("h3", "Quality and diversity against MLE" if model != BASELINE else "Quality and diversity"))
    figs, _ = figure_blocks(against, dataset, profile, site.out / FIGURES, prefix=base)
    blocks += figs
    runs = sub[sub.model == model]
    run_ids = sorted(runs.run_id.unique())
    figs, _ = training_blocks(m.folder, run_ids, f"{model} on {dataset} ({profile}): training curves",
                              site.figure(f"{base}-training.png"))  # fmt: skip
    blocks += figs
    blocks += sweep_blocks(group[group.model == model])
    blocks += sample_blocks(runs, m.folder)
    rows = []
    for run_id, g in runs.groupby("run_id", sort=True):
        record = run_record(m.folder[str(run_id)], str(run_id))
        seconds = wall_seconds(record)
        rows.append(
            [
                str(run_id),
                str(int(g.seed.iloc[0])),
                str(record.get("status", "")),
                str(record.get("device", "")),
                "" if seconds is None else f"{seconds:.0f}",
                str(m.folder[str(run_id)]),
            ]
        )
    blocks += [("h3", "Runs"), ("table", (["run", "seed", "status", "device", "wall seconds", "results folder"], rows))]
    cols = columns(group[group.model == model])
    if cols:
        blocks += [("h3", "Signatures"), ("table", (["column", "signature"], [[lab, sig] for lab, _, sig in cols]))]
    site.write(model_page(dataset, profile, model), f"{model} on {dataset} ({profile})", blocks, nav)


def _conflicts(site: _Site) -> None:
    m = site.merged
    blocks: list[Block] = [
        ("h1", "Conflicts"),
        (
            "p",
            "Nothing listed here is mixed with anything else. 'run id': copies of one run that disagree, left "
            "out of every table until one copy is removed. 'signatures': a metric computed under different "
            "settings in one dataset and profile, shown in separate columns. 'same seed': one model and seed "
            "in several runs (other settings, device or version); as in the report the latest is used where "
            "their signatures agree.",
        ),
    ]
    if m.conflicts:
        blocks.append(("table", (["kind", "what", "detail"], [list(c) for c in m.conflicts])))
    else:
        blocks.append(("p", "No conflict: every run id has one result and every metric one signature."))
    if m.shared:
        rows = [[run_id, ", ".join(map(str, where))] for run_id, where in m.shared]
        blocks += [("h2", "Runs found in several folders (identical, counted once)"),
                   ("table", (["run", "folders"], rows))]  # fmt: skip
    site.write("conflicts.html", "conflicts", blocks, NAV)


def _legend(site: _Site) -> None:
    blocks: list[Block] = [
        ("h1", "Signatures and metrics"),
        (
            "p",
            "Every number carries the signature of the settings that produced it; numbers under different "
            "signatures never share a column.",
        ),
        *signature_blocks(site.cells),
        *metric_blocks(site.cells),
    ]
    site.write("legend.html", "signatures", blocks, NAV)


# --- writing the site whole ------------------------------------------------------------------------------------


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"site folder {out} is a file; give --out a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"refusing to replace {out}: it is not empty and not a site this command wrote (no {MARKER})")


def build_site(folders: Sequence[Path], out: Path, warn: Callable[[str], None] = LOG.warning) -> tuple[Path, Merged]:
    """Merge ``folders`` and write the site into ``out`` (whole, or not at all); returns its index and the
    merge (for the conflicts)."""
    if not folders:
        raise UserError("name at least one results folder")
    _check_out(out)
    merged = merge_results(folders, warn)
    ensure_writable(out.parent, "site folder's parent")
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        with writing(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / FIGURES).mkdir(parents=True)
        seeds = per_seed(merged.rows)
        site = _Site(merged, tmp, summarize(merged.rows), verdicts(seeds)[0])
        _index(site)
        for (dataset, profile), group in site.cells.groupby(["dataset", "profile"], sort=True):
            _board(site, str(dataset), str(profile), group)
        _conflicts(site)
        _legend(site)
        atomic_write_text(tmp / MARKER, "a site written by langgan-bench site; replaced whole by the next one\n")
        with writing(out):
            if out.exists():
                os.replace(out, old)
            try:
                os.replace(tmp, out)
            except OSError:
                if old.exists():
                    os.replace(old, out)  # the previous site back in place
                raise
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:  # not a machine fault (those are MachineFault already): still one line
        if is_fault(err):
            raise MachineFault.of(getattr(err, "filename", None) or out, err) from None
        raise UserError(f"cannot write the site into {out}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "index.html", merged


def conflict_lines(merged: Merged) -> list[str]:
    """One line per conflict, for the terminal."""
    return [f"{kind}: {what}: {detail}" for kind, what, detail in merged.conflicts]
