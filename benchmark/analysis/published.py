"""Published figures shown beside ours (never merged into our tables).

``published.csv`` in this package holds figures from papers and repositories whose settings match one of our
datasets: dataset, model (our name), metric (our name), temperature, value, settings (what produced it and
what may still differ from us) and source (paper and table, or repository, file and commit). Each was read
from its source by hand; the source column says where to check it.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import pandas as pd

PUBLISHED_FILE = "published.csv"


@cache
def load_published() -> pd.DataFrame:
    """The package's table of published figures."""
    with resources.files("langgan_bench.analysis").joinpath(PUBLISHED_FILE).open(encoding="utf-8") as f:
        return pd.read_csv(f, comment="#", dtype={"value": float, "temperature": float})


def published_beside(cells: pd.DataFrame) -> pd.DataFrame:
    """Published figures for the datasets in ``cells`` (see stats.summarize), each with our figure at the
    same model, metric and temperature (mean ± 95% half-width, n seeds, profile) where we have one."""
    pub = load_published()
    pub = pub[pub.dataset.isin(set(cells.dataset))]
    rows = []
    for r in pub.itertuples(index=False):
        ours = cells[
            (cells.dataset == r.dataset)
            & (cells.model == r.model)
            & (cells.metric == r.metric)
            & (cells.temperature == r.temperature)
        ]
        text = "; ".join(
            f"{c['mean']:.4f}"
            + ("" if math.isnan(c["half_width"]) else f" ± {c['half_width']:.4f}")
            + f" (n={int(c['n'])}, {c['profile']})"
            for _, c in ours.iterrows()
        )
        rows.append(
            {
                "dataset": r.dataset,
                "model": r.model,
                "metric": r.metric,
                "temperature": r.temperature,
                "published": r.value,
                "ours": text or "not run",
                "settings": r.settings,
                "source": r.source,
            }
        )
    columns = ["dataset", "model", "metric", "temperature", "published", "ours", "settings", "source"]
    return pd.DataFrame(rows, columns=columns)
